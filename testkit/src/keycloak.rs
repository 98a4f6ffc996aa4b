//! What the end-to-end tests need from a real Keycloak 26 with the demo realm
//! (`keycloak/demo-realm.json`): its URL, a check that it is there ([`serial`]), password
//! grants, the admin REST API and the demo app's settings against it ([`figment`]).
//!
//! Shared by every test binary that talks to Keycloak (the `it` binary and the metrics
//! binary, which needs a process of its own for its recorder).

use std::sync::LazyLock;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rocket::figment::Figment;
use rocket::tokio::sync::{Mutex, MutexGuard};
use serde_json::{Value, json};

/// The demo realm's issuer, as Keycloak on its default port names it.
pub const REALM_ISSUER: &str = "http://localhost:8080/realms/demo";

/// The message of every test that needs Keycloak and is `#[ignore]`d by plain `cargo test`.
pub const NEEDS_KEYCLOAK: &str = "needs Keycloak: run scripts/test";

/// Keycloak's base URL (`KEYCLOAK_URL`, default `http://localhost:8080`).
pub fn keycloak_url() -> String {
    std::env::var("KEYCLOAK_URL").unwrap_or_else(|_| "http://localhost:8080".into())
}

static SERIAL: LazyLock<Mutex<()>> = LazyLock::new(|| Mutex::new(()));

/// Takes the realm for one test (they share users, sessions and port 8000, so they run one
/// at a time), after checking Keycloak answers; panics with what to do when it does not.
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
    let form = [
        ("grant_type", "password"),
        ("client_id", client),
        ("client_secret", secret),
        ("username", user),
        ("password", password),
        ("scope", "openid"),
    ];
    let response = token_request("demo", &form, None).await;
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

/// The token endpoint of `realm`.
pub fn token_endpoint(realm: &str) -> String {
    format!("{}/realms/{realm}/protocol/openid-connect/token", keycloak_url())
}

/// POSTs `form` to `realm`'s token endpoint, with a `DPoP` proof header when given; the
/// answer, whatever its status.
pub async fn token_request(
    realm: &str,
    form: &[(&str, &str)],
    dpop_proof: Option<&str>,
) -> reqwest::Response {
    let mut request = http().post(token_endpoint(realm)).form(form);
    if let Some(proof) = dpop_proof {
        request = request.header("DPoP", proof);
    }
    request.send().await.unwrap()
}

/// A token of the bootstrap admin for the admin REST API.
pub async fn admin_token() -> String {
    let user = std::env::var("KEYCLOAK_ADMIN_USERNAME").unwrap_or_else(|_| "admin".into());
    let pass = std::env::var("KEYCLOAK_ADMIN_PASSWORD").unwrap_or_else(|_| "admin".into());
    let form = [
        ("grant_type", "password"),
        ("client_id", "admin-cli"),
        ("username", &user),
        ("password", &pass),
    ];
    let body: Value = token_request("master", &form, None).await.json().await.unwrap();
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
        "acr_levels": ["silver", "gold"],
    });
    for (k, v) in overrides.as_object().unwrap() {
        oidc[k] = v.clone();
    }
    Figment::from(rocket::Config::debug_default())
        .merge(("log_level", "off"))
        // The kit lives in the workspace at testkit/; the templates are the app's.
        .merge(("template_dir", concat!(env!("CARGO_MANIFEST_DIR"), "/../templates")))
        .merge(("oidc", oidc))
}
