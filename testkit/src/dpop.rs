//! DPoP (RFC 9449) for the tests: proofs signed by a fixture key, the key's thumbprint, and
//! the claims of a DPoP-bound access token as Keycloak 26 issues them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::idp::Idp;
use crate::keys::TestKey;
use crate::tokens::{access_claims, alg_name, mint_with_header, now};

/// The public JWK of `key` as a proof carries it (no `kid` or `use`).
pub fn proof_jwk(key: &TestKey) -> Value {
    let mut jwk = key.jwk.clone();
    let object = jwk.as_object_mut().expect("a JWK is an object");
    object.remove("kid");
    object.remove("use");
    jwk
}

/// The RFC 7638 SHA-256 thumbprint of `key` (what Keycloak puts into `cnf.jkt`).
pub fn jkt(key: &TestKey) -> String {
    let jwk: Jwk = serde_json::from_value(key.jwk.clone()).expect("jwk");
    jwk.thumbprint(ThumbprintHash::SHA256).expect("thumbprint")
}

/// `ath`: the base64url SHA-256 of an access token.
pub fn ath(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
}

/// The standard proof header for `key`: `typ: dpop+jwt`, its `alg`, its public `jwk`.
pub fn proof_header(key: &TestKey) -> Value {
    json!({"typ": "dpop+jwt", "alg": alg_name(key.alg), "jwk": proof_jwk(key)})
}

/// The standard proof claims: a fresh `jti`, `htm`, `htu`, `iat` now, and `ath` when a
/// token is given.
pub fn proof_claims(method: &str, url: &str, access_token: Option<&str>) -> Value {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut claims = json!({
        "jti": format!("proof-{}-{n}", now()), "htm": method, "htu": url, "iat": now(),
    });
    if let Some(token) = access_token {
        claims["ath"] = json!(ath(token));
    }
    claims
}

/// A DPoP proof by `key` for `method` on `url`, bound to `access_token` when given.
pub fn dpop_proof(key: &TestKey, method: &str, url: &str, access_token: Option<&str>) -> String {
    mint_with_header(key, &proof_header(key), &proof_claims(method, url, access_token))
}

/// Keycloak-shaped claims of an access token bound to `key`: `typ: DPoP` and `cnf.jkt`.
pub fn dpop_access_claims(idp: &Idp, username: &str, realm_roles: &[&str], key: &TestKey) -> Value {
    let mut claims = access_claims(idp, username, realm_roles);
    claims["typ"] = json!("DPoP");
    claims["cnf"] = json!({"jkt": jkt(key), "kc-jkt-type": "DPoP"});
    claims
}
