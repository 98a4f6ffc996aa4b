//! The JWKS fairing: discovery, rotation, unknown-kid flood control, and Keycloak outages.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rocket::http::{ContentType, Status};
use rocket_keycloak_testkit::{
    Idp, Mode, TestKey, access_claims, b64, id_claims, mint, mint_with_header, now, token_response,
};
use serde_json::json;

use crate::{
    assert_invalid_token, eventually, figment_for, get_with_token, join_all, spawn_app,
    spawn_app_with,
};

#[rocket::async_test]
async fn ready_once_keys_are_loaded() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let app = spawn_app(&idp).await;
    assert_eq!(app.get("/ready").dispatch().await.status(), Status::Ok);
    assert_eq!(idp.discovery_hits(), 1);
    assert_eq!(idp.jwks_hits(), 1);
}

#[rocket::async_test]
async fn rotated_key_is_accepted_without_restart() {
    let (old, new) = (TestKey::rsa1(), TestKey::rsa2());
    let idp = Idp::start(&[&old]).await;
    let app = spawn_app(&idp).await;
    idp.publish(&[&old, &new]);
    let token = mint(&new, &access_claims(&idp, "alice", &["user"]));
    assert_eq!(get_with_token(&app, "/secure-data", &token).await.status(), Status::Ok);
    assert_eq!(idp.jwks_hits(), 2, "one refetch for the unknown kid");
    // The old key still works while it is published.
    let token = mint(&old, &access_claims(&idp, "alice", &["user"]));
    assert_eq!(get_with_token(&app, "/secure-data", &token).await.status(), Status::Ok);
}

#[rocket::async_test]
async fn key_removed_from_the_jwks_is_refused_after_the_next_refresh() {
    let (old, new) = (TestKey::rsa1(), TestKey::rsa2());
    let idp = Idp::start(&[&old, &new]).await;
    let app = spawn_app_with(&idp, json!({"jwks_refresh_interval": 1})).await;
    let old_token = mint(&old, &access_claims(&idp, "alice", &["user"]));
    assert_eq!(get_with_token(&app, "/secure-data", &old_token).await.status(), Status::Ok);
    idp.publish(&[&new]);
    let hits = idp.jwks_hits();
    assert!(eventually(Duration::from_secs(5), || async { idp.jwks_hits() > hits }).await);
    rocket::tokio::time::sleep(Duration::from_millis(100)).await;
    assert_invalid_token(get_with_token(&app, "/secure-data", &old_token).await).await;
}

#[rocket::async_test]
async fn unknown_kid_flood_causes_at_most_one_refetch_per_interval() {
    use rocket::local::asynchronous::LocalResponse;
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let app = spawn_app_with(&idp, json!({"jwks_min_refresh_interval": 2})).await;
    let flood = |round: usize| {
        let tokens: Vec<String> = (0..30)
            .map(|i| {
                let forger = TestKey::rsa2().with_kid(&format!("random-{round}-{i}"));
                mint(&forger, &access_claims(&idp, "mallory", &["admin"]))
            })
            .collect();
        tokens
    };
    let started = std::time::Instant::now();
    for round in 1..=3 {
        let tokens = flood(round);
        let responses: Vec<LocalResponse<'_>> =
            join_all(tokens.iter().map(|t| get_with_token(&app, "/secure-data", t))).await;
        for response in responses {
            assert_refused_or_deferred(response).await;
        }
    }
    // 90 unknown kids: the refetches they caused are bounded by the clock, one per interval.
    let refetches = idp.jwks_hits() - 1;
    let intervals = started.elapsed().as_secs() / 2;
    assert!(refetches >= 1, "at least one refetch");
    assert!(refetches as u64 <= 1 + intervals, "{refetches} refetches in {intervals} intervals");
}

