//! Unknown-kid floods: at most one JWKS refetch per interval, a rotated-in key still gets
//! through, and while the JWKS is slow only a few requests wait for it (bearer and
//! back-channel logout alike).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rocket::http::{ContentType, Status};
use rocket_keycloak_testkit::{Idp, Mode, TestKey, access_claims, b64, mint, now};
use serde_json::json;

use crate::{assert_invalid_token, get_with_token, join_all, spawn_app, spawn_app_with};

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
