//! The integration test binary: the demo app on Rocket's local client, against the
//! in-process identity provider of the test kit (`rocket_keycloak_testkit::Idp`).
//!
//! Tests that need a real Keycloak live in `keycloak`; they are `#[ignore]`d with the reason
//! and run by `scripts/test`, which starts Keycloak first.

mod adversarial;
mod api;
mod browser;
mod conformance;
mod csrf;
mod deploy;
mod dpop;
mod faults;
mod flow;
mod introspection;
mod keycloak;
mod keys;
mod orgs;
mod pages;
mod realms;
mod redis;
mod sessions;
mod step_up;

use std::sync::Arc;
use std::time::Duration;

use rocket::http::Status;
use rocket::local::asynchronous::{Client, LocalResponse};
use rocket_keycloak_testkit::{Idp, TestKey};
pub use rocket_keycloak_testkit::{figment_for, get_with_token};
use serde_json::{Value, json};

/// The demo app against `idp`, with config overrides.
pub async fn spawn_app_with(idp: &Idp, overrides: Value) -> Client {
    Client::tracked(rocket_keycloak_demo::rocket_with(figment_for(idp, overrides)))
        .await
        .expect("app launches")
}

/// The demo app against `idp`.
pub async fn spawn_app(idp: &Idp) -> Client {
    spawn_app_with(idp, json!({})).await
}

/// An IdP with the standard key `rsa1` and an app against it.
pub async fn idp_and_app() -> (Arc<Idp>, TestKey, Client) {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let app = spawn_app(&idp).await;
    (idp, key, app)
}

/// POSTs `logout_token` to `/backchannel-logout`, as Keycloak does.
pub async fn backchannel(app: &Client, token: &str) -> Status {
    app.post("/backchannel-logout")
        .header(rocket::http::ContentType::Form)
        .body(format!("logout_token={token}"))
        .dispatch()
        .await
        .status()
}

/// The parameter every challenge of the test app ends with: where its protected-resource
/// metadata is (RFC 9728 §5.1).
pub const RESOURCE_METADATA: &str =
    ", resource_metadata=\"http://localhost:8000/.well-known/oauth-protected-resource\"";

/// The `WWW-Authenticate` header of a response, without its last parameter,
/// [`RESOURCE_METADATA`], which it must have: every test that reads a challenge checks that
/// the challenge names the metadata, whatever kind it is.
pub fn www_authenticate(response: &LocalResponse<'_>) -> String {
    let header = response.headers().get_one("WWW-Authenticate").unwrap_or_default();
    if header.is_empty() {
        return String::new();
    }
    let rest = header.strip_suffix(RESOURCE_METADATA);
    rest.unwrap_or_else(|| panic!("the challenge names no resource metadata: {header}")).to_owned()
}

/// Asserts a 401 `invalid_token` with a JSON body.
pub async fn assert_invalid_token(response: LocalResponse<'_>) {
    assert_eq!(response.status(), Status::Unauthorized);
    let header = www_authenticate(&response);
    assert!(header.starts_with("Bearer realm=\""), "{header}");
    assert!(header.contains(", error=\"invalid_token\", error_description=\""), "{header}");
    let body: Value = response.into_json().await.expect("json body");
    assert_eq!(body["error"], "invalid_token");
    assert!(body["error_description"].as_str().is_some_and(|d| !d.is_empty()));
}

/// The query parameters of a URL.
pub fn query(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url).unwrap().query_pairs().into_owned().collect()
}

/// Polls `cond` every 50 ms for at most `limit`.
pub async fn eventually<F, Fut>(limit: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if cond().await {
            return true;
        }
        rocket::tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cond().await
}

/// Polls every future concurrently on the current task (a tiny `join_all`).
pub async fn join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if outputs[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => outputs[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    outputs.into_iter().map(|o| o.expect("ready")).collect()
}
