//! Against real Keycloak: a sign-in, a refresh, an RP-initiated logout, a back-channel logout
//! and a failed callback move `logins_total`, `refresh_total`, `logouts_total` and
//! `sessions_active` by exactly what happened, read back from the app's `GET /metrics`.
//!
//! Its own test binary, because the metrics recorder is process-wide: no other test may move
//! the counters. Like every Keycloak test it is ignored by plain `cargo test` and run by
//! `scripts/test`, and fails with what to do when Keycloak is not there.

use std::time::Duration;

use reqwest::Method;
use rocket::tokio;
use rocket_keycloak_testkit::browser::{APP, Browser, RunningApp, assert_hello, csrf};
use rocket_keycloak_testkit::keycloak::{admin, http, serial};
use rocket_keycloak_testkit::now;
use rocket_keycloak_testkit::prometheus::series;
use serde_json::{Value, json};

/// The counters this test watches, as one comparable line (absent series count as 0).
async fn counters() -> String {
    let text = http().get(format!("{APP}/metrics")).send().await.unwrap().text().await.unwrap();
    let read = |name: &str, labels: &[(&str, &str)]| series(&text, name, labels).unwrap_or(0.0);
    format!(
        "logins ok={} error={}; refresh ok={} invalid_grant={} error={}; logouts rp={} \
         backchannel={}; sessions={}",
        read("rocket_keycloak_logins_total", &[("result", "ok")]),
        read("rocket_keycloak_logins_total", &[("result", "error")]),
        read("rocket_keycloak_refresh_total", &[("result", "ok")]),
        read("rocket_keycloak_refresh_total", &[("result", "invalid_grant")]),
        read("rocket_keycloak_refresh_total", &[("result", "error")]),
        read("rocket_keycloak_logouts_total", &[("kind", "rp")]),
        read("rocket_keycloak_logouts_total", &[("kind", "backchannel")]),
        read("rocket_keycloak_sessions_active", &[]),
    )
}

async fn expires_at(browser: &Browser) -> u64 {
    let me: Value =
        browser.once(Method::GET, &format!("{APP}/me"), &[]).await.json().await.unwrap();
    me["expires_at"].as_u64().unwrap_or_else(|| panic!("/me: {me}"))
}

#[rocket::async_test]
#[ignore = "needs Keycloak: run scripts/test"]
async fn sign_in_refresh_and_logouts_move_the_session_counters() {
    let _realm = serial().await;
    // demo-app-short issues 10-second access tokens; a 2 s leeway refreshes near expiry.
    let settings = json!({
        "client_id": "demo-app-short", "client_secret": "demo-app-short-secret", "leeway": 2,
        "metrics": "on",
    });
    let app = RunningApp::launch(rocket_keycloak_demo::rocket_with, settings).await;
    assert_eq!(
        counters().await,
        "logins ok=0 error=0; refresh ok=0 invalid_grant=0 error=0; logouts rp=0 backchannel=0; \
         sessions=0"
    );

    // A sign-in through Keycloak's form.
    let browser = Browser::new();
    let hello = browser.sign_in("/hello", "alice", "alice-password").await;
    assert_hello(&hello, "Alice Liddell");
    assert_eq!(
        counters().await,
        "logins ok=1 error=0; refresh ok=0 invalid_grant=0 error=0; logouts rp=0 backchannel=0; \
         sessions=1"
    );

    // Past the access token's expiry, the next page refreshes it at Keycloak.
    let first = expires_at(&browser).await;
    tokio::time::sleep(Duration::from_secs(first.saturating_sub(now()) + 1)).await;
    assert_hello(&browser.go(Method::GET, &format!("{APP}/hello"), &[]).await, "Alice Liddell");
    assert!(expires_at(&browser).await > first, "a new access token");
    assert_eq!(
        counters().await,
        "logins ok=1 error=0; refresh ok=1 invalid_grant=0 error=0; logouts rp=0 backchannel=0; \
         sessions=1"
    );

    // RP-initiated logout.
    let csrf = csrf(&hello.body);
    let back = browser.go(Method::POST, &format!("{APP}/logout"), &[("csrf", &csrf)]).await;
    assert!(back.body.contains("You are not signed in"), "{}", back.body);
    assert_eq!(
        counters().await,
        "logins ok=1 error=0; refresh ok=1 invalid_grant=0 error=0; logouts rp=1 backchannel=0; \
         sessions=0"
    );

    // A callback with a state the app never issued: a failed sign-in, no session.
    let bogus =
        browser.once(Method::GET, &format!("{APP}/authorize?state=bogus&code=x"), &[]).await;
    assert_eq!(bogus.status(), 400);

    // A second sign-in, ended by an admin in Keycloak: the back-channel logout reaches the app.
    let browser = Browser::new();
    assert_hello(&browser.sign_in("/hello", "alice", "alice-password").await, "Alice Liddell");
    let users: Value =
        admin(Method::GET, "/users?username=alice&exact=true", None).await.json().await.unwrap();
    let id = users[0]["id"].as_str().unwrap();
    assert!(admin(Method::POST, &format!("/users/{id}/logout"), None).await.status().is_success());
    let expected = "logins ok=2 error=1; refresh ok=1 invalid_grant=0 error=0; logouts rp=1 \
                    backchannel=1; sessions=0";
    // Keycloak posts the logout token before it answers the admin; allow a moment anyway.
    let mut seen = counters().await;
    for _ in 0..20 {
        if seen == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        seen = counters().await;
    }
    assert_eq!(seen, expected);
    app.stop().await;
}
