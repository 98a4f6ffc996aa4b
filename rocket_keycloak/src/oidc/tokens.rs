//! Token validation: every rule an access token must pass, in one place, without I/O.
//!
//! [`TokenRules`] is built once from the configuration; [`TokenRules::check_format`] and
//! [`TokenRules::verify`] take the token, the key and the current time, so the rules are
//! unit-testable with any clock.
//!
//! The rules, in order of cost (cheap refusals first):
//! 1. at most [`MAX_TOKEN_BYTES`], checked before any parsing;
//! 2. JWS compact form: three base64url parts (a five-part JWE is refused);
//! 3. the header carries none of `jku`, `x5u`, `jwk`, `x5c` or `crit`: a token must not
//!    tell us where its key is, and extensions we do not know are refused;
//! 4. the key (chosen by the caller) is the published key named by the header's `kid`; a
//!    token without `kid` is verified only by the one published key suitable for its
//!    header `alg` (`KeySet::only_key_for`): with several candidates none is tried and the
//!    token is refused ([`TokenError::MissingKeyId`]), never tried against each. The header
//!    `alg` must equal the key's algorithm, which is in the configured allow-list: the
//!    token never picks the algorithm, so `none` and `HS*` cannot pass;
//! 5. the signature;
//! 6. `iss` equal to the issuer, `aud` (string or list) containing the audience, and the
//!    Keycloak payload `typ` equal to the expected [`TokenKind`] (`Bearer` for access
//!    tokens), so ID, refresh and logout tokens are not access tokens; a DPoP-bound access
//!    token is exactly `typ: DPoP` with `cnf.jkt` (RFC 9449 §6), and `cnf` on anything else
//!    is refused (`TokenKind::admits`);
//! 7. optionally, `azp` in the configured allow-list (`oidc.allowed_azp`);
//! 8. `exp` required, `nbf` and `iat` checked, all with the leeway.
//!
//! The jsonwebtoken crate checks the signature, `iss`, `aud` and claim presence; the time
//! rules are ours so that `now` is injected and cached tokens (which skip 1–6) are still
//! re-checked on every use.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use super::jwks::VerifyingKey;
use crate::identity::Claims;

/// Tokens longer than this are refused before parsing (Keycloak's are 1–3 KiB).
pub(crate) const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// The kinds of Keycloak token this crate verifies, told apart by the payload's `typ`.
///
/// Keycloak also issues `Refresh` tokens; they are never verified here (only Keycloak reads
/// them), so they have no kind and can pass as nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(not(feature = "sign-in"), allow(dead_code))] // ID and logout tokens are the sign-in's
pub enum TokenKind {
    /// An access token (`typ: Bearer`): what API callers present.
    Access,
    /// An ID token (`typ: ID`): proof of a browser sign-in.
    Id,
    /// A back-channel logout token (`typ: Logout`).
    Logout,
}

impl TokenKind {
    /// The `typ` claim Keycloak puts into tokens of this kind.
    pub fn typ(self) -> &'static str {
        match self {
            Self::Access => "Bearer",
            Self::Id => "ID",
            Self::Logout => "Logout",
        }
    }
}

impl TokenKind {
    /// Rule 6's kind check: the payload's `typ` and key binding (`cnf.jkt`) together. An
    /// access token is either a plain one (`typ: Bearer`, no `cnf`) or a DPoP-bound one
    /// (`typ: DPoP` with `cnf.jkt`, as Keycloak 26 issues them); every other mix is refused,
    /// so a bound token cannot pass for a plain one nor the other way round. Other kinds are
    /// never bound.
    pub(crate) fn admits(self, typ: Option<&str>, bound_key: Option<&str>) -> bool {
        match (self, typ, bound_key) {
            (Self::Access, Some("DPoP"), Some(jkt)) => !jkt.is_empty(),
            (kind, Some(typ), None) => typ == kind.typ(),
            _ => false,
        }
    }
}

impl std::fmt::Display for TokenKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Access => "access",
            Self::Id => "ID",
            Self::Logout => "logout",
        })
    }
}

