//! Rules 1–3 of `tokens.rs`: the checks on the raw token before any key is looked up.
//!
//! Decisions:
//! - The size ([`MAX_TOKEN_BYTES`]) is checked before any parsing, and the shape before
//!   any decoding: a token is three non-empty base64url parts (JWS compact form) and
//!   nothing else; a five-part JWE is refused as encrypted, not as malformed.
//! - The header must not say where its key is (`jku`, `x5u`, `jwk`, `x5c`) nor carry
//!   extensions we do not know (`crit`); a header naming a member twice is refused.
//! - A header without `kid` passes here: rule 4 (in `tokens.rs`) decides whether exactly
//!   one published key may verify it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use super::error::TokenError;

/// Tokens longer than this are refused before parsing (Keycloak's are 1–3 KiB).
pub(crate) const MAX_TOKEN_BYTES: usize = 16 * 1024;

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

/// Rules 1–3: size, shape and header, before any key is looked up.
pub(super) fn check_format(token: &str) -> Result<TokenHeader, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::TooLarge);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature)) = (parts.next(), parts.next(), parts.next())
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
