//! `oidc.session_store`: where browser sessions live, checked at start-up.
//!
//! Decisions:
//! - **Plain `redis://` only to loopback.** Whoever is on the path to a plain Redis can
//!   answer for it: say a replayed DPoP proof or logout token is new, drop logouts, put back
//!   ended sessions. So every host of a plain URL (each sentinel, each cluster seed node)
//!   must be a loopback one unless `oidc.allow_insecure_redis` says the network is trusted;
//!   `rediss` (TLS) forms are always accepted. The rule sees only the hosts in the URL:
//!   with Sentinel the data nodes are the ones the sentinels name, which it cannot check, so
//!   plain `redis+sentinel://` is safe only when those are loopback too (the README says
//!   so); across machines, use `rediss+sentinel://`.
//! - The URL forms are `redis_target.rs`'s; their passwords never reach a log
//!   ([`SessionStoreConfig`]'s `Debug` redacts them).

use std::fmt;

use super::checks::is_loopback;
use super::error::ConfigError;
use super::redis_target::{RedisTarget, redacted};

/// Where browser sessions live (`oidc.session_store`): `memory` (the default: this process
/// only) or Redis or Valkey (shared by several instances): one server
/// (`redis://` / `rediss://`), a master found through Sentinel (`redis+sentinel://`) or a
/// Redis Cluster (`redis+cluster://`); the README's "High availability" has examples.
/// Plain forms are refused for hosts that are not loopback ones unless
/// `oidc.allow_insecure_redis = true` says the network is trusted, as for
/// `allow_insecure_http`; the TLS forms (`rediss...`) are always accepted.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionStoreConfig {
    /// In this process ([`crate::MemoryStore`]).
    Memory,
    /// In Redis or Valkey at this URL ([`crate::RedisStore`]); it may hold passwords.
    Redis(String),
}

impl fmt::Debug for SessionStoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory => f.write_str("Memory"),
            Self::Redis(url) => write!(f, "Redis({})", redacted(url)),
        }
    }
}

impl SessionStoreConfig {
    /// `allow_insecure_redis` (`oidc.allow_insecure_redis`) lets a plain URL name hosts that
    /// are not loopback ones.
    pub(super) fn parse(
        value: Option<String>,
        allow_insecure_redis: bool,
    ) -> Result<Self, ConfigError> {
        let Some(value) = value else { return Ok(Self::Memory) };
        if value == "memory" {
            return Ok(Self::Memory);
        }
        let target = RedisTarget::parse(&value).map_err(|reason| {
            ConfigError::new(
                "session_store",
                format!(
                    "must be `memory` or a Redis URL, like redis://127.0.0.1:6379/0, \
                     redis+sentinel://sentinel-1:26379,sentinel-2:26379/<master name> or \
                     redis+cluster://node-1:6379,node-2:6379 (rediss for TLS); this one {reason}"
                ),
            )
        })?;
        let remote = target.hosts().iter().any(|host| !is_loopback(host));
        if !target.tls() && remote && !allow_insecure_redis {
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
        if let RedisTarget::Single(url) = &target {
            redis::Client::open(url.as_str()).map_err(|_| {
                ConfigError::new("session_store", "is not a Redis URL the redis crate accepts")
            })?;
        }
        #[cfg(not(feature = "redis"))]
        return Err(ConfigError::new(
            "session_store",
            "a Redis store needs the `redis` feature of rocket_keycloak, which this build lacks",
        ));
        #[cfg(feature = "redis")]
        Ok(Self::Redis(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_store_is_memory_or_a_redis_url() {
        let with = |value: &str| SessionStoreConfig::parse(Some(value.into()), false);
        assert_eq!(SessionStoreConfig::parse(None, false).unwrap(), SessionStoreConfig::Memory);
        assert_eq!(with("memory").unwrap(), SessionStoreConfig::Memory);
        for url in [
            "redis://127.0.0.1:6379/0",
            "rediss://:pw@cache.internal:6380/2",
            "redis+sentinel://127.0.0.1:26379,localhost:26380/sessions",
            "rediss+sentinel://s1.internal,s2.internal/sessions/1",
            "redis+cluster://127.0.0.1:7000,127.0.0.1:7001",
            "rediss+cluster://:pw@n1.internal:7000",
        ] {
            if cfg!(feature = "redis") {
                assert_eq!(with(url).unwrap(), SessionStoreConfig::Redis(url.into()));
            } else {
                // Without the feature a well-formed URL is refused, naming the feature.
                let error = with(url).unwrap_err();
                assert_eq!(error.key, "oidc.session_store", "{url:?}");
                assert!(error.message.contains("`redis` feature"), "{error}");
            }
        }
        for bad in [
            "redis",
            "http://127.0.0.1:6379",
            "redis://",
            "Memory",
            "redis://h:port/0",
            "",
            "redis+sentinel://127.0.0.1:26379",
            "redis+cluster://127.0.0.1:7000/3",
        ] {
            let error = with(bad).unwrap_err();
            assert_eq!(error.key, "oidc.session_store", "{bad:?}");
            assert!(error.to_string().contains("OIDC_SESSION_STORE"), "{error}");
        }
        let debug =
            format!("{:?}", SessionStoreConfig::Redis("redis://:hunter2@cache:6379/0".into()));
        assert!(!debug.contains("hunter2"), "{debug}");
        let sentinel = "redis+sentinel://:hunter2@s1/m?sentinel_password=hunter3";
        let debug = format!("{:?}", SessionStoreConfig::Redis(sentinel.into()));
        assert!(!debug.contains("hunter"), "{debug}");
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
            "rediss+sentinel://s1.internal,s2.internal/sessions",
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
            // One remote host among loopback ones is enough to need TLS or the opt-in.
            "redis+sentinel://127.0.0.1:26379,sentinel.internal:26379/sessions",
            "redis+cluster://127.0.0.1:7000,10.0.0.7:7001",
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
}
