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
mod instances;

use std::sync::LazyLock;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rocket::figment::Figment;
use rocket::local::asynchronous::Client;
use rocket::tokio::sync::{Mutex, MutexGuard};
use serde_json::{Value, json};

pub const REALM_ISSUER: &str = "http://localhost:8080/realms/demo";

/// Keycloak's base URL (`KEYCLOAK_URL`, default `http://localhost:8080`).
pub fn keycloak_url() -> String {
    std::env::var("KEYCLOAK_URL").unwrap_or_else(|_| "http://localhost:8080".into())
}

static SERIAL: LazyLock<Mutex<()>> = LazyLock::new(|| Mutex::new(()));

/// Takes the realm for one test, after checking Keycloak answers.
pub async fn serial() -> MutexGuard<'static, ()> {
    let guard = SERIAL.lock().await;
    let url = format!("{}/realms/demo/.well-known/openid-configuration", keycloak_url());
    let answer = http().get(&url).send().await;
    match answer {
        Ok(r) if r.status().is_success() => guard,
        other => panic!(
            "needs Keycloak with the demo realm at {url} ({other:?}): run scripts/test, or \
             scripts/keycloak start before cargo test -- --include-ignored"
        ),
    }
}

/// A plain HTTP client (no cookies, no redirects).
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// The token endpoint's JSON answer for a password grant.
pub async fn password_grant(client: &str, secret: &str, user: &str, password: &str) -> Value {
    let url = format!("{}/realms/demo/protocol/openid-connect/token", keycloak_url());
    let response = http()
        .post(url)
        .form(&[
            ("grant_type", "password"),
            ("client_id", client),
            ("client_secret", secret),
            ("username", user),
            ("password", password),
            ("scope", "openid"),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "password grant for {user} via {client}: {status} {body}");
    body
}

/// An access token for a demo user through the `demo-cli` client.
pub async fn user_token(user: &str, password: &str) -> String {
    let body = password_grant("demo-cli", "demo-cli-secret", user, password).await;
    body["access_token"].as_str().unwrap().to_owned()
}

/// A token of the bootstrap admin for the admin REST API.
pub async fn admin_token() -> String {
    let url = format!("{}/realms/master/protocol/openid-connect/token", keycloak_url());
    let user = std::env::var("KEYCLOAK_ADMIN_USERNAME").unwrap_or_else(|_| "admin".into());
    let pass = std::env::var("KEYCLOAK_ADMIN_PASSWORD").unwrap_or_else(|_| "admin".into());
    let body: Value = http()
        .post(url)
        .form(&[
            ("grant_type", "password"),
            ("client_id", "admin-cli"),
            ("username", &user),
            ("password", &pass),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["access_token"].as_str().unwrap_or_else(|| panic!("admin token: {body}")).to_owned()
}

/// Calls the admin REST API under `/admin/realms/demo`.
pub async fn admin(method: reqwest::Method, path: &str, body: Option<Value>) -> reqwest::Response {
    let url = format!("{}/admin/realms/demo{path}", keycloak_url());
    let mut request = http().request(method, url).bearer_auth(admin_token().await);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

/// The decoded header or payload (part 0 or 1) of a JWT.
pub fn jwt_part(token: &str, part: usize) -> Value {
    let segment = token.split('.').nth(part).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
}

/// The app's settings against the local Keycloak, as in Rocket.toml.
pub fn figment(overrides: Value) -> Figment {
    let mut oidc = json!({
        "issuer": REALM_ISSUER,
        "discovery_url": format!("{}/realms/demo/.well-known/openid-configuration", keycloak_url()),
        "client_id": "demo-app",
        "client_secret": "demo-app-secret",
        "app_url": "http://localhost:8000",
    });
    for (k, v) in overrides.as_object().unwrap() {
        oidc[k] = v.clone();
    }
    Figment::from(rocket::Config::debug_default())
        .merge(("log_level", "off"))
        .merge(("template_dir", concat!(env!("CARGO_MANIFEST_DIR"), "/templates")))
        .merge(("oidc", oidc))
}

/// The demo app on Rocket's local client, against the real Keycloak.
pub async fn local_app(overrides: Value) -> Client {
    let client = Client::tracked(rocket_keycloak::rocket_with(figment(overrides))).await.unwrap();
    assert_eq!(client.get("/ready").dispatch().await.status().code, 200, "app ready");
    client
}
