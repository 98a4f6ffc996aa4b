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
//! - **Names.** With `T` the user's tag (16 hex digits of an HMAC of `sub`): a record is
//!   `<prefix>s:{T}<HMAC of the session id>`, the user's index `<prefix>u:{T}<HMAC of sub>`,
//!   a Keycloak session's index `<prefix>i:{T}<HMAC of sid>`, all in one Cluster slot;
//!   the pointer from a `sid` to `T` is `<prefix>w:<HMAC of sid>`; the other markers are
//!   `<prefix><kind>:<HMAC of the value>`; a DPoP key's spent proofs are
//!   `<prefix>p:{<HMAC of the key>}`. 64 bits of tag spread users evenly over the slots and
//!   say nothing about them; the full HMACs keep two users apart even if their tags met.
//! - **Upgrading signs everyone out once**: ids made before tags existed name no session.
//!   The session ids themselves travel only in the encrypted cookie.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::connection::{Backend, Conn};
use super::scripts::Scripts;
use crate::config::RedisTarget;
use crate::protocol::SessionId;
use crate::session::cookie::random_id;
use crate::session::record::StoreError;
use crate::session::sealed::Sealer;

/// The prefix of every key this store writes.
pub(crate) const DEFAULT_PREFIX: &str = "rocket_keycloak:";
/// Hex digits of a user's hash tag (64 bits: users share a slot by it, never a key).
const USER_TAG_LEN: usize = 16;
/// The longest pause between two looks at the eviction policy while Redis is down.
const POLICY_RETRY_MAX: Duration = Duration::from_secs(60);

/// Sessions in Redis or Valkey, sealed; see the module documentation.
pub struct RedisStore {
    pub(super) redis: Backend,
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
    /// A store at `url` (one of the forms of `oidc.session_store`: `redis://host:port/db`,
    /// `rediss://` for TLS, `redis+sentinel://...` or `redis+cluster://...`, see the
    /// README's "High availability"), sealing records with keys derived from `secret` (the
    /// app's `secret_key`; every instance needs the same). Sessions live at most `lifetime`,
    /// at most `per_user` per user. Connects lazily: an unreachable Redis is an error at the
    /// first request, not here. Called inside a tokio runtime, it also checks Redis's
    /// eviction policy once Redis answers.
    pub fn open(
        url: &str,
        secret: &[u8],
        lifetime: Duration,
        per_user: usize,
    ) -> Result<Self, StoreError> {
        let target = RedisTarget::parse(url)
            .map_err(|reason| StoreError::new(format!("the Redis URL {reason}")))?;
        let redis = Backend::open(&target).map_err(store_error)?;
        if let Ok(runtime) = rocket::tokio::runtime::Handle::try_current() {
            runtime.spawn(check_eviction_policy(redis.conn()));
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

    /// The hash tag of `sub`'s keys: every key of one user (records, indexes) is in the
    /// Cluster slot of this tag.
    pub(super) fn user_tag(&self, sub: &str) -> String {
        let mut tag = self.sealer.name("user", sub);
        tag.truncate(USER_TAG_LEN);
        tag
    }

    /// A new session id for `sub`: random, with the user's tag after a dot, so that the
    /// record's key can be found in the user's slot from the id alone.
    pub(super) fn id_for(&self, sub: &str) -> SessionId {
        SessionId::new(format!("{}.{}", random_id(), self.user_tag(sub)))
    }

    /// The record prefix of the user with tag `tag`: the member names in that user's indexes
    /// follow it.
    pub(super) fn record_prefix(&self, tag: &str) -> String {
        format!("{}s:{{{tag}}}", self.prefix)
    }

    /// The record's member name (in the indexes), key and user tag; `None` for an id this
    /// store did not make (no tag), which names no session.
    pub(super) fn record(&self, id: &str) -> Option<(String, String, String)> {
        let (_, tag) = id.rsplit_once('.')?;
        if tag.len() != USER_TAG_LEN || !tag.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let member = self.sealer.name("session", id);
        let key = format!("{}{member}", self.record_prefix(tag));
        Some((member, key, tag.to_owned()))
    }

    /// The index of `sub`'s sessions.
    pub(super) fn sub_index(&self, sub: &str) -> String {
        format!("{}u:{{{}}}{}", self.prefix, self.user_tag(sub), self.sealer.name("u", sub))
    }

    /// The index of the sessions of Keycloak session `sid` (of the user with tag `tag`), and
    /// the pointer from `sid` to that tag (for a logout that names the `sid` only).
    pub(super) fn sid_keys(&self, tag: &str, sid: &str) -> (String, String) {
        let name = self.sealer.name("i", sid);
        (format!("{}i:{{{tag}}}{name}", self.prefix), format!("{}w:{name}", self.prefix))
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

    pub(super) fn conn(&self) -> Conn {
        self.redis.conn()
    }
}

/// Reads the eviction policy once Redis answers (every master's, on a Cluster) and says what
/// it means; gives up only when Redis answers with an error (`INFO` refused).
async fn check_eviction_policy(mut redis: Conn) {
    let mut pause = Duration::from_secs(1);
    loop {
        match redis::cmd("INFO").arg("memory").query_async::<redis::Value>(&mut redis).await {
            Ok(info) => {
                let mut texts = Vec::new();
                collect_text(&info, &mut texts);
                let mut policies: Vec<Option<&str>> =
                    texts.iter().map(|text| eviction_policy(text)).collect();
                // The worst first: one evicting node is enough to warn.
                policies.sort_by_key(|policy| *policy == Some("noeviction"));
                return report_eviction_policy(policies.first().copied().flatten());
            }
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

/// Every text in `value`: one `INFO` answer, or (from a Cluster) one per node.
fn collect_text(value: &redis::Value, texts: &mut Vec<String>) {
    match value {
        redis::Value::BulkString(bytes) => texts.push(String::from_utf8_lossy(bytes).into_owned()),
        redis::Value::VerbatimString { text, .. } | redis::Value::SimpleString(text) => {
            texts.push(text.clone())
        }
        redis::Value::Array(values) | redis::Value::Set(values) => {
            values.iter().for_each(|v| collect_text(v, texts))
        }
        redis::Value::Map(pairs) => pairs.iter().for_each(|(_, v)| collect_text(v, texts)),
        _ => {}
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
