#![allow(missing_docs)]
//! Cost of the guard's work per request: token validation (fresh), a verified-token cache
//! hit, a forged token, the role check and the Authorization header parse.
//! `cargo bench --bench validate` (criterion).
//!
//! Compare crypto backends with
//! `cargo bench --bench validate` and
//! `cargo bench --bench validate --no-default-features --features rust-crypto`.

use std::hint::black_box;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey};
use rocket_keycloak::guards::bearer_token;
use rocket_keycloak::identity::Identity;
use rocket_keycloak::oidc::jwks::KeySet;
use rocket_keycloak::oidc::tokens::TokenRules;
use serde_json::json;

const ISSUER: &str = "http://localhost:8080/realms/demo";

fn key(pem: &str, alg: Algorithm, kid: &str) -> (EncodingKey, serde_json::Value) {
    let encoding = match alg {
        Algorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()),
        _ => EncodingKey::from_rsa_pem(pem.as_bytes()),
    }
    .unwrap();
    let mut jwk = serde_json::to_value(Jwk::from_encoding_key(&encoding, alg).unwrap()).unwrap();
    jwk["kid"] = json!(kid);
    (encoding, jwk)
}

fn mint(encoding: &EncodingKey, alg: Algorithm, kid: &str) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let header = json!({"alg": serde_json::to_value(alg).unwrap(), "typ": "JWT", "kid": kid});
    let claims = json!({
        "exp": now + 3600, "iat": now, "iss": ISSUER, "aud": ["demo-app", "account"],
        "sub": "f3b1c2d4-0000-4000-8000-000000000001", "typ": "Bearer", "azp": "demo-app",
        "sid": "c0ffee00-0000-4000-8000-000000000002", "scope": "openid profile email",
        "realm_access": {"roles": ["default-roles-demo", "offline_access", "uma_authorization", "user"]},
        "resource_access": {"account": {"roles": ["manage-account", "view-profile"]}},
        "preferred_username": "alice", "email": "alice@example.com", "name": "Alice Liddell",
        "given_name": "Alice", "family_name": "Liddell", "email_verified": true,
    });
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), encoding, alg).unwrap();
    format!("{message}.{signature}")
}

fn benches(c: &mut Criterion) {
    let (rsa, rsa_jwk) =
        key(include_str!("../tests/fixtures/keys/rsa1.pem"), Algorithm::RS256, "rsa1");
    let (ec, ec_jwk) = key(include_str!("../tests/fixtures/keys/ec1.pem"), Algorithm::ES256, "ec1");
    let (forger, _) =
        key(include_str!("../tests/fixtures/keys/rsa2.pem"), Algorithm::RS256, "rsa1");
    let jwks = json!({"keys": [rsa_jwk, ec_jwk]}).to_string();
    let algorithms = rocket_keycloak::config::DEFAULT_ALGORITHMS;
    let (keys, _) = KeySet::from_json(jwks.as_bytes(), &algorithms).unwrap();
    let rules = TokenRules::new("Bearer", ISSUER, "demo-app", 60, &algorithms);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();

    let check = |token: &str| {
        let header = rules.check_format(token)?;
        let key =
            keys.get(&header.kid).ok_or(rocket_keycloak::oidc::tokens::TokenError::UnknownKey)?;
        rules.verify(token, &header, key, now)
    };

    let rs256 = mint(&rsa, Algorithm::RS256, "rsa1");
    let es256 = mint(&ec, Algorithm::ES256, "ec1");
    let forged = mint(&forger, Algorithm::RS256, "rsa1");
    assert!(check(&rs256).is_ok() && check(&es256).is_ok() && check(&forged).is_err());

    c.bench_function("validate_fresh_rs256", |b| b.iter(|| check(black_box(&rs256)).unwrap()));
    c.bench_function("validate_fresh_es256", |b| b.iter(|| check(black_box(&es256)).unwrap()));
    c.bench_function("reject_forged_rs256", |b| b.iter(|| check(black_box(&forged)).unwrap_err()));
    // A verified-token cache hit: digest of the whole token, lookup, time rules.
    let cache = rocket_keycloak::oidc::cache::TokenCache::default();
    let claims = check(&rs256).unwrap();
    let entry = rocket_keycloak::oidc::cache::Accepted {
        identity: std::sync::Arc::new(Identity::from(claims.clone())),
        kid: "rsa1".into(),
        exp: claims.exp,
        nbf: claims.nbf,
        iat: claims.iat,
    };
    cache.accept(rocket_keycloak::oidc::cache::digest(&rs256), entry, now);
    c.bench_function("validate_cached_hit", |b| {
        b.iter(|| {
            let digest = rocket_keycloak::oidc::cache::digest(black_box(&rs256));
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
        b.iter(|| bearer_token(std::iter::once(black_box(header.as_str()))).unwrap())
    });
}

criterion_group!(validate, benches);
criterion_main!(validate);
