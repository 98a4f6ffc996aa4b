//! Launches the demo app; everything else lives in the library.

#[rocket::launch]
fn rocket() -> _ {
    rocket_keycloak::rocket()
}
