//! The real-browser tests: headless Debian Chromium, driven through chromedriver (WebDriver,
//! with fantoccini), signs in through Keycloak's real pages.
//!
//! - alice signs in and sees `/hello` (screenshot `target/tmp/chromium-hello.png`);
//! - dave signs in with his password, then steps up with his one-time code to open
//!   `/sensitive`; the screenshots of `/`, `/hello` and `/sensitive` land in
//!   `target/tmp/demo-*.png` (the README's pictures are copies of them, in `docs/`).

use std::future::Future;
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};
use rocket::tokio;
use rocket_keycloak_testkit::browser::{APP, DAVE_TOTP_SECRET, next_totp};
use serde_json::json;

use super::{running_app, serial};

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A headless Chromium behind its own chromedriver; dropped with the driver.
struct Chromium {
    client: Client,
    profile: std::path::PathBuf,
    _driver: Driver,
}

impl Chromium {
    async fn start() -> Self {
        // The test binary links two rustls providers (reqwest's and fantoccini's): pick one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let chromedriver =
            std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let port = free_port();
        let driver = Driver(
            Command::new(&chromedriver)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("{chromedriver}: {e} (scripts/test installs chromium-driver)")
                }),
        );
        let profile = std::env::temp_dir().join(format!("rk-chromium-{port}"));
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1000,800",
                    "--hide-scrollbars", format!("--user-data-dir={}", profile.display()),
                ]
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..50 {
            let mut builder = ClientBuilder::rustls().expect("tls");
            if let Ok(client) = builder.capabilities(caps.clone()).connect(&url).await {
                return Self { client, profile, _driver: driver };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no chromedriver session on port {port}");
    }

    async fn close(self) {
        let _ = self.client.close().await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Fills Keycloak's sign-in form.
async fn keycloak_sign_in(browser: &Client, user: &str, password: &str) -> Result<(), CmdError> {
    let username = browser.wait().for_element(Locator::Id("username")).await?;
    username.send_keys(user).await?;
    browser.find(Locator::Id("password")).await?.send_keys(password).await?;
    browser.find(Locator::Id("kc-login")).await?.click().await
}

/// Saves a screenshot in Cargo's scratch folder for integration tests.
fn save(name: &str, png: &[u8]) {
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    std::fs::write(format!("{}/{name}", env!("CARGO_TARGET_TMPDIR")), png).unwrap();
}

/// The steps of one test, given the browser.
type Steps<T> =
    Box<dyn for<'a> FnOnce(&'a Client) -> Pin<Box<dyn Future<Output = Result<T, CmdError>> + 'a>>>;

/// Runs `steps` in a fresh Chromium against the demo app on port 8000, then stops both
/// (whatever the steps' outcome) before returning what the steps saw.
async fn in_chromium<T>(steps: Steps<T>) -> T {
    let _realm = serial().await;
    let app = running_app(json!({})).await;
    let chromium = Chromium::start().await;
    let result = steps(&chromium.client).await;
    chromium.close().await;
    app.stop().await;
    result.expect("browser steps")
}

#[rocket::async_test]
#[ignore = "needs Keycloak: run scripts/test"]
async fn chromium_signs_in_through_keycloak_and_sees_hello() {
    let (name, url, heading, png) = in_chromium(Box::new(|browser| {
        Box::pin(async move {
            browser.goto(&format!("{APP}/")).await?;
            browser.find(Locator::Id("login")).await?.click().await?;
            keycloak_sign_in(browser, "alice", "alice-password").await?;
            let name = browser.wait().for_element(Locator::Id("name")).await?.text().await?;
            let url = browser.current_url().await?;
            let heading = browser.find(Locator::Css("h1")).await?.text().await?;
            Ok((name, url, heading, browser.screenshot().await?))
        })
    }))
    .await;
    save("chromium-hello.png", &png);
    assert_eq!(url.as_str(), format!("{APP}/hello"));
    assert_eq!(heading, "Hello, Secured Rust World! I know who I am!");
    assert_eq!(name, "Alice Liddell");
}

#[rocket::async_test]
#[ignore = "needs Keycloak: run scripts/test"]
async fn chromium_steps_up_with_the_otp_and_saves_the_demo_screenshots() {
    let (level, password_fields, secret, stepped, shots) = in_chromium(Box::new(|browser| {
        Box::pin(async move {
            browser.goto(&format!("{APP}/")).await?;
            let home = browser.screenshot().await?;
            browser.find(Locator::Id("login")).await?.click().await?;
            keycloak_sign_in(browser, "dave", "dave-password").await?;
            let level = browser.wait().for_element(Locator::Id("acr")).await?.text().await?;
            let hello = browser.screenshot().await?;
            // The step-up: Keycloak asks for the code alone (the SSO session continues).
            browser.find(Locator::Id("step-up")).await?.click().await?;
            let mut shown = Vec::new();
            // A later code if another process spent this one.
            for _ in 0..3 {
                let otp = browser.wait().for_element(Locator::Id("otp")).await?;
                shown.push(browser.find_all(Locator::Id("password")).await?.len());
                otp.send_keys(&next_totp(DAVE_TOTP_SECRET).await).await?;
                browser.find(Locator::Id("kc-login")).await?.click().await?;
                browser.wait().for_element(Locator::Css("body")).await?;
                if browser.current_url().await?.as_str().starts_with(APP) {
                    break;
                }
            }
            browser.goto(&format!("{APP}/sensitive")).await?;
            let secret = browser.wait().for_element(Locator::Id("sensitive")).await?.text().await?;
            let stepped = browser.find(Locator::Id("acr")).await?.text().await?;
            let sensitive = browser.screenshot().await?;
            Ok((level, shown, secret, stepped, [home, hello, sensitive]))
        })
    }))
    .await;
    for (name, png) in ["demo-home.png", "demo-hello.png", "demo-sensitive.png"].iter().zip(&shots)
    {
        save(name, png);
    }
    assert_eq!(level, "silver", "the password alone is level silver");
    assert!(password_fields.iter().all(|n| *n == 0), "the step-up asks for the code alone");
    assert_eq!(secret, "This is sensitive data.");
    assert_eq!(stepped, "gold");
}