/// Why a token was refused. The `Display` text is the public `error_description`; the
/// `Debug` form is for logs. Neither ever contains the token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenError {
    /// Longer than `MAX_TOKEN_BYTES` (16 KiB).
    TooLarge,
    /// Not a JWS in compact form (wrong number of parts, bad base64, bad JSON).
    Malformed(&'static str),
    /// A JWE (five parts).
    Encrypted,
    /// The header has no `kid`, and not exactly one published key suits its `alg`.
    MissingKeyId,
    /// The header carries `jku`, `x5u`, `jwk`, `x5c` or `crit`.
    ForbiddenHeader(&'static str),
    /// No published signature key has this `kid`.
    UnknownKey,
    /// The header `alg` is not the key's algorithm.
    AlgorithmMismatch,
    /// The signature does not verify.
    BadSignature,
    /// A required claim is missing or has the wrong type.
    BadClaim(String),
    /// `iss` is not the configured issuer.
    WrongIssuer,
    /// `aud` does not contain the expected audience.
    WrongAudience,
    /// Keycloak's `typ` is not the expected token kind.
    WrongKind,
    /// `azp` is not in the configured allow-list.
    ForeignClient,
    /// `exp` is past (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    IssuedInFuture,
    /// A DPoP-bound token presented as a plain bearer token (RFC 9449 §7.1): a stolen
    /// token without its key.
    DpopBound,
    /// A plain token where a DPoP-bound one is required (the `DPoP` scheme, or the
    /// `required` policy).
    NotDpopBound,
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::TooLarge => "The token is too large",
            Self::Malformed(_) => "The token is malformed",
            Self::Encrypted => "Encrypted tokens are not supported",
            Self::MissingKeyId | Self::ForbiddenHeader(_) => "The token header is not acceptable",
            Self::UnknownKey => "The token is signed with an unknown key",
            Self::AlgorithmMismatch | Self::BadSignature => "The token signature is invalid",
            Self::BadClaim(_) => "The token claims are invalid",
            Self::WrongIssuer => "The token has the wrong issuer",
            Self::WrongAudience => "The token is not meant for this service",
            Self::WrongKind => "The token is not an access token",
            Self::ForeignClient => "The token was issued to a client that is not allowed",
            Self::Expired => "The token has expired",
            Self::NotYetValid | Self::IssuedInFuture => "The token is not valid yet",
            Self::DpopBound => {
                "The token is DPoP-bound: present it with the DPoP scheme and a proof"
            }
            Self::NotDpopBound => "A DPoP-bound token is required",
        })
    }
}

impl std::error::Error for TokenError {}

impl TokenError {
    /// The `reason` label of `rocket_keycloak_token_rejections_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::TooLarge | Self::Malformed(_) | Self::Encrypted => "malformed",
            Self::MissingKeyId | Self::ForbiddenHeader(_) => "header",
            Self::UnknownKey => "unknown_kid",
            Self::AlgorithmMismatch => "algorithm",
            Self::BadSignature => "signature",
            Self::BadClaim(_) => "claims",
            Self::WrongIssuer => "issuer",
            Self::WrongAudience => "audience",
            Self::WrongKind | Self::DpopBound | Self::NotDpopBound => "type",
            Self::ForeignClient => "azp",
            Self::Expired => "expired",
            Self::NotYetValid | Self::IssuedInFuture => "not_yet_valid",
        }
    }

    /// Whether the same token will always fail the same way (so the refusal may be
    /// remembered). Unknown keys may appear after a refresh, a token without `kid` may find
    /// its one key after the set changes, and times move on, so those refusals are not
    /// permanent.
    pub fn is_permanent(&self) -> bool {
        !matches!(
            self,
            Self::UnknownKey | Self::MissingKeyId | Self::NotYetValid | Self::IssuedInFuture
        )
    }
}

/// What a token's unverified payload claims about its times: read only to decide whether a
/// request naming an unknown key may wait for a refetch (see `keystore.rs`), never to
/// accept a token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ClaimedIssue {
    /// The token cannot pass whatever its key: the payload is unreadable, or `exp` is
    /// missing, or the times fail rule 8.
    CannotPass,
    /// Issued at the latest this many seconds from now (negative: ago), the leeway for the
    /// provider's clock and the claim's whole-second rounding included.
    By(f64),
    /// The payload has no `iat`.
    Unknown,
}

