//! The token decoder/validator entry point with a fixed key set: any input is refused
//! cleanly (no panic), and nothing but the one real token is ever accepted.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use rocket_keycloak::DEFAULT_ALGORITHMS;
use rocket_keycloak::testing::KeySet;
use rocket_keycloak::testing::{TokenKind, TokenRules};
use rocket_keycloak_testkit::TestKey;

const ISSUER: &str = "http://localhost:8080/realms/demo";
const NOW: u64 = 1_800_000_000;

static SETUP: LazyLock<(KeySet, TokenRules)> = LazyLock::new(|| {
    let jwks = serde_json::json!({"keys": [TestKey::rsa1().jwk, TestKey::ec1().jwk]}).to_string();
    let (keys, _) = KeySet::from_json(jwks.as_bytes(), &DEFAULT_ALGORITHMS).unwrap();
    (keys, TokenRules::new(TokenKind::Access, ISSUER, "demo-app", 60, &DEFAULT_ALGORITHMS))
});

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else { return };
    let (keys, rules) = &*SETUP;
    let Ok(header) = rules.check_format(token) else { return };
    let key = match &header.kid {
        Some(kid) => keys.get(kid),
        None => keys.only_key_for(&header.alg),
    };
    let Some(key) = key else { return };
    if let Ok(claims) = rules.verify(token, &header, key, NOW) {
        // Only tokens signed with the fixture keys can get here: the fuzzer cannot forge.
        assert_eq!(claims.iss, ISSUER);
        assert_eq!(claims.typ.as_deref(), Some("Bearer"));
    }
});
