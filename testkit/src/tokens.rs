//! Token minting: compact JWS signed with a [`TestKey`], and claim sets shaped like the ones
//! Keycloak issues.
//!
//! Decisions:
//! - [`mint_with_header`] signs any header and claims JSON, whatever the header's `alg` says:
//!   hostile tests need tokens that lie about their algorithm or kid.
//! - Two sizes of access token. [`access_claims`] is a small Keycloak-shaped token for the
//!   integration tests, valid for five minutes. [`bench_access_claims`] and
//!   [`bench_user_claims`] are full-size (about 1 KB signed, as Keycloak issues them with its
//!   default roles), valid for an hour; the figures in the README were measured with exactly
//!   these claims, so their content stays as it is, or the figures stop being comparable.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

use crate::idp::Idp;
use crate::keys::TestKey;

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Keycloak-shaped access-token claims for user `username`, valid for five minutes.
pub fn access_claims(idp: &Idp, username: &str, realm_roles: &[&str]) -> Value {
    let now = now();
    json!({
        "exp": now + 300,
        "iat": now,
        "jti": format!("jti-{username}-{now}"),
        "iss": idp.issuer(),
        "aud": ["demo-app", "account"],
        "sub": format!("sub-{username}"),
        "typ": "Bearer",
        "azp": "demo-app",
        "sid": format!("sid-{username}"),
        "scope": "openid profile email",
        "realm_access": {"roles": realm_roles},
        "resource_access": {"account": {"roles": ["view-profile"]}},
        "preferred_username": username,
        "email": format!("{username}@example.com"),
        "name": format!("{username} Example"),
    })
}

/// Keycloak-shaped ID-token claims for `username` with `nonce`.
pub fn id_claims(idp: &Idp, username: &str, nonce: &str) -> Value {
    let now = now();
    json!({
        "exp": now + 300, "iat": now, "auth_time": now, "jti": format!("id-{username}-{now}"),
        "iss": idp.issuer(), "aud": "demo-app", "sub": format!("sub-{username}"), "typ": "ID",
        "azp": "demo-app", "nonce": nonce, "sid": format!("sid-{username}"),
        "preferred_username": username, "email": format!("{username}@example.com"),
    })
}

/// A token-endpoint answer with these tokens.
pub fn token_response(access: &str, id: Option<&str>, refresh: Option<&str>) -> Value {
    let mut response = json!({"access_token": access, "token_type": "Bearer", "expires_in": 300});
    if let Some(id) = id {
        response["id_token"] = json!(id);
    }
    if let Some(refresh) = refresh {
        response["refresh_token"] = json!(refresh);
    }
    response
}

/// Full-size access-token claims for Alice from `issuer`, fixed but for the times: the token
/// the per-operation benchmarks verify.
pub fn bench_access_claims(issuer: &str) -> Value {
    let mut claims = keycloak_sized(issuer);
    let profile = json!({
        "sub": "f3b1c2d4-0000-4000-8000-000000000001",
        "sid": "c0ffee00-0000-4000-8000-000000000002",
        "preferred_username": "alice", "email": "alice@example.com", "name": "Alice Liddell",
        "given_name": "Alice", "family_name": "Liddell",
    });
    merge(&mut claims, profile);
    claims
}

/// Full-size access-token claims for user `n` from `issuer`, with a `jti` of its own: the
/// bench IdP writes one token per `n`, so every token is distinct.
pub fn bench_user_claims(issuer: &str, n: usize) -> Value {
    let mut claims = keycloak_sized(issuer);
    let profile = json!({
        "jti": format!("bench-{n}"), "sub": format!("user-{n}"), "sid": format!("sid-{n}"),
        "preferred_username": format!("user{n}"), "email": format!("user{n}@example.com"),
        "name": format!("User {n}"),
    });
    merge(&mut claims, profile);
    claims
}

