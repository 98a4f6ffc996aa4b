//! Launches the demo app; everything else lives in its library (`src/lib.rs`) and in
//! `rocket_keycloak`.

#[rocket::launch]
fn rocket() -> _ {
    rocket_keycloak_demo::rocket()
}