#[rocket::async_test]
async fn bogus_kid_flood_does_not_lock_out_a_rotated_in_key() {
    let (old, new) = (TestKey::rsa1(), TestKey::rsa2());
    let idp = Idp::start(&[&old]).await;
    let app = spawn_app_with(&idp, json!({"jwks_min_refresh_interval": 2})).await;
    // The flood spends the refetch slot...
    let bogus = mint(&TestKey::rsa3().with_kid("bogus"), &access_claims(&idp, "m", &[]));
    assert_eq!(get_with_token(&app, "/secure-data", &bogus).await.status(), Status::Unauthorized);
    // ...then Keycloak rotates: the new key's token waits for the next slot and passes.
    idp.publish(&[&old, &new]);
    let token = mint(&new, &access_claims(&idp, "alice", &["user"]));
    let (bogus_status, new_status) = rocket::tokio::join!(
        async { get_with_token(&app, "/secure-data", &bogus).await.status() },
        async { get_with_token(&app, "/secure-data", &token).await.status() },
    );
    assert_eq!(bogus_status, Status::Unauthorized);
    assert_eq!(new_status, Status::Ok);
    assert_eq!(idp.jwks_hits(), 3);
}

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

#[rocket::async_test]
async fn encryption_key_in_the_jwks_is_never_used() {
    let sig = TestKey::rsa1();
    let enc = TestKey::rsa2().with_kid("enc");
    let mut enc_jwk = enc.jwk.clone();
    enc_jwk["use"] = json!("enc");
    enc_jwk["alg"] = json!("RSA-OAEP");
    let idp = Idp::start(&[&sig]).await;
    idp.publish_raw(json!({"keys": [sig.jwk, enc_jwk]}));
    let app = spawn_app_with(&idp, json!({"jwks_min_refresh_interval": 0})).await;
    let token = mint(&enc, &access_claims(&idp, "alice", &["user"]));
    let response = get_with_token(&app, "/secure-data", &token).await;
    assert_invalid_token_saying(response, "unknown key").await;
}

#[rocket::async_test]
async fn discovery_naming_another_issuer_keeps_the_app_unready() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    idp.set_issuer_in_discovery("http://keycloak:8080/realms/test");
    let app = spawn_app(&idp).await;
    assert_eq!(app.get("/ready").dispatch().await.status(), Status::ServiceUnavailable);
    let token = mint(&key, &access_claims(&idp, "alice", &["user"]));
    assert_eq!(
        get_with_token(&app, "/secure-data", &token).await.status(),
        Status::ServiceUnavailable
    );
}

#[rocket::async_test]
async fn discovery_url_can_differ_from_the_issuer() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let internal =
        format!("http://localhost:{}/realms/test/.well-known/openid-configuration", idp.port);
    let app = spawn_app_with(&idp, json!({"discovery_url": internal})).await;
    assert_eq!(app.get("/ready").dispatch().await.status(), Status::Ok);
}

#[rocket::async_test]
async fn missing_issuer_fails_launch_naming_the_key() {
    let idp = Idp::start(&[&TestKey::rsa1()]).await;
    let figment = figment_for(&idp, json!({})).merge(("oidc.issuer", ""));
    assert_launch_fails(figment).await;
    let error =
        rocket_keycloak::OidcConfig::from_figment(&figment_for(&idp, json!({"issuer": ""})))
            .unwrap_err();
    assert_eq!(error.key, "oidc.issuer");
}

async fn assert_launch_fails(figment: rocket::figment::Figment) {
    let client =
        rocket::local::asynchronous::Client::tracked(rocket_keycloak_demo::rocket_with(figment));
    let Err(error) = client.await else { panic!("launch must fail") };
    // Reading the kind marks the error handled (an unhandled rocket::Error panics on drop).
    assert!(
        matches!(error.kind(), rocket::error::ErrorKind::FailedFairings(f) if f[0].name == "Keycloak OIDC")
    );
}

#[rocket::async_test]
async fn malformed_interval_fails_launch_naming_the_key() {
    let idp = Idp::start(&[&TestKey::rsa1()]).await;
    let figment = figment_for(&idp, json!({"jwks_refresh_interval": "often"}));
    let error = rocket_keycloak::OidcConfig::from_figment(&figment).unwrap_err();
    assert_eq!(error.key, "oidc.jwks_refresh_interval");
    assert_launch_fails(figment).await;
}

