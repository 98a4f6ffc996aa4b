//! The metrics listener of a release build: Rocket refuses to ignite a rocket of the release
//! profile without a `secret_key`, and the demo (like any app that merges its key in code)
//! may have its key only in its own figment. The listener must start from that figment.
//!
//! What this proves, and what not: the test binary is a debug build, so the release profile
//! is selected the way a release binary's `Config::figment()` would see it through
//! `ROCKET_PROFILE=release` (set inside a `figment::Jail`, which restores the environment).
//! A real `cargo build --release` binary is not run here.
//!
//! Its own test binary, because the metrics recorder and the logger are process-wide and
//! the environment is changed.

use rocket::local::asynchronous::Client;
use rocket_keycloak_testkit::{Idp, TestKey};
use serde_json::json;

#[test]
#[allow(clippy::result_large_err)] // figment::Jail's own error type
fn a_release_build_with_its_key_only_in_the_apps_figment_starts_the_metrics_listener() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("ROCKET_PROFILE", "release");
        let runtime =
            rocket::tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let idp = Idp::start_realm(&[&TestKey::rsa1()], "release").await;
            let port =
                std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            // Rocket's own figment in the release profile, the key merged in only here.
            let figment = rocket::Config::figment()
                .merge(("secret_key", "hPRYyVRiMyxpw5sBB1XeCMN1kFsDCqKvBi2QJxBVHQk="))
                .merge(("address", "127.0.0.1"))
                .merge(("log_level", "off"))
                .merge(("template_dir", concat!(env!("CARGO_MANIFEST_DIR"), "/templates")))
                .merge((
                    "oidc",
                    json!({
                        "issuer": idp.issuer(), "client_id": "demo-app",
                        "metrics": format!("127.0.0.1:{port}"),
                    }),
                ));
            assert_eq!(figment.profile(), rocket::Config::RELEASE_PROFILE);
            let _app = Client::tracked(rocket_keycloak_demo::rocket_with(figment)).await.unwrap();
            let url = format!("http://127.0.0.1:{port}/metrics");
            let mut answer = None;
            for _ in 0..50 {
                if let Ok(response) = reqwest::get(&url).await {
                    answer = Some((response.status(), response.text().await.unwrap()));
                    break;
                }
                rocket::tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            let (status, body) = answer.expect("the metrics listener of a release build answers");
            assert_eq!(status, 200);
            assert!(body.contains("rocket_keycloak_jwks_fetch_total{realm=\"release\""), "{body}");
        });
        Ok(())
    });
}
