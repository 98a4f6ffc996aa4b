//! The one-word policies of the `oidc` table: where metrics are served, whether DPoP is
//! required, and which signature algorithms are allowed (`session_store.rs` holds where
//! sessions live).

use jsonwebtoken::Algorithm;

use super::error::ConfigError;
use crate::oidc::dpop::spend::{MAX_PROOFS_PER_KEY, MAX_REMEMBERED_PROOFS};

/// Whether and where `/metrics` is served (`oidc.metrics`): `off` (the default), `on` (on the
/// app's own address) or an address such as `127.0.0.1:9100` (a listener of its own, so the
/// metrics are not exposed with the app).
///
/// Off by default: active sessions, sign-in and refresh rates and the windows of a Keycloak
/// outage tell an attacker when to strike, so nothing publishes them unasked; and a listener
/// opened by default would take a port nobody chose (two instances on one host collide, and
/// in a container loopback is out of every scraper's reach). An address is the setting to
/// prefer; `on` suits an app whose proxy keeps `/metrics` from the internet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum MetricsConfig {
    /// No endpoint, and no recorder installed for one (the default).
    #[default]
    Off,
    /// `GET /metrics` on the app's address.
    On,
    /// `GET /metrics` on this address only.
    Listener(std::net::SocketAddr),
}

impl MetricsConfig {
    pub(super) fn parse(value: Option<String>) -> Result<Self, ConfigError> {
        match value.as_deref() {
            None | Some("off") => Ok(Self::Off),
            Some("on") => Ok(Self::On),
            Some(address) => address.parse().map(Self::Listener).map_err(|_| {
                ConfigError::new(
                    "metrics",
                    "must be `off`, `on` or an address with a port, like 127.0.0.1:9100",
                )
            }),
        }
    }
}

/// Sender-constrained tokens (`oidc.dpop`, RFC 9449): `allowed` (the default: a DPoP-bound
/// token must come with a valid proof, and plain bearer tokens are accepted too) or
/// `required` (API callers must present DPoP-bound tokens; browser sessions, whose tokens
/// never leave the server, are not concerned).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DpopPolicy {
    /// DPoP-bound and plain bearer tokens.
    #[default]
    Allowed,
    /// DPoP-bound tokens only.
    Required,
}

impl DpopPolicy {
    /// `oidc.dpop_proofs_per_key`: at least 1, at most the in-process record's size.
    pub(super) fn proofs_per_key(value: Option<u64>) -> Result<usize, ConfigError> {
        let most = MAX_REMEMBERED_PROOFS as u64;
        match value {
            None => Ok(MAX_PROOFS_PER_KEY),
            Some(n) if (1..=most).contains(&n) => Ok(n as usize),
            Some(_) => Err(ConfigError::new(
                "dpop_proofs_per_key",
                format!("must be between 1 and {most} (live proofs of one client key at once)"),
            )),
        }
    }

    pub(super) fn parse(value: Option<String>) -> Result<Self, ConfigError> {
        match value.as_deref() {
            None | Some("allowed") => Ok(Self::Allowed),
            Some("required") if cfg!(feature = "dpop") => Ok(Self::Required),
            Some("required") => Err(ConfigError::new(
                "dpop",
                "`required` needs the `dpop` feature of rocket_keycloak, which this build lacks",
            )),
            Some(_) => Err(ConfigError::new("dpop", "must be `allowed` or `required`")),
        }
    }
}

/// The default algorithm allow-list: every asymmetric JWS algorithm.
pub const DEFAULT_ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// One entry of `oidc.algorithms`: a JWS algorithm name, refused if it is symmetric.
pub(super) fn parse_algorithm(name: &str) -> Result<Algorithm, ConfigError> {
    let algorithm: Algorithm = name
        .parse()
        .map_err(|_| ConfigError::new("algorithms", format!("unknown algorithm `{name}`")))?;
    if matches!(algorithm, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
        return Err(ConfigError::new(
            "algorithms",
            format!("`{name}` is symmetric; only asymmetric algorithms are allowed"),
        ));
    }
    Ok(algorithm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpop_proofs_per_key_is_a_positive_count_within_the_records_size() {
        assert_eq!(DpopPolicy::proofs_per_key(None).unwrap(), MAX_PROOFS_PER_KEY);
        assert_eq!(DpopPolicy::proofs_per_key(Some(50_000)).unwrap(), 50_000);
        for bad in [0, MAX_REMEMBERED_PROOFS as u64 + 1] {
            let error = DpopPolicy::proofs_per_key(Some(bad)).unwrap_err().to_string();
            assert!(error.contains("dpop_proofs_per_key"), "{error}");
        }
    }

    #[test]
    fn metrics_are_off_unless_configured_on_or_at_an_address() {
        let with = |value: &str| MetricsConfig::parse(Some(value.into()));
        assert_eq!(MetricsConfig::parse(None).unwrap(), MetricsConfig::Off);
        assert_eq!(with("off").unwrap(), MetricsConfig::Off);
        assert_eq!(with("on").unwrap(), MetricsConfig::On);
        assert_eq!(
            with("127.0.0.1:9100").unwrap(),
            MetricsConfig::Listener("127.0.0.1:9100".parse().unwrap())
        );
        for bad in ["yes", "9100", "localhost", ""] {
            assert_eq!(with(bad).unwrap_err().key, "oidc.metrics", "{bad:?}");
        }
    }

    #[test]
    fn symmetric_algorithms_are_refused() {
        assert_eq!(parse_algorithm("RS256").unwrap(), Algorithm::RS256);
        for name in ["HS256", "HS384", "HS512"] {
            let error = parse_algorithm(name).unwrap_err();
            assert_eq!(error.key, "oidc.algorithms", "{name}");
            assert!(error.message.contains("symmetric"), "{error}");
        }
    }
}