/// What every full-size token carries: Keycloak's default realm roles, the `account`
/// client's roles, an hour of validity.
fn keycloak_sized(issuer: &str) -> Value {
    let now = now();
    json!({
        "exp": now + 3600, "iat": now, "iss": issuer, "aud": ["demo-app", "account"],
        "typ": "Bearer", "azp": "demo-app", "scope": "openid profile email",
        "realm_access": {"roles": ["default-roles-demo", "offline_access", "uma_authorization", "user"]},
        "resource_access": {"account": {"roles": ["manage-account", "view-profile"]}},
        "email_verified": true,
    })
}

fn merge(claims: &mut Value, more: Value) {
    let (Value::Object(claims), Value::Object(more)) = (claims, more) else {
        unreachable!("claim sets are JSON objects")
    };
    claims.extend(more);
}

/// Signs `claims` with `key` and a standard header (`alg` of the key, its `kid`).
pub fn mint(key: &TestKey, claims: &Value) -> String {
    mint_with_header(key, &json!({"alg": alg_name(key.alg), "typ": "JWT", "kid": key.kid}), claims)
}

/// Signs arbitrary header and claims JSON with `key` (the header's `alg` is not checked).
pub fn mint_with_header(key: &TestKey, header: &Value, claims: &Value) -> String {
    let message = format!("{}.{}", b64(&header.to_string()), b64(&claims.to_string()));
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), &key.encoding, key.alg).expect("sign");
    format!("{message}.{signature}")
}

/// Base64url without padding, as JWS segments are encoded.
pub fn b64(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text)
}

/// The JOSE name of `alg` (`RS256`, `EdDSA`, ...).
pub fn alg_name(alg: Algorithm) -> String {
    serde_json::to_value(alg).unwrap().as_str().unwrap().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The claims as JSON text, with the times set to `exp` 3600 and `iat` 0.
    fn frozen(mut claims: Value) -> String {
        assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 3600);
        claims["exp"] = json!(3600);
        claims["iat"] = json!(0);
        claims.to_string()
    }

    // The expected texts are what the benches' own minters produced before they moved here:
    // a change to them is a change to what every benchmark figure measured.
    #[test]
    fn bench_tokens_carry_the_claims_the_figures_were_measured_with() {
        assert_eq!(
            frozen(bench_access_claims("http://localhost:8080/realms/demo")),
            r#"{"aud":["demo-app","account"],"azp":"demo-app","email":"alice@example.com","email_verified":true,"exp":3600,"family_name":"Liddell","given_name":"Alice","iat":0,"iss":"http://localhost:8080/realms/demo","name":"Alice Liddell","preferred_username":"alice","realm_access":{"roles":["default-roles-demo","offline_access","uma_authorization","user"]},"resource_access":{"account":{"roles":["manage-account","view-profile"]}},"scope":"openid profile email","sid":"c0ffee00-0000-4000-8000-000000000002","sub":"f3b1c2d4-0000-4000-8000-000000000001","typ":"Bearer"}"#
        );
        assert_eq!(
            frozen(bench_user_claims("http://127.0.0.1:18080/realms/bench", 7)),
            r#"{"aud":["demo-app","account"],"azp":"demo-app","email":"user7@example.com","email_verified":true,"exp":3600,"iat":0,"iss":"http://127.0.0.1:18080/realms/bench","jti":"bench-7","name":"User 7","preferred_username":"user7","realm_access":{"roles":["default-roles-demo","offline_access","uma_authorization","user"]},"resource_access":{"account":{"roles":["manage-account","view-profile"]}},"scope":"openid profile email","sid":"sid-7","sub":"user-7","typ":"Bearer"}"#
        );
    }

    #[test]
    fn token_response_carries_only_the_tokens_it_is_given() {
        let response = token_response("a", None, Some("r"));
        assert_eq!(response["access_token"], "a");
        assert_eq!(response["refresh_token"], "r");
        assert!(response.get("id_token").is_none());
    }

    #[test]
    fn segments_are_base64url_without_padding() {
        assert_eq!(b64("~~~"), "fn5-");
        assert_eq!(b64("~~"), "fn4");
        assert_eq!(alg_name(Algorithm::EdDSA), "EdDSA");
    }
}
