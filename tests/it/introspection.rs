//! Lightweight and opaque access tokens checked by introspection (RFC 7662), against the
//! test kit's IdP: when the app asks Keycloak, what it builds from the answer, the cache,
//! single flight, the bound on concurrent calls, and outages.

use std::time::Duration;

use rocket::http::Status;
use rocket::local::asynchronous::Client;
use rocket_keycloak_testkit::idp::Mode;
use rocket_keycloak_testkit::tokens::{access_claims, mint, now};
use rocket_keycloak_testkit::{Idp, TestKey};
use serde_json::{Value, json};

use super::{assert_invalid_token, eventually, get_with_token, join_all, spawn_app_with};

/// What a lightweight token of `demo-light` carries (with its audience mapper): no `sub`,
/// no roles.
fn lightweight_claims(idp: &Idp, jti: &str) -> Value {
    let now = now();
    json!({
        "exp": now + 300, "iat": now, "jti": jti, "iss": idp.issuer(), "aud": "demo-app",
        "typ": "Bearer", "azp": "demo-light", "sid": "sid-1", "scope": "openid profile",
    })
}

/// Keycloak's active answer for `username`, with these realm roles and `demo-app` client
/// roles.
fn active_answer(idp: &Idp, username: &str, realm: &[&str], client: &[&str]) -> Value {
    let mut answer = access_claims(idp, username, realm);
    answer["active"] = json!(true);
    answer["azp"] = json!("demo-light");
    answer["resource_access"] = json!({"demo-app": {"roles": client}});
    answer
}

async fn start(mode: &str, overrides: Value) -> (std::sync::Arc<Idp>, TestKey, Client) {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let mut config = json!({"introspection": mode});
    for (k, v) in overrides.as_object().unwrap() {
        config[k] = v.clone();
    }
    let app = spawn_app_with(&idp, config).await;
    (idp, key, app)
}

async fn status(app: &Client, path: &str, token: &str) -> Status {
    get_with_token(app, path, token).await.status()
}

#[rocket::async_test]
async fn a_lightweight_token_is_introspected_and_keeps_the_realm_and_client_role_split() {
    let (idp, key, app) = start("fallback", json!({})).await;
    let (admin, carol) =
        (mint(&key, &lightweight_claims(&idp, "a")), mint(&key, &lightweight_claims(&idp, "c")));
    idp.expect_introspection(&admin, active_answer(&idp, "admin-user", &["admin"], &[]));
    idp.expect_introspection(&carol, active_answer(&idp, "carol", &[], &["admin"]));
    let me: Value = get_with_token(&app, "/me", &admin).await.into_json().await.unwrap();
    assert_eq!(me["sub"], "sub-admin-user");
    assert_eq!(status(&app, "/admin-data", &admin).await, Status::Ok);
    // Carol's `admin` is a client role of demo-app, never the realm role.
    assert_eq!(status(&app, "/secure-data", &carol).await, Status::Ok);
    assert_eq!(status(&app, "/admin-data", &carol).await, Status::Forbidden);
    let asked = idp.last_introspection_request();
    let field = |name: &str| asked.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    assert_eq!(field("token").as_deref(), Some(carol.as_str()));
    assert_eq!(field("client_id").as_deref(), Some("demo-app"));
    assert_eq!(field("client_secret").as_deref(), Some("test-secret"));
}

#[rocket::async_test]
async fn with_introspection_off_a_lightweight_token_is_refused_and_keycloak_is_not_asked() {
    let (idp, key, app) = start("off", json!({})).await;
    let token = mint(&key, &lightweight_claims(&idp, "a"));
    idp.expect_introspection(&token, active_answer(&idp, "admin-user", &["admin"], &[]));
    assert_invalid_token(get_with_token(&app, "/secure-data", &token).await).await;
    assert_invalid_token(get_with_token(&app, "/secure-data", "opaque-token").await).await;
    assert_eq!(idp.introspection_calls(), 0);
}

#[rocket::async_test]
async fn in_fallback_a_full_token_is_verified_locally_and_an_opaque_one_is_introspected() {
    let (idp, key, app) = start("fallback", json!({})).await;
    let full = mint(&key, &access_claims(&idp, "alice", &["user"]));
    assert_eq!(status(&app, "/secure-data", &full).await, Status::Ok);
    assert_eq!(idp.introspection_calls(), 0, "a token with sub and roles needs no answer");
    idp.expect_introspection("opaque-1", active_answer(&idp, "alice", &["user"], &[]));
    assert_eq!(status(&app, "/secure-data", "opaque-1").await, Status::Ok);
    assert_eq!(idp.introspection_calls(), 1);
}

#[rocket::async_test]
async fn an_inactive_answer_is_a_401_and_never_falls_back_to_local_acceptance() {
    let (idp, key, app) = start("always", json!({})).await;
    // Locally valid in every respect, but Keycloak says it is not active (signed out).
    let token = mint(&key, &access_claims(&idp, "alice", &["user"]));
    assert_invalid_token(get_with_token(&app, "/secure-data", &token).await).await;
    // An active answer that fails a check (another issuer) is a refusal too.
    let other = mint(&key, &access_claims(&idp, "bob", &["user"]));
    let mut answer = active_answer(&idp, "bob", &["user"], &[]);
    answer["iss"] = json!("http://evil.example/realms/test");
    idp.expect_introspection(&other, answer);
    assert_invalid_token(get_with_token(&app, "/secure-data", &other).await).await;
    assert_eq!(idp.introspection_calls(), 2);
}

