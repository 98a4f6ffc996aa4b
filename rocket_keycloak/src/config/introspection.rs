//! `introspection` and `introspection_cache_max_age`: whether access tokens are also checked
//! with the realm's introspection endpoint (RFC 7662), and how long an active answer is
//! reused.
//!
//! Decisions:
//! - `off` by default: nothing changes and the hot path pays one branch.
//! - Introspection needs the app's confidential credentials (`client_id` and
//!   `client_secret`): without a secret, `fallback` and `always` fail launch naming
//!   `client_secret`, rather than every lightweight token getting a 503 later.
//! - `introspection_cache_max_age` (30 s by default, at most one hour) bounds how long a
//!   revoked token may still pass; `0` asks Keycloak on every request.

use std::time::Duration;

use super::error::ConfigError;

/// Longest `introspection_cache_max_age` accepted.
const MAX_CACHE_AGE_SECS: u64 = 3600;
/// `introspection_cache_max_age` unless set.
const DEFAULT_CACHE_AGE_SECS: u64 = 30;

/// When an access token is checked with Keycloak (`oidc.introspection`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum IntrospectionMode {
    /// Never: tokens are verified locally only (the default).
    #[default]
    Off,
    /// A locally verified JWT is introspected only when it lacks the caller's claims (a
    /// lightweight token: no `sub`, or no role claims); a token that is not a JWT is
    /// introspected; a JWT that fails local verification is refused.
    Fallback,
    /// Every token is checked with Keycloak (after the local checks, for a JWT), so a
    /// revocation is seen within the cache age.
    Always,
}

/// The introspection settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntrospectionConfig {
    /// When tokens are introspected.
    pub mode: IntrospectionMode,
    /// How long an active answer is reused at most (never past the token's `exp`).
    pub cache_max_age: Duration,
}

impl Default for IntrospectionConfig {
    fn default() -> Self {
        Self {
            mode: IntrospectionMode::Off,
            cache_max_age: Duration::from_secs(DEFAULT_CACHE_AGE_SECS),
        }
    }
}

impl IntrospectionConfig {
    /// Parses `introspection` and `introspection_cache_max_age`; `has_secret` says whether
    /// `client_secret` is set.
    pub(super) fn parse(
        mode: Option<String>,
        max_age: Option<u64>,
        has_secret: bool,
    ) -> Result<Self, ConfigError> {
        let mode = match mode.as_deref().map(str::trim) {
            None | Some("off") => IntrospectionMode::Off,
            Some("fallback") => IntrospectionMode::Fallback,
            Some("always") => IntrospectionMode::Always,
            Some(other) => {
                return Err(ConfigError::new(
                    "introspection",
                    format!("{other:?} is not one of \"off\", \"fallback\", \"always\""),
                ));
            }
        };
        if mode != IntrospectionMode::Off && !has_secret {
            return Err(ConfigError::new(
                "client_secret",
                "introspection needs the app's confidential client: set client_secret, or \
                 introspection = \"off\"",
            ));
        }
        let secs = max_age.unwrap_or(DEFAULT_CACHE_AGE_SECS);
        if secs > MAX_CACHE_AGE_SECS {
            return Err(ConfigError::new(
                "introspection_cache_max_age",
                format!("must be at most {MAX_CACHE_AGE_SECS} seconds"),
            ));
        }
        Ok(Self { mode, cache_max_age: Duration::from_secs(secs) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn introspection_is_off_unless_named_and_needs_a_secret() {
        let parse = |mode: Option<&str>, age, secret| {
            IntrospectionConfig::parse(mode.map(Into::into), age, secret)
        };
        assert_eq!(parse(None, None, false).unwrap(), IntrospectionConfig::default());
        assert_eq!(parse(Some("always"), Some(0), true).unwrap().mode, IntrospectionMode::Always);
        assert_eq!(parse(Some("fallback"), None, true).unwrap().mode, IntrospectionMode::Fallback);
        assert_eq!(parse(Some("fallback"), None, false).unwrap_err().key, "oidc.client_secret");
        assert_eq!(parse(Some("sometimes"), None, true).unwrap_err().key, "oidc.introspection");
        let error = parse(Some("always"), Some(3601), true).unwrap_err();
        assert_eq!(error.key, "oidc.introspection_cache_max_age");
    }
}