#[rocket::async_test]
#[allow(clippy::result_large_err)] // figment::Jail's own error type
async fn environment_overrides_rocket_toml() {
    // `rocket_keycloak::figment()` layers OIDC_* over Rocket.toml; checked via figment::Jail
    // so the process environment of other tests is untouched.
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "Rocket.toml",
            "[default.oidc]\nissuer = \"https://a/realms/x\"\nclient_id = \"c\"\n",
        )?;
        jail.set_env("OIDC_ISSUER", "https://b/realms/y");
        jail.set_env("OIDC_JWKS_REFRESH_INTERVAL", "42");
        let config =
            rocket_keycloak::OidcConfig::from_figment(&rocket_keycloak::figment()).unwrap();
        assert_eq!(config.issuer, "https://b/realms/y");
        assert_eq!(config.client_id, "c");
        assert_eq!(config.jwks_refresh_interval, Duration::from_secs(42));
        assert_eq!(config.realm(), "y");
        Ok(())
    });
}

/// A token for `kid` that no key verifies: unknown kids are refused before any signature.
fn unknown_kid_token(kid: &str, claims: serde_json::Value) -> String {
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": kid});
    format!("{}.{}.c2ln", b64(&header.to_string()), b64(&claims.to_string()))
}

/// Sends every request concurrently and counts the answers given before `after` has passed
/// (while the IdP's JWKS endpoint is held slow for longer than that).
async fn answered_within<'c, F>(
    after: Duration,
    requests: Vec<F>,
) -> (usize, Vec<rocket::local::asynchronous::LocalResponse<'c>>)
where
    F: std::future::Future<Output = rocket::local::asynchronous::LocalResponse<'c>>,
{
    let answered = AtomicUsize::new(0);
    let probe = async {
        rocket::tokio::time::sleep(after).await;
        answered.load(Ordering::SeqCst)
    };
    let all = join_all(requests.into_iter().map(|request| async {
        let response = request.await;
        answered.fetch_add(1, Ordering::SeqCst);
        response
    }));
    rocket::tokio::join!(probe, all)
}

/// An app whose IdP, once the app is up, holds every answer for 3 s.
async fn app_whose_idp_answers_slowly() -> (std::sync::Arc<Idp>, rocket::local::asynchronous::Client)
{
    let idp = Idp::start(&[&TestKey::rsa1()]).await;
    let app = spawn_app(&idp).await;
    idp.set_mode(Mode::Delay(Duration::from_secs(3)));
    (idp, app)
}

#[rocket::async_test]
async fn unknown_kid_flood_parks_only_a_few_requests_while_the_jwks_is_slow() {
    let (idp, app) = app_whose_idp_answers_slowly().await;
    let tokens: Vec<String> = (0..300)
        .map(|i| {
            let claims = access_claims(&idp, "mallory", &["admin"]);
            unknown_kid_token(&format!("random-{i}"), claims)
        })
        .collect();
    let requests = tokens.iter().map(|t| get_with_token(&app, "/secure-data", t)).collect();
    let (early, responses) = answered_within(Duration::from_secs(1), requests).await;
    // All but the key store's few waiters (8) are answered while the refetch still runs.
    assert!(early >= 300 - 8, "only {early} of 300 answered while the JWKS was slow");
    for response in responses {
        assert_refused_or_deferred(response).await;
    }
}

#[rocket::async_test]
async fn unknown_kid_flood_on_backchannel_logout_parks_only_a_few_requests() {
    let (idp, app) = app_whose_idp_answers_slowly().await;
    let tokens: Vec<String> = (0..100)
        .map(|i| {
            let claims = json!({
                "iss": idp.issuer(), "aud": "demo-app", "iat": now(), "exp": now() + 120,
                "jti": format!("lt-{i}"), "sid": "sid-alice", "typ": "Logout",
                "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
            });
            unknown_kid_token(&format!("random-{i}"), claims)
        })
        .collect();
    let requests = tokens
        .iter()
        .map(|t| {
            app.post("/backchannel-logout")
                .header(ContentType::Form)
                .body(format!("logout_token={t}"))
                .dispatch()
        })
        .collect();
    let (early, responses) = answered_within(Duration::from_secs(1), requests).await;
    assert!(early >= 100 - 8, "only {early} of 100 answered while the JWKS was slow");
    for response in responses {
        // Refused, or deferred while the key may still appear: never accepted.
        let status = response.status();
        assert!([Status::BadRequest, Status::ServiceUnavailable].contains(&status), "{status}");
    }
}

/// An unknown kid's answer: 401 `invalid_token`, or 503 with `Retry-After` (the key may
/// still appear), never anything else.
async fn assert_refused_or_deferred(response: rocket::local::asynchronous::LocalResponse<'_>) {
    if response.status() == Status::ServiceUnavailable {
        let retry: u64 = response.headers().get_one("Retry-After").unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry), "Retry-After {retry}");
        let body: serde_json::Value = response.into_json().await.unwrap();
        assert_eq!(body["error"], "temporarily_unavailable");
    } else {
        assert_invalid_token(response).await;
    }
}

