//! The one-word policies of the `oidc` table: where sessions live, where metrics are
//! served, whether DPoP is required, and which signature algorithms are allowed.

use std::fmt;

use jsonwebtoken::Algorithm;
use url::Url;

use super::error::ConfigError;

/// Where browser sessions live (`oidc.session_store`): `memory` (the default: this process
/// only) or a `redis://` / `rediss://` URL (Redis or Valkey, shared by several instances).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionStoreConfig {
    /// In this process ([`crate::MemoryStore`]).
    Memory,
    /// In Redis or Valkey at this URL ([`crate::RedisStore`]); it may hold a password.
    Redis(String),
}

impl fmt::Debug for SessionStoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory => f.write_str("Memory"),
            Self::Redis(url) => match Url::parse(url) {
                Ok(mut url) => {
                    if url.password().is_some() {
                        let _ = url.set_password(Some("redacted"));
                    }
                    write!(f, "Redis({url})")
                }
                Err(_) => f.write_str("Redis([unparsable])"),
            },
        }
    }
}

/// Whether and where `/metrics` is served (`oidc.metrics`): `off`, `on` (the default: on the
/// app's own address) or an address such as `127.0.0.1:9100` (a listener of its own, so the
/// metrics are not exposed with the app).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetricsConfig {
    /// No endpoint (metrics are still recorded if a recorder is installed).
    Off,
    /// `GET /metrics` on the app's address.
    On,
    /// `GET /metrics` on this address only.
    Listener(std::net::SocketAddr),
}

impl MetricsConfig {
    pub(super) fn parse(value: Option<String>) -> Result<Self, ConfigError> {
        match value.as_deref() {
            None | Some("on") => Ok(Self::On),
            Some("off") => Ok(Self::Off),
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

impl SessionStoreConfig {
    pub(super) fn parse(value: Option<String>) -> Result<Self, ConfigError> {
        let Some(value) = value else { return Ok(Self::Memory) };
        let bad = || {
            ConfigError::new(
                "session_store",
                "must be `memory` or a redis:// or rediss:// URL, like redis://127.0.0.1:6379/0",
            )
        };
        if value == "memory" {
            return Ok(Self::Memory);
        }
        let url = Url::parse(&value).map_err(|_| bad())?;
        if !matches!(url.scheme(), "redis" | "rediss") || url.host_str().is_none_or(str::is_empty) {
            return Err(bad());
        }
        #[cfg(feature = "redis")]
        redis::Client::open(value.as_str()).map_err(|_| bad())?;
        #[cfg(not(feature = "redis"))]
        return Err(ConfigError::new(
            "session_store",
            "a Redis store needs the `redis` feature of rocket_keycloak, which this build lacks",
        ));
        #[cfg(feature = "redis")]
        Ok(Self::Redis(value))
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
    fn session_store_is_memory_or_a_redis_url() {
        let with = |value: &str| SessionStoreConfig::parse(Some(value.into()));
        assert_eq!(SessionStoreConfig::parse(None).unwrap(), SessionStoreConfig::Memory);
        assert_eq!(with("memory").unwrap(), SessionStoreConfig::Memory);
        for url in ["redis://127.0.0.1:6379/0", "rediss://:pw@cache.internal:6380/2"] {
            if cfg!(feature = "redis") {
                assert_eq!(with(url).unwrap(), SessionStoreConfig::Redis(url.into()));
            } else {
                // Without the feature a well-formed URL is refused, naming the feature.
                let error = with(url).unwrap_err();
                assert_eq!(error.key, "oidc.session_store", "{url:?}");
                assert!(error.message.contains("`redis` feature"), "{error}");
            }
        }
        for bad in ["redis", "http://127.0.0.1:6379", "redis://", "Memory", "redis://h:port/0", ""]
        {
            let error = with(bad).unwrap_err();
            assert_eq!(error.key, "oidc.session_store", "{bad:?}");
            assert!(error.to_string().contains("OIDC_SESSION_STORE"), "{error}");
        }
        let debug =
            format!("{:?}", SessionStoreConfig::Redis("redis://:hunter2@cache:6379/0".into()));
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn metrics_is_off_on_or_an_address() {
        let with = |value: &str| MetricsConfig::parse(Some(value.into()));
        assert_eq!(MetricsConfig::parse(None).unwrap(), MetricsConfig::On);
        assert_eq!(with("off").unwrap(), MetricsConfig::Off);
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
