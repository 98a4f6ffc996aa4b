#![allow(missing_docs)]
//! Cost of the guard's work per request: token validation (fresh), a verified-token cache
//! hit, a forged token, the role check, the Authorization header parse, and a DPoP proof
//! check (ES256; what a DPoP request costs on top of its cached token).
//! `cargo bench --bench validate` (criterion).
//!
//! Compare crypto backends with
//! `cargo bench --bench validate` and
//! `cargo bench --bench validate --no-default-features --features rust-crypto`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rocket_keycloak::Identity;
use rocket_keycloak::testing::KeySet;
use rocket_keycloak::testing::authorization_token;
use rocket_keycloak::testing::{ProofRules, ProofTarget, TokenKind, TokenRules};
use rocket_keycloak_testkit::dpop::{dpop_proof, jkt};
use rocket_keycloak_testkit::{TestKey, bench_access_claims, mint, now};
use serde_json::json;

const ISSUER: &str = "http://localhost:8080/realms/demo";

fn benches(c: &mut Criterion) {
    let (rsa, ec) = (TestKey::rsa1(), TestKey::ec1());
    // Another key under the published kid: a forgery that takes the full check to refuse.
    let forger = TestKey::rsa2().with_kid("rsa1");
    let jwks = json!({"keys": [&rsa.jwk, &ec.jwk]}).to_string();
    let algorithms = rocket_keycloak::DEFAULT_ALGORITHMS;
    let (keys, _) = KeySet::from_json(jwks.as_bytes(), &algorithms).unwrap();
    let rules = TokenRules::new(TokenKind::Access, ISSUER, "demo-app", 60, &algorithms);
    let now = now();

    let check = |token: &str| {
        let header = rules.check_format(token)?;
        let kid = header.kid.as_deref().ok_or(rocket_keycloak::TokenError::MissingKeyId)?;
        let key = keys.get(kid).ok_or(rocket_keycloak::TokenError::UnknownKey)?;
        rules.verify(token, &header, key, now)
    };

    let claims = bench_access_claims(ISSUER);
    let (rs256, es256, forged) = (mint(&rsa, &claims), mint(&ec, &claims), mint(&forger, &claims));
    assert!(check(&rs256).is_ok() && check(&es256).is_ok() && check(&forged).is_err());

    c.bench_function("validate_fresh_rs256", |b| b.iter(|| check(black_box(&rs256)).unwrap()));
    c.bench_function("validate_fresh_es256", |b| b.iter(|| check(black_box(&es256)).unwrap()));
    c.bench_function("reject_forged_rs256", |b| b.iter(|| check(black_box(&forged)).unwrap_err()));
    // A verified-token cache hit: digest of the whole token, lookup, time rules.
    let cache = rocket_keycloak::testing::TokenCache::new(std::time::Duration::from_secs(60));
    let claims = check(&rs256).unwrap();
    let entry = rocket_keycloak::testing::Accepted {
        identity: std::sync::Arc::new(Identity::from(claims.clone())),
        kid: "rsa1".into(),
        exp: claims.exp,
        nbf: claims.nbf,
        iat: claims.iat,
    };
    cache.accept(rocket_keycloak::testing::digest(&rs256), entry, now);
    c.bench_function("validate_cached_hit", |b| {
        b.iter(|| {
            let digest = rocket_keycloak::testing::digest(black_box(&rs256));
            let hit = cache.accepted(&digest, now, &keys).unwrap();
            rules.check_time_claims(hit.exp, hit.nbf, hit.iat, now).unwrap();
            hit.identity.clone()
        })
    });
    let identity = Identity::from(check(&rs256).unwrap());
    c.bench_function("role_check", |b| {
        b.iter(|| black_box(&identity).has_realm_role(black_box("admin")))
    });
    let header = format!("Bearer {rs256}");
    c.bench_function("authorization_header_parse", |b| {
        b.iter(|| authorization_token(std::iter::once(black_box(header.as_str()))).unwrap())
    });
    // A DPoP proof: parsed, its key's thumbprint taken, its ES256 signature verified, every
    // claim checked. Proofs are single-use, so this is paid on every DPoP request.
    let client_key = TestKey::ec1();
    let app_url = url::Url::parse("http://localhost:8000").unwrap();
    let proof_rules = ProofRules::new(&algorithms, &app_url);
    let proof = dpop_proof(&client_key, "GET", "http://localhost:8000/secure-data", Some(&rs256));
    let (jkt, target) = (jkt(&client_key), ProofTarget { method: "GET", path: "/secure-data" });
    // The proof's own time (the benches before took longer than its 5 s of future slack).
    let at = rocket_keycloak_testkit::now();
    proof_rules.check(&proof, &rs256, &jkt, target, at).unwrap();
    c.bench_function("dpop_proof_check_es256", |b| {
        b.iter(|| proof_rules.check(black_box(&proof), &rs256, &jkt, target, at).unwrap())
    });
    // A proof by another key than the token's (what a thief of the token alone can send):
    // refused at the thumbprint, before any signature check.
    let stolen = dpop_proof(
        &TestKey::ec1().with_kid("x"),
        "GET",
        "http://localhost:8000/secure-data",
        Some(&rs256),
    );
    let other_jkt = "not-the-thumbprint-of-ec1";
    assert!(proof_rules.check(&stolen, &rs256, other_jkt, target, at).is_err());
    c.bench_function("dpop_proof_refuse_other_key", |b| {
        b.iter(|| proof_rules.check(black_box(&stolen), &rs256, other_jkt, target, at).unwrap_err())
    });
}

criterion_group!(validate, benches);
criterion_main!(validate);
