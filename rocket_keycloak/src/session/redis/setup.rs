//! [`RedisStore`] itself: opening it (lazily), the names of its keys, and the check of
//! Redis's eviction policy once Redis first answers.
//!
//! Decisions:
//! - **The eviction policy is checked, not assumed.** Any `maxmemory-policy` but
//!   `noeviction` lets Redis drop keys under memory pressure, and every key of this store
//!   has a TTL, so even the `volatile-*` policies may drop a spent proof (which can then be
//!   replayed), a logout-token id, or a session. The check reads `INFO memory` (which works
//!   where `CONFIG` is renamed away) in a task of its own that retries until Redis answers,
//!   so the app starts while Redis is down, and logs a `warn` naming the policy and the fix.
//! - **Names.** A record is `<prefix>s:<HMAC of the session id>`; the indexes and markers
//!   are `<prefix><kind>:<HMAC of the value>`; a DPoP key's spent proofs are
//!   `<prefix>p:{<HMAC of the key>}`, in braces: a Redis Cluster hash tag, so whatever else
//!   is ever kept per key lands in the same slot.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use redis::Client;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::scripts::Scripts;
use crate::session::record::StoreError;
use crate::session::sealed::Sealer;
use crate::session::store::SHARED_STORE_TIMEOUT;

/// The prefix of every key this store writes.
pub(crate) const DEFAULT_PREFIX: &str = "rocket_keycloak:";
/// The longest pause between two looks at the eviction policy while Redis is down.
const POLICY_RETRY_MAX: Duration = Duration::from_secs(60);

/// Sessions in Redis or Valkey, sealed; see the module documentation.
pub struct RedisStore {
    pub(super) redis: ConnectionManager,
    pub(super) sealer: Sealer,
    pub(super) prefix: String,
    pub(super) lifetime: Duration,
    pub(super) per_user: usize,
    pub(super) scripts: Scripts,
}

pub(super) fn store_error(error: redis::RedisError) -> StoreError {
    StoreError::new(error)
}

