//! The checks of an introspection answer (RFC 7662 §2.2), without I/O: an inactive or
//! unreadable answer, or one that would not pass as this realm's access token, refuses the
//! token.

use std::sync::Arc;

use serde_json::Value;

use crate::identity::{Claims, Identity};
use crate::oidc::tokens::{TokenError, TokenKind, TokenRules};

/// What an active answer must say, for one realm.
pub(super) struct Expected {
    /// The realm's issuer.
    pub(super) issuer: String,
    /// The audience `aud` must hold.
    pub(super) audience: String,
    /// The clients `azp` may name, if restricted.
    pub(super) allowed_azp: Option<Vec<String>>,
}

/// The caller, from an answer (a JSON object; anything else is no answer, an outage):
/// the identity and the token's `exp`.
pub(super) fn judge(
    value: Value,
    expected: &Expected,
    rules: &TokenRules,
    now: u64,
) -> Result<(Arc<Identity>, f64), TokenError> {
    // Exactly `true`: a string "true", a missing field or anything else is inactive.
    if value.get("active") != Some(&Value::Bool(true)) {
        return Err(TokenError::Inactive);
    }
    let audience_ok = match value.get("aud") {
        Some(Value::String(aud)) => *aud == expected.audience,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(&expected.audience)),
        _ => false,
    };
    let claims: Claims =
        serde_json::from_value(value).map_err(|e| TokenError::BadClaim(e.to_string()))?;
    if claims.iss.as_str() != expected.issuer {
        return Err(TokenError::WrongIssuer);
    }
    if !audience_ok {
        return Err(TokenError::WrongAudience);
    }
    if !TokenKind::Access.admits(claims.typ.as_deref(), claims.bound_key()) {
        return Err(TokenError::WrongKind);
    }
    if let Some(allowed) = &expected.allowed_azp
        && !claims.azp.as_ref().is_some_and(|azp| allowed.contains(azp))
    {
        return Err(TokenError::ForeignClient);
    }
    if claims.sub.as_str().is_empty() {
        return Err(TokenError::BadClaim("missing sub".into()));
    }
    rules.check_times(&claims, now)?;
    let exp = claims.exp;
    Ok((Arc::new(Identity::from(claims)), exp))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ISSUER: &str = "https://kc.example/realms/demo";
    const NOW: u64 = 1_000_000;

    fn check(answer: Value) -> Result<(Arc<Identity>, f64), TokenError> {
        let expected = Expected {
            issuer: ISSUER.into(),
            audience: "demo-app".into(),
            allowed_azp: Some(vec!["demo-light".into()]),
        };
        let rules = TokenRules::new(TokenKind::Access, ISSUER, "demo-app", 60, &[]);
        judge(answer, &expected, &rules, NOW)
    }

    fn active() -> Value {
        json!({
            "active": true, "iss": ISSUER, "aud": ["demo-app", "account"], "sub": "u1",
            "typ": "Bearer", "azp": "demo-light", "exp": NOW + 60, "iat": NOW,
            "realm_access": {"roles": ["admin"]},
            "resource_access": {"demo-app": {"roles": ["editor"]}},
        })
    }

    fn with(field: &str, value: Value) -> Value {
        let mut answer = active();
        answer[field] = value;
        answer
    }

    #[test]
    fn an_active_answer_keeps_the_realm_and_client_role_split() {
        let (identity, exp) = check(active()).unwrap();
        assert_eq!((identity.sub.as_str(), exp), ("u1", (NOW + 60) as f64));
        assert!(identity.has_realm_role("admin") && !identity.has_realm_role("editor"));
        assert!(identity.has_client_role("demo-app", "editor"));
        assert!(!identity.has_client_role("demo-app", "admin"));
    }

    #[test]
    fn an_answer_that_is_not_exactly_active_or_would_not_pass_as_a_token_is_refused() {
        let cases = [
            ("inactive", json!({"active": false}), TokenError::Inactive),
            ("active as a string", with("active", json!("true")), TokenError::Inactive),
            ("no active field", json!({"sub": "u1"}), TokenError::Inactive),
            (
                "another issuer",
                with("iss", json!("https://evil/realms/demo")),
                TokenError::WrongIssuer,
            ),
            ("another audience", with("aud", json!("other")), TokenError::WrongAudience),
            ("no audience", with("aud", Value::Null), TokenError::WrongAudience),
            ("a refresh token", with("typ", json!("Refresh")), TokenError::WrongKind),
            ("a foreign client", with("azp", json!("other")), TokenError::ForeignClient),
            ("expired", with("exp", json!(NOW - 61)), TokenError::Expired),
        ];
        for (name, answer, error) in cases {
            assert_eq!(check(answer).unwrap_err(), error, "{name}");
        }
        for (name, answer) in
            [("no sub", with("sub", json!(""))), ("no exp", with("exp", Value::Null))]
        {
            assert!(matches!(check(answer), Err(TokenError::BadClaim(_))), "{name}");
        }
    }
}
