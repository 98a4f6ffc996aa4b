//! Keycloak misbehaving while the app serves: slow answers, flapping, rotation under load.

use std::time::Duration;

use rocket::http::Status;
use rocket::tokio;
use rocket_keycloak_testkit::{Idp, Mode, TestKey, access_claims, mint};
use serde_json::json;

use crate::{get_with_token, join_all, spawn_app_with};

/// The bound on the wait (one fetch timeout past the refetch's start) is proven on the
/// paused clock, in `oidc::keystore`'s unit tests; this is the same situation end to end.
#[rocket::async_test]
async fn slow_keycloak_delays_only_the_unknown_kid() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let app = spawn_app_with(&idp, json!({"jwks_min_refresh_interval": 0})).await;
    // Keycloak now answers after the 5 s fetch timeout.
    idp.set_mode(Mode::Delay(Duration::from_secs(8)));
    let stranger = TestKey::rsa2().with_kid("new-key");
    let unknown = mint(&stranger, &access_claims(&idp, "alice", &["user"]));
    let known = mint(&key, &access_claims(&idp, "alice", &["user"]));

    let waiting = get_with_token(&app, "/secure-data", &unknown);
    tokio::pin!(waiting);
    // While the unknown kid waits for Keycloak, a token with a known key is served.
    tokio::select! {
        _ = &mut waiting => panic!("the unknown kid cannot be settled before Keycloak answers"),
        response = get_with_token(&app, "/secure-data", &known) => {
            assert_eq!(response.status(), Status::Ok);
        }
    }
}

#[rocket::async_test]
async fn flapping_keycloak_fails_no_request_that_should_pass() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let app = spawn_app_with(&idp, json!({"jwks_refresh_interval": 1})).await;
    let tokens: Vec<String> =
        (0..20).map(|i| mint(&key, &access_claims(&idp, &format!("u{i}"), &["user"]))).collect();
    for round in 0..6 {
        if round % 2 == 0 {
            idp.stop();
        } else {
            idp.resume().await;
        }
        let statuses = join_all(
            tokens.iter().map(|t| async { get_with_token(&app, "/secure-data", t).await.status() }),
        )
        .await;
        assert!(statuses.iter().all(|s| *s == Status::Ok), "round {round}: {statuses:?}");
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
}

#[rocket::async_test]
async fn rotation_under_load_has_no_5xx_and_accepts_no_forgery() {
    let (old, new) = (TestKey::rsa1(), TestKey::rsa2());
    let idp = Idp::start(&[&old]).await;
    let app = spawn_app_with(&idp, json!({"jwks_min_refresh_interval": 0})).await;
    let forger = TestKey::rsa3();
    for round in 0..4 {
        if round == 2 {
            idp.publish(&[&old, &new]);
        }
        let mut requests = Vec::new();
        for i in 0..10 {
            let claims = access_claims(&idp, &format!("u{round}-{i}"), &["user"]);
            requests.push((mint(&old, &claims), true));
            requests.push((mint(&forger.with_kid("rsa1"), &claims), false));
            requests.push((mint(&forger.with_kid("rsa2"), &claims), false));
            if round >= 2 {
                requests.push((mint(&new, &claims), true));
            }
        }
        let results = join_all(requests.iter().map(|(token, good)| async {
            (get_with_token(&app, "/secure-data", token).await.status(), *good)
        }))
        .await;
        for (status, good) in results {
            assert!(status.code < 500, "no 5xx: {status}");
            let expected = if good { Status::Ok } else { Status::Unauthorized };
            assert_eq!(status, expected, "round {round}");
        }
    }
}