#[rocket::async_test]
async fn forged_tokens_are_never_sent_to_keycloak_nor_accepted_through_it() {
    let (idp, key, app) = start("always", json!({})).await;
    let stranger = TestKey::rsa2();
    let mut expired = lightweight_claims(&idp, "e");
    expired["exp"] = json!(now() - 3600);
    let mut foreign = lightweight_claims(&idp, "f");
    foreign["iss"] = json!("http://evil.example/realms/test");
    let forged = [
        ("signed by another key", mint(&stranger, &lightweight_claims(&idp, "s"))),
        ("expired", mint(&key, &expired)),
        ("another issuer", mint(&key, &foreign)),
        ("a JWE-shaped token", "a.b.c.d.e".to_owned()),
    ];
    for (name, token) in &forged {
        // Keycloak would even say yes: the app must not ask.
        idp.expect_introspection(token, active_answer(&idp, "admin-user", &["admin"], &[]));
        let response = get_with_token(&app, "/admin-data", token).await;
        assert_eq!(response.status(), Status::Unauthorized, "{name}");
    }
    assert_eq!(idp.introspection_calls(), 0);
}

#[rocket::async_test]
async fn concurrent_requests_with_one_new_token_cause_one_introspection_call() {
    let (idp, key, app) = start("fallback", json!({})).await;
    let token = mint(&key, &lightweight_claims(&idp, "sf"));
    idp.expect_introspection(&token, active_answer(&idp, "alice", &["user"], &[]));
    // Slow enough that every request arrives while the first call is in flight.
    idp.set_introspection_mode(Mode::Delay(Duration::from_millis(500)));
    let statuses = join_all((0..20).map(|_| status(&app, "/secure-data", &token))).await;
    assert!(statuses.iter().all(|s| *s == Status::Ok), "{statuses:?}");
    assert_eq!(idp.introspection_calls(), 1, "one call for twenty requests");
    // And the answer is remembered (within introspection_cache_max_age).
    assert_eq!(status(&app, "/secure-data", &token).await, Status::Ok);
    assert_eq!(idp.introspection_calls(), 1);
}

#[rocket::async_test]
async fn a_flood_of_distinct_junk_tokens_is_bounded_and_each_refusal_remembered() {
    let (idp, _key, app) = start("always", json!({})).await;
    idp.set_introspection_mode(Mode::Delay(Duration::from_millis(200)));
    let junk: Vec<String> = (0..100).map(|i| format!("junk-{i}")).collect();
    let statuses = join_all(junk.iter().map(|t| status(&app, "/secure-data", t))).await;
    assert!(statuses.iter().all(|s| *s == Status::Unauthorized), "{statuses:?}");
    // MAX_CONCURRENT_CALLS in oidc/introspect/introspector.rs.
    let peak = idp.introspection_peak();
    assert!(peak <= 16, "at most 16 calls in flight at once, saw {peak}");
    let calls = idp.introspection_calls();
    assert_eq!(calls, 100);
    let again = join_all(junk.iter().map(|t| status(&app, "/secure-data", t))).await;
    assert!(again.iter().all(|s| *s == Status::Unauthorized));
    assert_eq!(idp.introspection_calls(), calls, "a replayed refusal costs Keycloak nothing");
}

#[rocket::async_test]
async fn a_revoked_token_is_refused_once_the_cache_age_has_passed() {
    let (idp, key, app) = start("always", json!({"introspection_cache_max_age": 1})).await;
    let token = mint(&key, &access_claims(&idp, "alice", &["user"]));
    idp.expect_introspection(&token, active_answer(&idp, "alice", &["user"], &[]));
    assert_eq!(status(&app, "/secure-data", &token).await, Status::Ok);
    // An admin signs alice out: Keycloak now answers inactive.
    idp.expect_introspection(&token, json!({"active": false}));
    let refused = eventually(Duration::from_secs(5), || async {
        status(&app, "/secure-data", &token).await == Status::Unauthorized
    })
    .await;
    assert!(refused, "still accepted after the cache age");
}

#[rocket::async_test]
async fn an_introspection_outage_is_a_503_with_retry_after_never_a_200() {
    let (idp, key, app) = start("fallback", json!({})).await;
    let token = mint(&key, &lightweight_claims(&idp, "o"));
    idp.expect_introspection(&token, active_answer(&idp, "alice", &["user"], &[]));
    for mode in [Mode::Status(500), Mode::Status(401), Mode::Garbage, Mode::Huge] {
        idp.set_introspection_mode(mode.clone());
        let response = get_with_token(&app, "/secure-data", &token).await;
        assert_eq!(response.status(), Status::ServiceUnavailable, "{mode:?}");
        assert!(response.headers().get_one("Retry-After").is_some(), "{mode:?}");
    }
    // An outage is not remembered: Keycloak back, the token passes.
    idp.set_introspection_mode(Mode::Normal);
    assert_eq!(status(&app, "/secure-data", &token).await, Status::Ok);
}

#[rocket::async_test]
async fn a_slow_introspection_answer_times_out_with_a_503() {
    let (idp, key, app) = start("fallback", json!({})).await;
    let token = mint(&key, &lightweight_claims(&idp, "slow"));
    idp.expect_introspection(&token, active_answer(&idp, "alice", &["user"], &[]));
    // Longer than the call's limit (3 s) and shorter than the HTTP client's own (5 s).
    idp.set_introspection_mode(Mode::Delay(Duration::from_millis(4500)));
    let response = get_with_token(&app, "/secure-data", &token).await;
    assert_eq!(response.status(), Status::ServiceUnavailable);
    assert!(response.headers().get_one("Retry-After").is_some());
}