/// The issuer a token names in its unverified payload (bounded by rule 1, which the caller
/// has applied): read only to choose the realm whose rules then judge it, never to accept
/// it. `None` if the payload is unreadable or names none.
pub(crate) fn claimed_issuer(token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct RawIssuer {
        iss: Option<String>,
    }
    let payload = URL_SAFE_NO_PAD.decode(token.split('.').nth(1)?).ok()?;
    serde_json::from_slice::<RawIssuer>(&payload).ok()?.iss
}

/// The two time claims [`TokenRules::claimed_issue`] reads.
#[derive(Deserialize)]
struct RawTimes {
    exp: Option<f64>,
    iat: Option<f64>,
}

/// What the header says, read before the key is chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHeader {
    /// The key id, if the token names one.
    pub kid: Option<String>,
    /// The algorithm the token claims.
    pub alg: String,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    kid: Option<String>,
    jku: Option<serde::de::IgnoredAny>,
    x5u: Option<serde::de::IgnoredAny>,
    jwk: Option<serde::de::IgnoredAny>,
    x5c: Option<serde::de::IgnoredAny>,
    crit: Option<serde::de::IgnoredAny>,
}

/// The checks for one kind of token, built once.
#[derive(Debug, Clone)]
pub struct TokenRules {
    kind: TokenKind,
    leeway: u64,
    allowed_azp: Option<Vec<String>>,
    validations: HashMap<Algorithm, Validation>,
}

impl TokenRules {
    /// Rules for tokens of `kind` from `issuer` for `audience`. This is the one function
    /// that holds the security settings.
    pub fn new(
        kind: TokenKind,
        issuer: &str,
        audience: &str,
        leeway_secs: u64,
        algorithms: &[Algorithm],
    ) -> Self {
        let validations = algorithms
            .iter()
            .map(|&alg| {
                // One algorithm per validation: the key's. The header must name exactly it.
                let mut v = Validation::new(alg);
                // A logout token may name a `sid` without a `sub` (Back-Channel Logout §2.4);
                // access and ID tokens must say whose they are.
                v.set_required_spec_claims(match kind {
                    TokenKind::Logout => &["exp", "iss", "aud"][..],
                    TokenKind::Access | TokenKind::Id => &["exp", "iss", "aud", "sub"],
                });
                v.set_issuer(&[issuer]);
                v.set_audience(&[audience]);
                v.validate_aud = true;
                // Time rules are applied in `check_times`, with an injected clock.
                v.validate_exp = false;
                v.validate_nbf = false;
                v.leeway = 0;
                (alg, v)
            })
            .collect();
        Self { kind, leeway: leeway_secs, allowed_azp: None, validations }
    }

    /// Also requires `azp` to be one of `clients` (when `Some`).
    pub fn with_allowed_azp(mut self, clients: Option<Vec<String>>) -> Self {
        self.allowed_azp = clients;
        self
    }