/// `key`'s signature on `claims` under a header without `kid`.
fn without_kid(key: &TestKey, claims: &serde_json::Value) -> String {
    mint_with_header(key, &json!({"alg": "RS256", "typ": "JWT"}), claims)
}

/// `key`'s JWK with its `kid` taken out.
fn jwk_without_kid(key: &TestKey) -> serde_json::Value {
    let mut jwk = key.jwk.clone();
    jwk.as_object_mut().unwrap().remove("kid");
    jwk
}

#[rocket::async_test]
async fn access_token_without_kid_verifies_against_the_single_published_key() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let app = spawn_app(&idp).await;
    let token = without_kid(&key, &access_claims(&idp, "alice", &["user"]));
    assert_eq!(get_with_token(&app, "/secure-data", &token).await.status(), Status::Ok);
    // Signed by another key: the one candidate does not verify it.
    let forged = without_kid(&TestKey::rsa2(), &access_claims(&idp, "mallory", &["user"]));
    assert_invalid_token(get_with_token(&app, "/secure-data", &forged).await).await;
}

#[rocket::async_test]
async fn access_token_without_kid_verifies_against_a_published_key_without_kid() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    idp.publish_raw(json!({"keys": [jwk_without_kid(&key)]}));
    let app = spawn_app(&idp).await;
    assert_eq!(app.get("/ready").dispatch().await.status(), Status::Ok, "the key is kept");
    let token = without_kid(&key, &access_claims(&idp, "alice", &["user"]));
    for _ in 0..2 {
        assert_eq!(get_with_token(&app, "/secure-data", &token).await.status(), Status::Ok);
    }
    // A kid cannot name the kid-less key.
    let named = mint(&key, &access_claims(&idp, "alice", &["user"]));
    assert_invalid_token(get_with_token(&app, "/secure-data", &named).await).await;
}

#[rocket::async_test]
async fn token_without_kid_is_refused_when_several_keys_could_verify_it() {
    let (one, two) = (TestKey::rsa1(), TestKey::rsa2());
    let idp = Idp::start(&[&one]).await;
    idp.publish_raw(json!({"keys": [one.jwk, jwk_without_kid(&two)]}));
    let app = spawn_app(&idp).await;
    for key in [&one, &two] {
        let token = without_kid(key, &access_claims(&idp, "alice", &["user"]));
        let response = get_with_token(&app, "/secure-data", &token).await;
        assert_invalid_token_saying(response, "header is not acceptable").await;
    }
}

#[rocket::async_test]
async fn id_token_without_kid_signs_in_when_the_jwks_has_a_single_key_without_kid() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    idp.publish_raw(json!({"keys": [jwk_without_kid(&key)]}));
    let app = spawn_app(&idp).await;
    let login = app.get("/login?next=/hello").dispatch().await;
    let q = crate::query(login.headers().get_one("Location").unwrap());
    let id = without_kid(&key, &id_claims(&idp, "alice", &q["nonce"]));
    let access = without_kid(&key, &access_claims(&idp, "alice", &["user"]));
    idp.expect_code("c", token_response(&access, Some(&id), None));
    let iss = url::form_urlencoded::byte_serialize(idp.issuer().as_bytes()).collect::<String>();
    let callback = format!("/authorize?state={}&code=c&iss={iss}", q["state"]);
    let response = app.get(callback).dispatch().await;
    assert_eq!(response.status(), Status::SeeOther, "{:?}", response.into_string().await);
    assert_eq!(app.get("/hello").dispatch().await.status(), Status::Ok, "signed in");
}

/// Asserts a 401 `invalid_token` whose description contains `words`.
async fn assert_invalid_token_saying(
    response: rocket::local::asynchronous::LocalResponse<'_>,
    words: &str,
) {
    let header = crate::www_authenticate(&response);
    assert!(header.contains(words), "{header}");
    assert_invalid_token(response).await;
}
