//! One key's flood of valid proofs (round 3 of the security review): anyone can
//! self-register and get a bound token, then send fresh proofs as fast as the app checks
//! them. The flood must refuse that key only, and requests without DPoP must keep their
//! latency (measured and printed, never asserted: speed belongs to the benchmarks).

use std::time::{Duration, Instant};

use rocket::http::Status;
use rocket::local::asynchronous::Client;
use rocket_keycloak::MAX_PROOFS_PER_KEY;
use rocket_keycloak_testkit::dpop::{dpop_access_claims, dpop_proof};
use rocket_keycloak_testkit::{TestKey, access_claims, mint};
use serde_json::json;

use super::{Setup, URL, dpop_get, setup};
use crate::{get_with_token, join_all};

/// Proofs in flight at once during the flood.
const CONCURRENCY: usize = 32;

/// The 99th percentile of `samples`.
fn p99(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[(samples.len() * 99 / 100).min(samples.len() - 1)]
}

/// Latencies of `count` plain bearer requests, one after another.
async fn plain_latencies(app: &Client, token: &str, count: usize) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        let start = Instant::now();
        assert_eq!(get_with_token(app, "/secure-data", token).await.status(), Status::Ok);
        samples.push(start.elapsed());
    }
    samples
}

#[rocket::async_test]
async fn one_keys_flood_of_proofs_refuses_that_key_and_no_other() {
    let Setup { idp, signer, client_key, token, app } = setup(json!({})).await;
    let other_key = TestKey::ed1();
    let other = mint(&signer, &dpop_access_claims(&idp, "bob", &["user"], &other_key));
    let plain = mint(&signer, &access_claims(&idp, "carol", &["user"]));

    let quiet = p99(plain_latencies(&app, &plain, 300).await);

    // The flood: every proof valid and new, from one key, as many as its quota holds.
    let proofs: Vec<[String; 1]> = (0..MAX_PROOFS_PER_KEY)
        .map(|_| [dpop_proof(&client_key, "GET", URL, Some(&token))])
        .collect();
    let flood = async {
        let mut passed = 0;
        for batch in proofs.chunks(CONCURRENCY) {
            let requests = batch.iter().map(|proof| dpop_get(&app, &token, proof));
            passed += join_all(requests).await.iter().filter(|r| r.status() == Status::Ok).count();
        }
        passed
    };
    let (passed, during) = rocket::tokio::join!(flood, plain_latencies(&app, &plain, 300));
    assert_eq!(passed, MAX_PROOFS_PER_KEY, "every proof within the quota passes");
    let during = p99(during);
    println!(
        "p99 of plain bearer requests: {quiet:?} quiet, {during:?} during a flood of {} proofs",
        MAX_PROOFS_PER_KEY
    );

    // The flooding key is now refused, fail closed, and told to come back.
    let over = dpop_proof(&client_key, "GET", URL, Some(&token));
    let refused = dpop_get(&app, &token, &[&over]).await;
    assert_eq!(refused.status(), Status::ServiceUnavailable);
    assert!(refused.headers().get_one("Retry-After").is_some());
    let body: serde_json::Value = refused.into_json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    // Another user's key is not.
    let theirs = dpop_proof(&other_key, "GET", URL, Some(&other));
    assert_eq!(dpop_get(&app, &other, &[&theirs]).await.status(), Status::Ok);
    // Nor are plain bearer tokens.
    assert_eq!(get_with_token(&app, "/secure-data", &plain).await.status(), Status::Ok);
}
