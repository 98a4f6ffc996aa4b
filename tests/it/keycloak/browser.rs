//! The browser half against real Keycloak, driven by the kit's [`Browser`] (an HTTP client
//! that keeps cookies and fills Keycloak's real HTML forms): sign-in, registration, OTP,
//! refresh, logout (both kinds) and the callback's defences. The app runs for real on port
//! 8000 because Keycloak's redirect URI and back-channel logout URL point there.

use std::time::Duration;

use reqwest::Method;
use rocket::tokio;
use rocket_keycloak_testkit::browser::{
    APP, Browser, OTTO_TOTP_SECRET, assert_hello, csrf, form_action, next_totp, wrong_totp,
};
use rocket_keycloak_testkit::now;
use serde_json::{Value, json};

use super::{admin, running_app, serial};

async fn me(browser: &Browser) -> Value {
    let page = browser.go(Method::GET, &format!("{APP}/me"), &[]).await;
    serde_json::from_str(&page.body)
        .unwrap_or_else(|_| panic!("/me: {} {}", page.status, page.body))
}

#[rocket::async_test]
#[ignore = "needs Keycloak: run scripts/test"]
async fn demo_user_signs_in_and_hello_shows_the_name() {
    let _realm = serial().await;
    let app = running_app(json!({})).await;
    let browser = Browser::new();
    let page = browser.sign_in("/hello", "alice", "alice-password").await;
    assert_hello(&page, "Alice Liddell");
    assert!(page.body.contains("alice@example.com"));
    let home = browser.go(Method::GET, &format!("{APP}/"), &[]).await;
    assert!(home.body.contains("Log out") && home.body.contains("Alice"), "{}", home.body);
    // The session also authenticates the JSON API.
    let me: Value =
        serde_json::from_str(&browser.go(Method::GET, &format!("{APP}/me"), &[]).await.body)
            .unwrap();
    assert_eq!(me["preferred_username"], "alice");
    app.stop().await;
}

#[rocket::async_test]
#[ignore = "needs Keycloak: run scripts/test"]
async fn new_user_registers_through_keycloak_and_lands_on_hello() {
    let _realm = serial().await;
    let app = running_app(json!({})).await;
    let browser = Browser::new();
    let login = browser.go(Method::GET, &format!("{APP}/login?next=/hello"), &[]).await;
    let link = login
        .body
        .split("href=\"")
        .find(|s| s.contains("login-actions/registration"))
        .expect("register link");
    let link = link.split('"').next().unwrap().replace("&amp;", "&");
    let link = if link.starts_with("http") { link } else { format!("http://localhost:8080{link}") };
    let form = browser.go(Method::GET, &link, &[]).await;
    let action = form_action(&form.body, "kc-register-form");
    let username = format!("newbie{}", now());
    let email = format!("{username}@example.com");
    let page = browser
        .go(
            Method::POST,
            &action,
            &[
                ("firstName", "Newbie"),
                ("lastName", "Tester"),
                ("email", &email),
                ("username", &username),
                ("password", "newbie-password-1"),
                ("password-confirm", "newbie-password-1"),
            ],
        )
        .await;
    assert_hello(&page, "Newbie Tester");
    assert!(page.body.contains(&email));
    app.stop().await;
}

#[rocket::async_test]
#[ignore = "needs Keycloak: run scripts/test"]
async fn otp_user_passes_the_second_factor_and_a_wrong_code_is_refused() {
    let _realm = serial().await;
    let app = running_app(json!({})).await;
    // A wrong code first: Keycloak shows the OTP form again, no session.
    let browser = Browser::new();
    let otp_page = browser.sign_in("/hello", "otto", "otto-password").await;
    let action = form_action(&otp_page.body, "kc-otp-login-form");
    let wrong = wrong_totp(OTTO_TOTP_SECRET);
    let refused = browser.go(Method::POST, &action, &[("otp", &wrong)]).await;
    assert!(
        refused.url.starts_with("http://localhost:8080/"),
        "stays on Keycloak: {}",
        refused.url
    );
    assert!(refused.body.contains("kc-otp-login-form"), "OTP form again");
    let hello = browser.go(Method::GET, &format!("{APP}/hello"), &[]).await;
    assert!(!hello.url.ends_with("/hello") || hello.status != 200, "no session after a wrong code");

    // The right code in a fresh browser (a later code if another process spent this one).
    let browser = Browser::new();
    let mut page = None;
    for _ in 0..3 {
        let otp_page = browser.sign_in("/hello", "otto", "otto-password").await;
        let action = form_action(&otp_page.body, "kc-otp-login-form");
        let code = next_totp(OTTO_TOTP_SECRET).await;
        let answer = browser.go(Method::POST, &action, &[("otp", &code)]).await;
        if answer.url.ends_with("/hello") {
            page = Some(answer);
            break;
        }
    }
    let page = page.expect("a valid TOTP code signs otto in");
    assert_hello(&page, "otto");
    app.stop().await;
}

