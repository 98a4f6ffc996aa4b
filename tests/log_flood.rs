//! A flood of 10,000 forged tokens leaves at most a few lines in a log at `warn` (a common
//! production level): Rocket's one line per refused guard is dropped, and the crate's own
//! periodic summary takes its place (every 60 s, so none within this test). A Keycloak
//! outage is logged once when it starts, not at every retry, and so is a session store that
//! stops answering.
//!
//! Its own test binary, because the logger is process-wide.

use std::sync::Mutex;

use rocket::http::{Header, Status};
use rocket::local::asynchronous::Client;
use rocket_keycloak_testkit::{Idp, TestKey, access_claims, mint_with_header};
use serde_json::json;

static CAPTURED: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn capture(line: &str) {
    CAPTURED.lock().unwrap().push(line.to_owned());
}

#[rocket::async_test]
async fn ten_thousand_forged_tokens_leave_at_most_a_few_log_lines() {
    let logger = rocket_keycloak::RedactingLogger::with_sink(log::LevelFilter::Warn, capture);
    assert!(logger.install(), "first logger of the process");
    let (key, forger) = (TestKey::rsa1(), TestKey::rsa2());
    let idp = Idp::start(&[&key]).await;
    let figment = rocket::figment::Figment::from(rocket::Config::debug_default())
        .merge(("log_level", "critical"))
        .merge((
            "oidc",
            json!({"issuer": idp.issuer(), "client_id": "demo-app", "jwks_refresh_interval": 1}),
        ));
    let app = Client::tracked(rocket_keycloak_demo::rocket_with(figment)).await.unwrap();
    let before = CAPTURED.lock().unwrap().len();
    let header = json!({"alg": "RS256", "kid": key.kid, "typ": "JWT"});
    let mut forged = Vec::new();
    for i in 0..10_000 {
        let token = mint_with_header(&forger, &header, &access_claims(&idp, &format!("m{i}"), &[]));
        let response = app
            .get("/secure-data")
            .header(Header::new("Authorization", format!("Bearer {token}")))
            .dispatch()
            .await;
        assert_eq!(response.status(), Status::Unauthorized);
        if i < 3 {
            forged.push(token);
        }
    }
    let lines = CAPTURED.lock().unwrap()[before..].to_vec();
    assert!(
        lines.len() <= 3,
        "{} lines for 10,000 refusals: {:#?}",
        lines.len(),
        &lines[..lines.len().min(10)]
    );
    for token in forged {
        assert!(!lines.iter().any(|l| l.contains(&token[token.len() - 20..])));
    }

    // Keycloak goes away: the refresh every second fails, and the log says so once.
    let before = CAPTURED.lock().unwrap().len();
    idp.stop();
    rocket::tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    let lines = CAPTURED.lock().unwrap()[before..].to_vec();
    let outage: Vec<&String> = lines.iter().filter(|l| l.contains("OIDC")).collect();
    assert_eq!(outage.len(), 1, "{lines:#?}");
    idp.resume().await;
    drop(app);

    // The session store goes away (nothing listens on its port): every readiness probe and
    // session request fails, and the log says so once, not once per request.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let figment = rocket::figment::Figment::from(rocket::Config::debug_default())
        .merge(("log_level", "critical"))
        .merge(("secret_key", "yvFUoTl8c2dthuCXJHSzh0ZO8cQaMlyBd0hx6kqOWn0="))
        .merge((
            "oidc",
            json!({
                "issuer": idp.issuer(), "client_id": "demo-app", "client_secret": "s",
                "session_store": format!("redis://127.0.0.1:{closed}/0"),
            }),
        ));
    let app = Client::tracked(rocket_keycloak_demo::rocket_with(figment)).await.unwrap();
    let before = CAPTURED.lock().unwrap().len();
    for _ in 0..50 {
        let ready: serde_json::Value =
            app.get("/ready").dispatch().await.into_json().await.unwrap();
        assert_eq!(ready["sessions"], "unavailable");
    }
    let lines = CAPTURED.lock().unwrap()[before..].to_vec();
    let store: Vec<&String> = lines.iter().filter(|l| l.contains("session store")).collect();
    assert_eq!(store.len(), 1, "{lines:#?}");
}
