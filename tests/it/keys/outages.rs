//! Keycloak outages: down after start (known keys keep working), refreshes answered with
//! errors or garbage (the last good keys stay), and down at start (503 with `Retry-After`,
//! then ready once it comes up).

use std::time::Duration;

use rocket::http::Status;
use rocket_keycloak_testkit::{Idp, Mode, TestKey, access_claims, mint};
use serde_json::json;

use crate::{eventually, get_with_token, spawn_app, spawn_app_with};

#[rocket::async_test]
async fn idp_down_after_start_keeps_validating_known_keys() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let app = spawn_app_with(&idp, json!({"jwks_refresh_interval": 1})).await;
    idp.stop();
    rocket::tokio::time::sleep(Duration::from_millis(1500)).await; // a refresh fails meanwhile
    let token = mint(&key, &access_claims(&idp, "alice", &["user"]));
    assert_eq!(get_with_token(&app, "/secure-data", &token).await.status(), Status::Ok);
    assert_eq!(app.get("/ready").dispatch().await.status(), Status::Ok);
}

#[rocket::async_test]
async fn failed_refresh_with_bad_answers_keeps_the_last_good_keys() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let app = spawn_app_with(&idp, json!({"jwks_refresh_interval": 1})).await;
    let token = mint(&key, &access_claims(&idp, "alice", &["user"]));
    for mode in [Mode::Status(500), Mode::Garbage, Mode::Huge] {
        idp.set_mode(mode.clone());
        let hits = idp.jwks_hits();
        assert!(eventually(Duration::from_secs(5), || async { idp.jwks_hits() > hits }).await);
        assert_eq!(
            get_with_token(&app, "/secure-data", &token).await.status(),
            Status::Ok,
            "{mode:?}"
        );
    }
    idp.set_mode(Mode::Normal);
    idp.publish_raw(json!({"keys": [{"kid": "h", "kty": "oct", "k": "c2VjcmV0"}]}));
    let hits = idp.jwks_hits();
    assert!(eventually(Duration::from_secs(5), || async { idp.jwks_hits() > hits }).await);
    assert_eq!(get_with_token(&app, "/secure-data", &token).await.status(), Status::Ok);
}

#[rocket::async_test]
async fn idp_down_at_start_gives_503_then_ready_when_it_comes_up() {
    let key = TestKey::rsa1();
    let idp = Idp::start_down(&[&key]).await;
    let app = spawn_app(&idp).await;
    assert_eq!(app.get("/ready").dispatch().await.status(), Status::ServiceUnavailable);
    let token = mint(&key, &access_claims(&idp, "alice", &["user"]));
    let response = get_with_token(&app, "/secure-data", &token).await;
    assert_eq!(response.status(), Status::ServiceUnavailable);
    assert_eq!(response.headers().get_one("Retry-After"), Some("5"));
    // Without credentials it is still a plain 401: no key is needed to say so.
    assert_eq!(app.get("/secure-data").dispatch().await.status(), Status::Unauthorized);

    idp.resume().await;
    let ready = eventually(Duration::from_secs(10), || async {
        app.get("/ready").dispatch().await.status() == Status::Ok
    })
    .await;
    assert!(ready, "app became ready after the IdP came up");
    assert_eq!(get_with_token(&app, "/secure-data", &token).await.status(), Status::Ok);
}