    /// Step 1–3: size, shape and header, before any key is looked up.
    pub fn check_format(&self, token: &str) -> Result<TokenHeader, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLarge);
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed("not three parts"));
        };
        match parts.count() {
            0 => {}
            2 => return Err(TokenError::Encrypted),
            _ => return Err(TokenError::Malformed("not three parts")),
        }
        if [header, payload, signature].iter().any(|p| p.is_empty()) {
            return Err(TokenError::Malformed("empty part"));
        }
        let base64url = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        if !token.bytes().all(|b| b == b'.' || base64url(b)) {
            return Err(TokenError::Malformed("characters outside base64url"));
        }
        let header = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| TokenError::Malformed("header is not base64url"))?;
        let header: RawHeader = serde_json::from_slice(&header)
            .map_err(|_| TokenError::Malformed("header is not a JSON object"))?;
        let forbidden = [
            ("jku", header.jku.is_some()),
            ("x5u", header.x5u.is_some()),
            ("jwk", header.jwk.is_some()),
            ("x5c", header.x5c.is_some()),
            ("crit", header.crit.is_some()),
        ];
        if let Some((name, _)) = forbidden.iter().find(|(_, present)| *present) {
            return Err(TokenError::ForbiddenHeader(name));
        }
        Ok(TokenHeader { kid: header.kid, alg: header.alg })
    }

    /// Steps 4–7: algorithm binding, signature, claims and times at `now` (Unix seconds).
    pub fn verify(
        &self,
        token: &str,
        header: &TokenHeader,
        key: &VerifyingKey,
        now: u64,
    ) -> Result<Claims, TokenError> {
        if header.alg.parse::<Algorithm>().ok() != Some(key.algorithm) {
            return Err(TokenError::AlgorithmMismatch);
        }
        let validation =
            self.validations.get(&key.algorithm).ok_or(TokenError::AlgorithmMismatch)?;
        let claims = jsonwebtoken::decode::<Claims>(token, &key.key, validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => TokenError::BadSignature,
                ErrorKind::InvalidAlgorithm => TokenError::AlgorithmMismatch,
                ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
                ErrorKind::InvalidAudience => TokenError::WrongAudience,
                ErrorKind::MissingRequiredClaim(c) => TokenError::BadClaim(format!("missing {c}")),
                ErrorKind::InvalidClaimFormat(c) => TokenError::BadClaim(format!("bad {c}")),
                ErrorKind::Json(e) => TokenError::BadClaim(e.to_string()),
                ErrorKind::Base64(_) | ErrorKind::Utf8(_) | ErrorKind::InvalidToken => {
                    TokenError::Malformed("payload or signature is not valid")
                }
                _ => TokenError::BadSignature,
            })?
            .claims;
        if !self.kind.admits(claims.typ.as_deref(), claims.bound_key()) {
            return Err(TokenError::WrongKind);
        }
        if let Some(allowed) = &self.allowed_azp
            && !claims.azp.as_ref().is_some_and(|azp| allowed.contains(azp))
        {
            return Err(TokenError::ForeignClient);
        }
        self.check_times(&claims, now)?;
        Ok(claims)
    }

    /// When the token claims it was issued, from its unverified payload (bounded by rule 1,
    /// which the caller has applied). See [`ClaimedIssue`].
    pub(crate) fn claimed_issue(&self, token: &str, now: u64) -> ClaimedIssue {
        let times = token
            .split('.')
            .nth(1)
            .and_then(|payload| URL_SAFE_NO_PAD.decode(payload).ok())
            .and_then(|payload| serde_json::from_slice::<RawTimes>(&payload).ok());
        let Some(RawTimes { exp: Some(exp), iat }) = times else {
            return ClaimedIssue::CannotPass;
        };
        if self.check_time_claims(exp, None, iat, now).is_err() {
            return ClaimedIssue::CannotPass;
        }
        match iat {
            Some(iat) => ClaimedIssue::By(iat + self.leeway as f64 + 1.0 - now as f64),
            None => ClaimedIssue::Unknown,
        }
    }

    /// Step 7 alone.
    pub fn check_times(&self, claims: &Claims, now: u64) -> Result<(), TokenError> {
        self.check_time_claims(claims.exp, claims.nbf, claims.iat, now)
    }

    /// Step 7 on bare `exp`, `nbf`, `iat`: for tokens whose signature was verified before.
    pub fn check_time_claims(
        &self,
        exp: f64,
        nbf: Option<f64>,
        iat: Option<f64>,
        now: u64,
    ) -> Result<(), TokenError> {
        let now = now as f64;
        let leeway = self.leeway as f64;
        if exp + leeway <= now {
            return Err(TokenError::Expired);
        }
        if nbf.is_some_and(|nbf| nbf > now + leeway) {
            return Err(TokenError::NotYetValid);
        }
        if iat.is_some_and(|iat| iat > now + leeway) {
            return Err(TokenError::IssuedInFuture);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
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
            assert_eq!(
                r.claimed_issue(&token(hopeless), now),
                ClaimedIssue::CannotPass,
                "{hopeless}"
            );
        }
        assert_eq!(r.claimed_issue("a.!!.c", now), ClaimedIssue::CannotPass);
    }
}
