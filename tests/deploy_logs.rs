//! The log level docker-compose.yml gives the app shows the lines an operator needs: the key
//! loads, the notice of a Keycloak outage and the refusal summary (README, Monitoring).
//! A release build logs at `critical` unless `ROCKET_LOG_LEVEL` says otherwise, and none of
//! those lines is an error; the test reads the compose file's level (the release default
//! when it sets none) and runs the demo's logger at it.
//!
//! Its own test binary, because the logger and the refusal counters are process-wide.

use std::sync::Mutex;

use rocket::http::{Header, Status};
use rocket::local::asynchronous::Client;
use rocket_keycloak_testkit::{Idp, TestKey, access_claims, mint};
use serde_json::json;

static CAPTURED: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn capture(line: &str) {
    CAPTURED.lock().unwrap().push(line.to_owned());
}

/// The `log_level` of the compose file's `app` service, read as a release build reads it.
fn compose_log_level() -> rocket::config::LogLevel {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docker-compose.yml");
    let compose: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut figment = rocket::figment::Figment::from(rocket::Config::release_default());
    if let Some(level) = compose["services"]["app"]["environment"]["ROCKET_LOG_LEVEL"].as_str() {
        figment = figment.merge(("log_level", level));
    }
    figment.extract::<rocket::Config>().unwrap().log_level
}

async fn app(idp: &Idp, level: rocket::config::LogLevel) -> Client {
    let figment = rocket::figment::Figment::from(rocket::Config::debug_default())
        .merge(("log_level", level))
        .merge(("template_dir", concat!(env!("CARGO_MANIFEST_DIR"), "/templates")))
        .merge(("oidc", json!({"issuer": idp.issuer(), "client_id": "demo-app"})));
    Client::tracked(rocket_keycloak_demo::rocket_with(figment)).await.unwrap()
}

/// Waits (bounded) until a captured line contains `text`; returns the lines that do.
async fn lines_with(text: &str) -> Vec<String> {
    for _ in 0..200 {
        let found: Vec<String> =
            CAPTURED.lock().unwrap().iter().filter(|l| l.contains(text)).cloned().collect();
        if !found.is_empty() {
            return found;
        }
        rocket::tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    Vec::new()
}

#[rocket::async_test]
async fn the_compose_log_level_shows_key_loads_outages_and_the_refusal_summary() {
    let level = compose_log_level();
    let filter = rocket_keycloak::RedactingLogger::filter_for(level);
    assert!(rocket_keycloak::RedactingLogger::with_sink(filter, capture).install());
    println!("compose log level: {level:?}");

    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let up = app(&idp, level).await;
    let loaded = lines_with("OIDC keys of realm test loaded").await;
    assert!(!loaded.is_empty(), "no key load line at {level:?}: {:#?}", CAPTURED.lock().unwrap());

    let down = Idp::start_down(&[&key]).await;
    let _down_app = app(&down, level).await;
    let outage = lines_with("not reachable yet").await;
    assert!(!outage.is_empty(), "no outage line at {level:?}: {:#?}", CAPTURED.lock().unwrap());

    let forged = mint(&TestKey::rsa2().with_kid(&key.kid), &access_claims(&idp, "mallory", &[]));
    let refused = up
        .get("/secure-data")
        .header(Header::new("Authorization", format!("Bearer {forged}")))
        .dispatch()
        .await;
    assert_eq!(refused.status(), Status::Unauthorized);
    up.rocket().shutdown().notify();
    let summary = lines_with("tokens refused in the last").await;
    assert!(!summary.is_empty(), "no summary at {level:?}: {:#?}", CAPTURED.lock().unwrap());
    assert!(summary[0].contains("1 signature"), "{summary:?}");
}
