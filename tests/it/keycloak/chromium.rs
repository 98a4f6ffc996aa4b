//! The real-browser test: headless Debian Chromium, driven through chromedriver
//! (WebDriver, with fantoccini), signs in through Keycloak's login page and sees `/hello`.
//! The screenshot is saved as `target/tmp/chromium-hello.png`.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{ClientBuilder, Locator};
use rocket::tokio;
use serde_json::json;

use super::browser::{APP, RunningApp};
use super::serial;

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

#[rocket::async_test]
#[ignore = "needs Keycloak: run scripts/test"]
async fn chromium_signs_in_through_keycloak_and_sees_hello() {
    let _realm = serial().await;
    // The test binary links two rustls providers (reqwest's and fantoccini's): pick one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let chromedriver =
        std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let port = free_port();
    let _driver = Driver(
        Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{chromedriver}: {e} (scripts/test installs chromium-driver)")
            }),
    );
    let app = RunningApp::launch(json!({})).await;
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
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    let mut client = None;
    for _ in 0..50 {
        match ClientBuilder::rustls()
            .expect("tls")
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => {
                client = Some(c);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let browser = client.expect("chromedriver session");
    let result = async {
        browser.goto(&format!("{APP}/")).await?;
        browser.find(Locator::Id("login")).await?.click().await?;
        let username = browser.wait().for_element(Locator::Id("username")).await?;
        username.send_keys("alice").await?;
        browser.find(Locator::Id("password")).await?.send_keys("alice-password").await?;
        browser.find(Locator::Id("kc-login")).await?.click().await?;
        let name = browser.wait().for_element(Locator::Id("name")).await?.text().await?;
        let url = browser.current_url().await?;
        let heading = browser.find(Locator::Css("h1")).await?.text().await?;
        let png = browser.screenshot().await?;
        Ok::<_, fantoccini::error::CmdError>((name, url, heading, png))
    }
    .await;
    let _ = browser.close().await;
    app.stop().await;
    let _ = std::fs::remove_dir_all(&profile);
    let (name, url, heading, png) = result.expect("browser steps");
    // Cargo's scratch folder for integration tests, wherever the target folder is.
    let shot = concat!(env!("CARGO_TARGET_TMPDIR"), "/chromium-hello.png");
    std::fs::write(shot, &png).unwrap();
    assert_eq!(url.as_str(), format!("{APP}/hello"));
    assert_eq!(heading, "Hello, Secured Rust World! I know who I am!");
    assert_eq!(name, "Alice Liddell");
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
}
