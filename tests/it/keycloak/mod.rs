//! End-to-end tests against a real Keycloak 26 with the demo realm (`keycloak/demo-realm.json`).
//!
//! Every test here is `#[ignore = "needs Keycloak: run scripts/test"]`: plain `cargo test`
//! lists them as ignored, and `scripts/test` starts Keycloak and runs them with
//! `--include-ignored`. When they run and Keycloak is not there they fail with that
//! message; they never skip themselves.
//!
//! They share one realm (and, for the browser tests, port 8000), so they run one at a
//! time under [`serial`].

mod api;
mod browser;
mod chromium;
mod dpop;
mod instances;
mod introspection;
mod orgs;
mod realms;
mod step_up;

use rocket::local::asynchronous::Client;
use rocket_keycloak_testkit::browser::RunningApp;
pub use rocket_keycloak_testkit::keycloak::{
    REALM_ISSUER, admin, figment, http, jwt_part, password_grant, serial, user_token,
};
use serde_json::Value;

/// The demo app on port 8000, against the real Keycloak.
pub async fn running_app(overrides: Value) -> RunningApp {
    RunningApp::launch(rocket_keycloak_demo::rocket_with, overrides).await
}

/// The demo app on Rocket's local client, against the real Keycloak.
pub async fn local_app(overrides: Value) -> Client {
    let client =
        Client::tracked(rocket_keycloak_demo::rocket_with(figment(overrides))).await.unwrap();
    assert_eq!(client.get("/ready").dispatch().await.status().code, 200, "app ready");
    client
}
