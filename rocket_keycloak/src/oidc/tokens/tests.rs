//! The token rules' unit tests: the format checks (rules 1–3), the time rules (rule 8) with
//! the leeway, and what the unverified payload may claim.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::*;

fn rules() -> TokenRules {
    TokenRules::new(TokenKind::Access, "http://idp/realms/r", "api", 60, &[Algorithm::RS256])
}

fn b64(json: &str) -> String {
    URL_SAFE_NO_PAD.encode(json)
}

#[test]
fn oversized_tokens_are_refused_before_parsing() {
    let token = "a".repeat(MAX_TOKEN_BYTES + 1);
    assert_eq!(rules().check_format(&token), Err(TokenError::TooLarge));
}

#[test]
fn shapes_other_than_three_parts_are_refused() {
    assert_eq!(rules().check_format("a.b"), Err(TokenError::Malformed("not three parts")));
    assert_eq!(rules().check_format("a.b.c.d"), Err(TokenError::Malformed("not three parts")));
    assert_eq!(rules().check_format("a.b.c.d.e"), Err(TokenError::Encrypted));
    assert_eq!(rules().check_format("a..c"), Err(TokenError::Malformed("empty part")));
    assert!(matches!(rules().check_format("!!.b.c"), Err(TokenError::Malformed(_))));
}

#[test]
fn characters_outside_base64url_are_refused() {
    for token in ["a\"b.c.d", "a+b.c.d", "a/b.c.d", "ab.c.d==", "a~b.c.d"] {
        assert_eq!(
            rules().check_format(token),
            Err(TokenError::Malformed("characters outside base64url")),
            "{token}"
        );
    }
}

#[test]
fn header_must_name_no_key_location_and_may_omit_the_kid() {
    let no_kid = format!("{}.e30.c2ln", b64(r#"{"alg":"RS256"}"#));
    assert_eq!(rules().check_format(&no_kid).unwrap().kid, None);
    for field in ["jku", "x5u", "jwk", "x5c", "crit"] {
        let header = format!(r#"{{"alg":"RS256","kid":"k","{field}":"http://evil"}}"#);
        let token = format!("{}.e30.c2ln", b64(&header));
        assert_eq!(rules().check_format(&token), Err(TokenError::ForbiddenHeader(field)));
    }
    let ok = format!("{}.e30.c2ln", b64(r#"{"alg":"RS256","kid":"k","typ":"JWT"}"#));
    assert_eq!(rules().check_format(&ok).unwrap().kid.as_deref(), Some("k"));
}

#[test]
fn duplicate_header_members_are_refused() {
    let token = format!("{}.e30.c2ln", b64(r#"{"alg":"RS256","kid":"a","kid":"b"}"#));
    assert!(matches!(rules().check_format(&token), Err(TokenError::Malformed(_))));
}

fn claims(exp: f64, nbf: Option<f64>, iat: Option<f64>) -> Claims {
    serde_json::from_value(serde_json::json!({
        "iss": "i", "sub": "s", "aud": "api", "typ": "Bearer", "exp": exp, "nbf": nbf, "iat": iat
    }))
    .unwrap()
}

#[test]
fn time_rules_apply_the_leeway() {
    let now = 1_000_000;
    let r = rules();
    assert_eq!(
        r.check_times(&claims(1_000_000.0 - 61.0, None, None), now),
        Err(TokenError::Expired)
    );
    assert_eq!(r.check_times(&claims(1_000_000.0 - 59.0, None, None), now), Ok(()));
    let fut = Some(1_000_000.0 + 61.0);
    assert_eq!(r.check_times(&claims(2e6, fut, None), now), Err(TokenError::NotYetValid));
    assert_eq!(r.check_times(&claims(2e6, None, fut), now), Err(TokenError::IssuedInFuture));
    let near = Some(1_000_000.0 + 59.0);
    assert_eq!(r.check_times(&claims(2e6, near, near), now), Ok(()));
}

#[test]
fn the_claimed_issue_time_says_only_whether_a_token_could_pass() {
    let token =
        |claims: &str| format!("{}.{}.c2ln", b64(r#"{"alg":"RS256","kid":"k"}"#), b64(claims));
    let r = rules();
    let now = 1_000_000;
    let fresh = token(r#"{"exp":1000300,"iat":1000000}"#);
    assert_eq!(r.claimed_issue(&fresh, now), ClaimedIssue::By(61.0), "iat + leeway + 1");
    let no_iat = token(r#"{"exp":1000300}"#);
    assert_eq!(r.claimed_issue(&no_iat, now), ClaimedIssue::Unknown);
    for hopeless in [
        r#"{"exp":1000300,"iat":1000061}"#,
        r#"{"exp":999939,"iat":999000}"#,
        r#"{"iat":1000000}"#,
        r#"{"exp":"soon"}"#,
        "not json",
    ] {
        assert_eq!(r.claimed_issue(&token(hopeless), now), ClaimedIssue::CannotPass, "{hopeless}");
    }
    assert_eq!(r.claimed_issue("a.!!.c", now), ClaimedIssue::CannotPass);
}
