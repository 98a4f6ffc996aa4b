//! The browser half against real Keycloak, driven by an HTTP client that keeps cookies and
//! fills Keycloak's real HTML forms: sign-in, registration, OTP, refresh, logout (both
//! kinds) and the callback's defences. The app runs for real on port 8000 because
//! Keycloak's redirect URI and back-channel logout URL point there.

use std::time::Duration;

use hmac::{Hmac, Mac};
use reqwest::Method;
use rocket::tokio;
use rocket_keycloak_testkit::now;
use serde_json::{Value, json};

use super::{admin, figment, serial};

pub const APP: &str = "http://localhost:8000";

/// The demo app listening on 127.0.0.1:8000 until [`RunningApp::stop`].
pub struct RunningApp {
    shutdown: rocket::Shutdown,
    task: tokio::task::JoinHandle<Result<rocket::Rocket<rocket::Ignite>, rocket::Error>>,
}

impl RunningApp {
    pub async fn launch(overrides: Value) -> Self {
        Self::launch_on(8000, figment(overrides)).await
    }

    /// The app with `figment` on 127.0.0.1:`port`, once `/ready` answers.
    pub async fn launch_on(port: u16, figment: rocket::figment::Figment) -> Self {
        let app = format!("http://localhost:{port}");
        let figment = figment
            .merge(("address", "127.0.0.1"))
            .merge(("port", port))
            .merge(("shutdown.ctrlc", false))
            .merge(("shutdown.grace", 1))
            .merge(("shutdown.mitigate", 1));
        let rocket = rocket_keycloak::rocket_with(figment).ignite().await.expect("ignite");
        let shutdown = rocket.shutdown();
        let task = tokio::spawn(rocket.launch());
        let client = reqwest::Client::new();
        for _ in 0..100 {
            if client.get(format!("{app}/ready")).send().await.is_ok_and(|r| r.status() == 200) {
                return Self { shutdown, task };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the app did not become ready on {app}");
    }

    pub async fn stop(self) {
        self.shutdown.notify();
        let _ = self.task.await;
    }
}

/// A cookie-keeping HTTP client that follows redirects itself, so tests can stop anywhere.
pub struct Browser {
    client: reqwest::Client,
    jar: std::sync::Arc<reqwest::cookie::Jar>,
}

/// One page as the browser ended on it.
pub struct Page {
    pub url: String,
    pub status: u16,
    pub body: String,
}

impl Browser {
    pub fn new() -> Self {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        let client = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        Self { client, jar }
    }

    /// The value of the cookie `name` the browser would send to `url`.
    pub fn cookie(&self, url: &str, name: &str) -> Option<String> {
        use reqwest::cookie::CookieStore;
        let header = self.jar.cookies(&url.parse().unwrap())?;
        let header = header.to_str().ok()?.to_owned();
        header.split("; ").find_map(|c| c.strip_prefix(&format!("{name}=")).map(str::to_owned))
    }

    /// One request, no redirect followed; returns the response.
    pub async fn once(
        &self,
        method: Method,
        url: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self.client.request(method.clone(), url).header("Accept", "text/html");
        if method == Method::POST {
            request = request.form(form);
        }
        request.send().await.unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    /// A request and every redirect after it, like a browser.
    pub async fn go(&self, method: Method, url: &str, form: &[(&str, &str)]) -> Page {
        self.go_until(method, url, form, |_| false).await.1
    }

    /// Follows redirects until `stop(location)` is true; returns that location (if any).
    pub async fn go_until(
        &self,
        mut method: Method,
        url: &str,
        form: &[(&str, &str)],
        stop: impl Fn(&str) -> bool,
    ) -> (Option<String>, Page) {
        let mut url = url.to_owned();
        for _ in 0..20 {
            let response = self.once(method.clone(), &url, form).await;
            let status = response.status().as_u16();
            if let Some(location) = response.headers().get("location") {
                let next = response.url().join(location.to_str().unwrap()).unwrap().to_string();
                if stop(&next) {
                    return (Some(next), Page { url, status, body: String::new() });
                }
                url = next;
                method = Method::GET;
                continue;
            }
            let body = response.text().await.unwrap();
            return (None, Page { url, status, body });
        }
        panic!("too many redirects from {url}");
    }

    /// Signs in at Keycloak but stops at its redirect to `/authorize`; returns that URL.
    pub async fn callback_for(&self, next: &str, user: &str, password: &str) -> String {
        let login = self.go(Method::GET, &format!("{APP}/login?next={next}"), &[]).await;
        let action = form_action(&login.body, "kc-form-login");
        let form = [("username", user), ("password", password), ("credentialId", "")];
        let (callback, page) = self
            .go_until(Method::POST, &action, &form, |l| l.starts_with(&format!("{APP}/authorize")))
            .await;
        callback.unwrap_or_else(|| panic!("Keycloak did not redirect to /authorize: {}", page.url))
    }

    /// Opens `/login?next=...` and submits Keycloak's login form.
    pub async fn sign_in(&self, next: &str, user: &str, password: &str) -> Page {
        let login = self.go(Method::GET, &format!("{APP}/login?next={next}"), &[]).await;
        assert!(login.url.starts_with("http://localhost:8080/"), "on Keycloak: {}", login.url);
        let action = form_action(&login.body, "kc-form-login");
        self.go(
            Method::POST,
            &action,
            &[("username", user), ("password", password), ("credentialId", "")],
        )
        .await
    }
}

/// The `action` of the form with id `form_id` (HTML-unescaped).
pub fn form_action(html: &str, form_id: &str) -> String {
    let start = html
        .find(&format!("id=\"{form_id}\""))
        .unwrap_or_else(|| panic!("no form {form_id} in page: {}", &html[..html.len().min(3000)]));
    let form_start = html[..start].rfind("<form").unwrap();
    let tag_end = start + html[start..].find('>').unwrap();
    let tag = &html[form_start..tag_end];
    let action = tag.split("action=\"").nth(1).unwrap().split('"').next().unwrap();
    action.replace("&amp;", "&")
}

/// The value of the hidden `csrf` input of the app's logout form.
pub fn csrf(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .expect("csrf field")
        .split('"')
        .next()
        .unwrap()
        .into()
}

/// The current RFC 6238 code (HMAC-SHA1, 6 digits, 30 s) for a raw secret.
pub fn totp(secret: &[u8], unix_time: u64) -> String {
    let counter = (unix_time / 30).to_be_bytes();
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret).unwrap();
    mac.update(&counter);
    let hash = mac.finalize().into_bytes();
    let offset = (hash[19] & 0x0f) as usize;
    let code = u32::from_be_bytes([
        hash[offset] & 0x7f,
        hash[offset + 1],
        hash[offset + 2],
        hash[offset + 3],
    ]);
    format!("{:06}", code % 1_000_000)
}

/// The raw TOTP secret of the demo user `otto` (keycloak/demo-realm.json).
pub const OTTO_TOTP_SECRET: &[u8] = b"otto-raw-totp-secret";

#[test]
fn totp_matches_the_rfc_6238_test_vector() {
    // RFC 6238 Appendix B, SHA1, T = 59 s: 94287082 (8 digits) -> 287082 with 6 digits.
    assert_eq!(totp(b"12345678901234567890", 59), "287082");
    assert_eq!(totp(b"12345678901234567890", 1111111109), "081804");
}

async fn me(browser: &Browser) -> Value {
    let page = browser.go(Method::GET, &format!("{APP}/me"), &[]).await;
    serde_json::from_str(&page.body)
        .unwrap_or_else(|_| panic!("/me: {} {}", page.status, page.body))
}

pub fn assert_hello(page: &Page, name: &str) {
    assert_eq!(page.status, 200, "{} {}", page.url, &page.body[..page.body.len().min(2000)]);
    assert!(page.url.ends_with("/hello"), "{}", page.url);
    assert!(page.body.contains("Hello, Secured Rust World! I know who I am!"), "{}", page.body);
    assert!(page.body.contains(name), "{name} in {}", page.body);
}

#[rocket::async_test]
#[ignore = "needs Keycloak: run scripts/test"]
async fn demo_user_signs_in_and_hello_shows_the_name() {
    let _realm = serial().await;
    let app = RunningApp::launch(json!({})).await;
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
    let app = RunningApp::launch(json!({})).await;
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
    let app = RunningApp::launch(json!({})).await;
    // A wrong code first: Keycloak shows the OTP form again, no session.
    let browser = Browser::new();
    let otp_page = browser.sign_in("/hello", "otto", "otto-password").await;
    let action = form_action(&otp_page.body, "kc-otp-login-form");
    let right = totp(OTTO_TOTP_SECRET, now());
    let wrong = if right == "000000" { "111111".to_owned() } else { "000000".to_owned() };
    let refused = browser.go(Method::POST, &action, &[("otp", &wrong)]).await;
    assert!(
        refused.url.starts_with("http://localhost:8080/"),
        "stays on Keycloak: {}",
        refused.url
    );
    assert!(refused.body.contains("kc-otp-login-form"), "OTP form again");
    let hello = browser.go(Method::GET, &format!("{APP}/hello"), &[]).await;
    assert!(!hello.url.ends_with("/hello") || hello.status != 200, "no session after a wrong code");

    // The right code in a fresh browser. Keycloak accepts each code once; if this window's
    // code was spent (by an earlier run), the next window's is inside the look-ahead window.
    let browser = Browser::new();
    let mut page = None;
    for offset in [0, 30] {
        let otp_page = browser.sign_in("/hello", "otto", "otto-password").await;
        let action = form_action(&otp_page.body, "kc-otp-login-form");
        let code = totp(OTTO_TOTP_SECRET, now() + offset);
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
    let app = RunningApp::launch(json!({
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
    let app = RunningApp::launch(json!({})).await;
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
    let app = RunningApp::launch(json!({})).await;
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
    let app = RunningApp::launch(json!({})).await;
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
    let app = RunningApp::launch(json!({})).await;
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
