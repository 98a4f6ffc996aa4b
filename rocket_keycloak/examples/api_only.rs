//! An API that takes Keycloak access tokens and nothing else: no templates, no sessions.
//! `OIDC_ISSUER=http://localhost:8080/realms/demo OIDC_CLIENT_ID=demo-app cargo run --example api_only`
use rocket::figment::Figment;
use rocket::{Build, Rocket, get, launch, routes};
use rocket_keycloak::{AuthenticatedUser, OidcFairing};

#[get("/secure-data")]
fn secure_data(user: &AuthenticatedUser) -> String {
    format!("Hello, {}!", user.display_name())
}

/// The app for any configuration (the tests pass their own).
pub fn app(figment: Figment) -> Rocket<Build> {
    rocket::custom(figment)
        .attach(OidcFairing)
        .register("/", rocket_keycloak::catchers())
        .mount("/", routes![secure_data])
}

#[launch]
fn rocket() -> _ {
    app(rocket_keycloak::figment())
}
