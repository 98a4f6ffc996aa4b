//! A browser for the end-to-end tests without a real one: an HTTP client that keeps cookies,
//! follows redirects itself (so a test can stop anywhere) and fills Keycloak's real HTML
//! forms; the demo app running for real on a port ([`RunningApp`]), because Keycloak's
//! redirect URI and back-channel logout URL point there; and RFC 6238 codes ([`totp`]).

use std::time::Duration;

use hmac::{Hmac, Mac};
use reqwest::Method;
use rocket::figment::Figment;
use rocket::{Rocket, tokio};
use serde_json::Value;

use crate::keycloak::figment;

/// The demo app's URL in the realm's redirect URIs.
pub const APP: &str = "http://localhost:8000";

/// The demo app listening on 127.0.0.1 (port 8000 unless told) until [`RunningApp::stop`].
pub struct RunningApp {
    shutdown: rocket::Shutdown,
    task: tokio::task::JoinHandle<Result<rocket::Rocket<rocket::Ignite>, rocket::Error>>,
}

/// The app factory under test (`rocket_keycloak_demo::rocket_with`): the kit does not depend on
/// the library, so each test passes it in.
pub type AppFactory = fn(Figment) -> Rocket<rocket::Build>;

impl RunningApp {
    /// The app built by `build` from the demo settings with `overrides`, on port 8000.
    pub async fn launch(build: AppFactory, overrides: Value) -> Self {
        Self::launch_on(build, 8000, figment(overrides)).await
    }

    /// The app built by `build` from `figment` on 127.0.0.1:`port`, once `/ready` answers.
    pub async fn launch_on(build: AppFactory, port: u16, figment: Figment) -> Self {
        let app = format!("http://localhost:{port}");
        let figment = figment
            .merge(("address", "127.0.0.1"))
            .merge(("port", port))
            .merge(("shutdown.ctrlc", false))
            .merge(("shutdown.grace", 1))
            .merge(("shutdown.mitigate", 1));
        let rocket = build(figment).ignite().await.expect("ignite");
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

    /// Shuts the app down and waits for it.
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
    /// The last URL requested.
    pub url: String,
    /// Its status code.
    pub status: u16,
    /// Its body (empty when the walk stopped at a redirect).
    pub body: String,
}

impl Browser {
    /// A browser with an empty cookie jar.
    #[allow(clippy::new_without_default)]
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

/// The next RFC 6238 code for `secret` that Keycloak should take. Keycloak takes each code
/// once, refuses codes older than the last one it took (measured against 26.7.3), and looks
/// one 30-s step ahead. So every call gives the code of a later step than the call before it
/// in this process, waiting for the clock when that step is more than one step ahead. A
/// caller whose code is refused anyway (a code spent by another process) asks again.
pub async fn next_totp(secret: &[u8]) -> String {
    static LAST_STEP: std::sync::Mutex<Vec<(Vec<u8>, u64)>> = std::sync::Mutex::new(Vec::new());
    let step = {
        let mut last = LAST_STEP.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let current = crate::now() / 30;
        let position = last.iter().position(|(s, _)| s == secret);
        let step = position.map_or(current, |i| current.max(last[i].1 + 1));
        match position {
            Some(i) => last[i].1 = step,
            None => last.push((secret.to_vec(), step)),
        }
        step
    };
    while crate::now() / 30 + 1 < step {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    totp(secret, step * 30)
}

/// A six-digit code that is none of the codes Keycloak would take for `secret` now.
pub fn wrong_totp(secret: &[u8]) -> String {
    let step = crate::now() / 30;
    let valid: Vec<String> =
        (step.saturating_sub(1)..=step + 2).map(|s| totp(secret, s * 30)).collect();
    (0..10).map(|d| d.to_string().repeat(6)).find(|code| !valid.contains(code)).unwrap_or_default()
}

/// The raw TOTP secret of the demo user `otto` (keycloak/demo-realm.json).
pub const OTTO_TOTP_SECRET: &[u8] = b"otto-raw-totp-secret";

/// The raw TOTP secret of the demo user `dave`, who needs it only to step up.
pub const DAVE_TOTP_SECRET: &[u8] = b"dave-raw-totp-secret";

/// Asserts that `page` is the demo's `/hello` for the user called `name`.
pub fn assert_hello(page: &Page, name: &str) {
    assert_eq!(page.status, 200, "{} {}", page.url, &page.body[..page.body.len().min(2000)]);
    assert!(page.url.ends_with("/hello"), "{}", page.url);
    assert!(page.body.contains("Hello, Secured Rust World! I know who I am!"), "{}", page.body);
    assert!(page.body.contains(name), "{name} in {}", page.body);
}

#[cfg(test)]
mod tests {
    use super::totp;

    #[test]
    fn totp_matches_the_rfc_6238_test_vector() {
        // RFC 6238 Appendix B, SHA1, T = 59 s: 94287082 (8 digits) -> 287082 with 6 digits.
        assert_eq!(totp(b"12345678901234567890", 59), "287082");
        assert_eq!(totp(b"12345678901234567890", 1111111109), "081804");
    }
}
