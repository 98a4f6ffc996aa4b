//! The one-word policies of the `oidc` table: where sessions live, where metrics are
//! served, whether DPoP is required, and which signature algorithms are allowed.

use std::fmt;

use jsonwebtoken::Algorithm;
use url::Url;

use super::checks::is_loopback;
use super::error::ConfigError;
use crate::oidc::dpop::spend::{MAX_PROOFS_PER_KEY, MAX_REMEMBERED_PROOFS};

/// Where browser sessions live (`oidc.session_store`): `memory` (the default: this process
/// only) or a `redis://` / `rediss://` URL (Redis or Valkey, shared by several instances).
/// Plain `redis://` is refused for a host that is not a loopback one unless
/// `oidc.allow_insecure_redis = true` says the network is trusted, as for
/// `allow_insecure_http`; `rediss://` is always accepted.
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

impl SessionStoreConfig {
    /// `allow_insecure_redis` (`oidc.allow_insecure_redis`) lets a plain `redis://` URL name
    /// a host that is not a loopback one.
    pub(super) fn parse(
        value: Option<String>,
        allow_insecure_redis: bool,
    ) -> Result<Self, ConfigError> {
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
        // Whoever is on the path to a plain `redis://` host can answer for Redis: say a
        // replayed DPoP proof or logout token is new, drop logouts, put back old records.
        if url.scheme() == "redis" && !is_loopback(&url) && !allow_insecure_redis {
            return Err(ConfigError::new(
                "session_store",
                "plain redis:// is accepted only for loopback hosts (localhost, 127.0.0.0/8, \
                 ::1): anyone on the path could answer for Redis (accept replayed DPoP proofs \
                 and logout tokens, drop logouts, put back ended sessions). Use rediss:// \
                 (TLS), or, on a trusted private network only, set \
                 oidc.allow_insecure_redis = true (OIDC_ALLOW_INSECURE_REDIS=true)",
            ));
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
    fn dpop_proofs_per_key_is_a_positive_count_within_the_records_size() {
        assert_eq!(DpopPolicy::proofs_per_key(None).unwrap(), MAX_PROOFS_PER_KEY);
        assert_eq!(DpopPolicy::proofs_per_key(Some(50_000)).unwrap(), 50_000);
        for bad in [0, MAX_REMEMBERED_PROOFS as u64 + 1] {
            let error = DpopPolicy::proofs_per_key(Some(bad)).unwrap_err().to_string();
            assert!(error.contains("dpop_proofs_per_key"), "{error}");
        }
    }

    #[test]
    fn session_store_is_memory_or_a_redis_url() {
        let with = |value: &str| SessionStoreConfig::parse(Some(value.into()), false);
        assert_eq!(SessionStoreConfig::parse(None, false).unwrap(), SessionStoreConfig::Memory);
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
    #[cfg(feature = "redis")]
    fn plain_redis_is_refused_except_for_loopback_or_with_the_opt_in() {
        let with = |url: &str, opt_in| SessionStoreConfig::parse(Some(url.into()), opt_in);
        for url in [
            "redis://127.0.0.1:6379/0",
            "redis://127.8.9.10:6379",
            "redis://localhost:6379/0",
            "redis://LOCALHOST",
            "redis://[::1]:6379/0",
            "rediss://cache.internal:6380/0",
            "rediss://:pw@10.0.0.5:6380/2",
        ] {
            assert_eq!(with(url, false).unwrap(), SessionStoreConfig::Redis(url.into()), "{url}");
        }
        for url in [
            "redis://valkey:6379/0",
            "redis://10.0.0.5:6379",
            "redis://:pw@cache.internal:6379/1",
            "redis://localhost.evil.example:6379",
            "redis://128.0.0.1:6379",
            "redis://[::2]:6379",
        ] {
            let error = with(url, false).unwrap_err();
            assert_eq!(error.key, "oidc.session_store", "{url}");
            let message = error.to_string();
            assert!(message.contains("OIDC_SESSION_STORE"), "names the key: {message}");
            assert!(message.contains("OIDC_ALLOW_INSECURE_REDIS"), "and the opt-in: {message}");
            assert!(message.contains("rediss://"), "and the fix: {message}");
            assert!(!message.contains("pw@"), "and no password: {message}");
            // The explicit opt-in (docker-compose: the Valkey service on the private network).
            assert_eq!(with(url, true).unwrap(), SessionStoreConfig::Redis(url.into()), "{url}");
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