/// A duration in whole milliseconds, at least one (Redis refuses a TTL of zero).
pub(super) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl RedisStore {
    /// A store at `url` (`redis://host:port/db` or `rediss://` for TLS), sealing records
    /// with keys derived from `secret` (the app's `secret_key`; every instance needs the
    /// same). Sessions live at most `lifetime`, at most `per_user` per user. Connects
    /// lazily: an unreachable Redis is an error at the first request, not here. Called
    /// inside a tokio runtime, it also checks Redis's eviction policy once Redis answers.
    pub fn open(
        url: &str,
        secret: &[u8],
        lifetime: Duration,
        per_user: usize,
    ) -> Result<Self, StoreError> {
        if url.starts_with("rediss://") {
            // rustls needs one process-wide crypto provider; another may be installed.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let client = Client::open(url).map_err(store_error)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(SHARED_STORE_TIMEOUT))
            .set_response_timeout(Some(SHARED_STORE_TIMEOUT))
            .set_number_of_retries(1);
        let redis = ConnectionManager::new_lazy_with_config(client, config).map_err(store_error)?;
        if let Ok(runtime) = rocket::tokio::runtime::Handle::try_current() {
            runtime.spawn(check_eviction_policy(redis.clone()));
        }
        Ok(Self {
            redis,
            sealer: Sealer::new(secret),
            prefix: DEFAULT_PREFIX.to_owned(),
            lifetime,
            per_user: per_user.max(1),
            scripts: Scripts::new(),
        })
    }

    pub(super) fn record_prefix(&self) -> String {
        format!("{}s:", self.prefix)
    }

    /// The record's member name (in the indexes) and key.
    pub(super) fn record(&self, id: &str) -> (String, String) {
        let member = self.sealer.name("session", id);
        let key = format!("{}{member}", self.record_prefix());
        (member, key)
    }

    pub(super) fn key(&self, kind: &str, value: &str) -> String {
        format!("{}{kind}:{}", self.prefix, self.sealer.name(kind, value))
    }

    /// The sorted set of the spent proofs of the DPoP key `key`, and the name of `proof`
    /// in it.
    pub(super) fn proof(&self, key: &[u8; 32], proof: &[u8; 32]) -> (String, String) {
        let key = self.sealer.name("dpop key", &URL_SAFE_NO_PAD.encode(key));
        let proof = self.sealer.name("dpop proof", &URL_SAFE_NO_PAD.encode(proof));
        (format!("{}p:{{{key}}}", self.prefix), proof)
    }

    pub(super) fn conn(&self) -> ConnectionManager {
        self.redis.clone()
    }
}

/// Reads the eviction policy once Redis answers and says what it means; gives up only when
/// Redis answers with an error (`INFO` refused).
async fn check_eviction_policy(mut redis: ConnectionManager) {
    let mut pause = Duration::from_secs(1);
    loop {
        match redis::cmd("INFO").arg("memory").query_async::<String>(&mut redis).await {
            Ok(info) => return report_eviction_policy(eviction_policy(&info)),
            Err(error)
                if error.is_io_error()
                    || error.is_timeout()
                    || error.is_connection_refusal()
                    || error.is_connection_dropped() =>
            {
                rocket::tokio::time::sleep(pause).await;
                pause = (pause * 2).min(POLICY_RETRY_MAX);
            }
            Err(error) => {
                log::warn!(
                    "could not read Redis's maxmemory-policy ({error}); make sure it is \
                     noeviction (see the README's \"Several instances\")"
                );
                return;
            }
        }
    }
}

/// The `maxmemory_policy` line of `INFO memory`.
pub(super) fn eviction_policy(info: &str) -> Option<&str> {
    info.lines().find_map(|line| line.strip_prefix("maxmemory_policy:")).map(str::trim)
}

/// What to log about `policy`: a warning unless Redis never evicts.
pub(super) fn eviction_warning(policy: Option<&str>) -> Option<String> {
    match policy {
        Some("noeviction") => None,
        Some(policy) => Some(format!(
            "Redis's maxmemory-policy is {policy}: under memory pressure Redis may evict spent \
             DPoP proofs (which could then be replayed), logout-token ids and sessions. Set \
             `maxmemory-policy noeviction` on the Redis that holds the sessions (CONFIG SET \
             maxmemory-policy noeviction, or in redis.conf): a full Redis then refuses new \
             writes and the app answers 503 instead of forgetting"
        )),
        None => Some(
            "Redis's INFO memory names no maxmemory_policy; make sure it is noeviction (see \
             the README's \"Several instances\")"
                .to_owned(),
        ),
    }
}

fn report_eviction_policy(policy: Option<&str>) {
    match eviction_warning(policy) {
        Some(warning) => log::warn!("{warning}"),
        None => log::info!("Redis's maxmemory-policy is noeviction: a full Redis refuses writes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_evicting_policy_is_warned_about_and_noeviction_is_not() {
        let info = |policy: &str| {
            format!(
                "# Memory\r\nused_memory:914424\r\nmaxmemory:0\r\nmaxmemory_policy:{policy}\r\n\
                 allocator_frag_ratio:1.21\r\n"
            )
        };
        assert_eq!(eviction_policy(&info("noeviction")), Some("noeviction"));
        assert_eq!(eviction_warning(eviction_policy(&info("noeviction"))), None);
        for evicting in ["volatile-lru", "volatile-ttl", "allkeys-lru", "allkeys-random"] {
            let warning = eviction_warning(eviction_policy(&info(evicting))).unwrap();
            assert!(warning.contains(evicting), "names the policy: {warning}");
            assert!(warning.contains("maxmemory-policy noeviction"), "and the fix: {warning}");
        }
        assert_eq!(eviction_policy("# Memory\r\nused_memory:1\r\n"), None);
        assert!(eviction_warning(None).unwrap().contains("noeviction"));
    }
}