#[rocket::async_test]
#[ignore = "needs Keycloak: run scripts/test"]
async fn expired_access_token_is_refreshed_transparently() {
    let _realm = serial().await;
    // demo-app-short issues 10-second access tokens; a 2 s leeway refreshes near expiry.
    let app = running_app(json!({
        "client_id": "demo-app-short", "client_secret": "demo-app-short-secret", "leeway": 2
    }))
    .await;
    let browser = Browser::new();
    assert_hello(&browser.sign_in("/hello", "alice", "alice-password").await, "Alice Liddell");
    let first = me(&browser).await["expires_at"].as_u64().unwrap();
    assert!(first <= now() + 11, "short-lived token");
    tokio::time::sleep(Duration::from_secs(first.saturating_sub(now()) + 1)).await;
    let page = browser.go(Method::GET, &format!("{APP}/hello"), &[]).await;
    assert_hello(&page, "Alice Liddell");
    let second = me(&browser).await["expires_at"].as_u64().unwrap();
    assert!(second > first, "a new access token: {first} -> {second}");
    app.stop().await;
}

#[rocket::async_test]
#[ignore = "needs Keycloak: run scripts/test"]
async fn logout_ends_the_app_and_keycloak_sessions() {
    let _realm = serial().await;
    let app = running_app(json!({})).await;
    let browser = Browser::new();
    let hello = browser.sign_in("/hello", "alice", "alice-password").await;
    assert_hello(&hello, "Alice Liddell");
    let csrf = csrf(&hello.body);
    // Without the CSRF token: refused, still signed in.
    let refused = browser.once(Method::POST, &format!("{APP}/logout"), &[("csrf", "forged")]).await;
    assert_eq!(refused.status(), 403);
    let back = browser.go(Method::POST, &format!("{APP}/logout"), &[("csrf", &csrf)]).await;
    assert_eq!(back.url, format!("{APP}/"), "Keycloak sent the browser back");
    assert!(back.body.contains("You are not signed in"), "{}", back.body);
    // Keycloak's session is gone too: /login shows its form again.
    let login = browser.go(Method::GET, &format!("{APP}/login"), &[]).await;
    assert!(login.body.contains("kc-form-login"), "Keycloak asks again: {}", login.url);
    app.stop().await;
}

#[rocket::async_test]
#[ignore = "needs Keycloak: run scripts/test"]
async fn admin_sign_out_reaches_the_app_by_back_channel() {
    let _realm = serial().await;
    let app = running_app(json!({})).await;
    let browser = Browser::new();
    assert_hello(&browser.sign_in("/hello", "alice", "alice-password").await, "Alice Liddell");
    let users: Value =
        admin(Method::GET, "/users?username=alice&exact=true", None).await.json().await.unwrap();
    let id = users[0]["id"].as_str().unwrap();
    let response = admin(Method::POST, &format!("/users/{id}/logout"), None).await;
    assert!(response.status().is_success());
    let (location, _) =
        browser.go_until(Method::GET, &format!("{APP}/hello"), &[], |l| l.contains("/login")).await;
    assert!(location.is_some_and(|l| l.contains("/login?next=")), "session ended by Keycloak");
    app.stop().await;
}

#[rocket::async_test]
#[ignore = "needs Keycloak: run scripts/test"]
async fn callback_defences_state_replay_and_open_redirect() {
    let _realm = serial().await;
    let app = running_app(json!({})).await;
    let browser = Browser::new();
    // Unknown state: 400, no session.
    let bogus =
        browser.once(Method::GET, &format!("{APP}/authorize?state=bogus&code=x"), &[]).await;
    assert_eq!(bogus.status(), 400);
    // A real callback, stopped before the app sees it.
    let callback = browser.callback_for("//evil.example/x", "alice", "alice-password").await;
    assert!(callback.contains("iss="), "RFC 9207 iss on the callback: {callback}");
    // A mixed-up issuer on the same callback is refused (this also spends the state).
    let mixed = callback.replace("iss=http", "iss=https");
    assert_eq!(browser.once(Method::GET, &mixed, &[]).await.status(), 400);
    app.stop().await;

    // Fresh attempt: first use works and ignores the foreign `next`; a replay is refused.
    let app = running_app(json!({})).await;
    let browser = Browser::new();
    let callback = browser.callback_for("https://evil.example/", "alice", "alice-password").await;
    let first = browser.once(Method::GET, &callback, &[]).await;
    assert_eq!(first.status(), 303);
    assert_eq!(first.headers()["location"], "/hello", "foreign next ignored");
    let replay = browser.once(Method::GET, &callback, &[]).await;
    assert_eq!(replay.status(), 400, "replayed callback refused");

    // A forged session cookie is no session.
    let forged = super::http()
        .get(format!("{APP}/hello"))
        .header("Cookie", "kc_session=forged-value")
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 303);
    assert!(forged.headers()["location"].to_str().unwrap().starts_with("/login?next="));
    app.stop().await;
}
