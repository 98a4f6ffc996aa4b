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
//!    is refused (`TokenKind::admits`); `sub` is required too, except in a realm that
//!    introspects lightweight tokens (`TokenRules::allowing_missing_sub`);
//! 7. optionally, `azp` in the allow-list of the token's realm (`oidc.allowed_azp` for the
//!    sign-in realm, an `oidc.issuers` entry's own for another);
//! 8. `exp` required, `nbf` and `iat` checked, all with the leeway.
//!
//! The jsonwebtoken crate checks the signature, `iss`, `aud` and claim presence; the time
//! rules are ours so that `now` is injected and cached tokens (which skip 1–6) are still
//! re-checked on every use.
//!
//! # Where each rule lives
//! This file holds the rule list, [`TokenKind`] and [`TokenRules`]: `TokenRules::new` is the
//! one place that builds the security settings, and its methods apply rules 4–8. The
//! children hold what the rules build on; they use nothing of this file (it re-exports
//! them), so the module graph has no cycle:
//! - `tokens/format.rs`: rules 1–3, on the raw token before any key is looked up
//!   ([`MAX_TOKEN_BYTES`], [`TokenHeader`]);
//! - `tokens/unverified.rs`: what the unverified payload claims ([`ClaimedIssue`],
//!   [`claimed_issuer`]), read only to choose a realm or whether to wait for a key, never
//!   to accept a token;
//! - `tokens/error.rs`: [`TokenError`], why a token was refused;
//! - `tokens/tests.rs`: the unit tests of all of them.

use std::collections::HashMap;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};

use super::jwks::VerifyingKey;
use crate::identity::Claims;

mod error;
mod format;
#[cfg(test)]
mod tests;
mod unverified;

pub use error::TokenError;
pub(crate) use format::{MAX_TOKEN_BYTES, TokenHeader};
use unverified::RawTimes;
pub(crate) use unverified::{ClaimedIssue, claimed_issuer};

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

    /// Also accepts an access token without `sub` (Keycloak's lightweight tokens), for a
    /// realm that introspects such tokens: the caller must never hand out an identity
    /// without a subject (`oidc/introspect/`).
    pub(crate) fn allowing_missing_sub(mut self) -> Self {
        for validation in self.validations.values_mut() {
            validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        }
        self
    }

    /// Rules 1–3: size, shape and header, before any key is looked up (`tokens/format.rs`).
    pub fn check_format(&self, token: &str) -> Result<TokenHeader, TokenError> {
        format::check_format(token)
    }

    /// Rules 4–8: algorithm binding, signature, claims and times at `now` (Unix seconds).
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
        let Some(RawTimes { exp: Some(exp), iat }) = unverified::claimed_times(token) else {
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

    /// Rule 8 alone.
    pub fn check_times(&self, claims: &Claims, now: u64) -> Result<(), TokenError> {
        self.check_time_claims(claims.exp, claims.nbf, claims.iat, now)
    }

    /// Rule 8 on bare `exp`, `nbf`, `iat`: for tokens whose signature was verified before.
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
