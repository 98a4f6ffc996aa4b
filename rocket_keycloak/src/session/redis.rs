//! [`RedisStore`]: sessions shared by several app instances through Redis or Valkey.
//!
//! What it guarantees (the README's "Running several instances" says it for operators):
//! - **Nothing useful to a thief.** Records are sealed with AES-256-GCM under a key derived
//!   from the app's `secret_key`, and every name in Redis is an HMAC: no token, no session id,
//!   no `sub` or `sid` appears in a dump (`session/sealed.rs`).
//! - **No cleanup job.** Every record expires with the session's absolute lifetime (Redis
//!   TTL); the indexes expire with the newest session they hold.
//! - **Back-channel logout everywhere.** The `sid` and `sub` indexes and the logout-token
//!   replay cache live in Redis, so a logout token delivered to any instance ends the
//!   sessions on all of them at once. So do spent DPoP proofs (`first_use_of_proof`): a
//!   proof replayed to another instance is refused there too.
//! - **One refresh per session across instances.** A lock key with a random owner and an
//!   expiry ([`crate::session`] holds it only for one refresh); the owner re-reads the
//!   session after taking it, and releases it with a compare-and-delete.
//! - **No resurrection, no stale write.** A refreshed session is written with a Lua script
//!   that checks the record still exists at the revision it was read at.
//! - **One round trip on the hot path.** Reading a session (and marking it used, for the
//!   per-user eviction order) is one `EVALSHA`.
//!
//! Decisions:
//! - The `redis` crate's tokio `ConnectionManager`, created lazily: the app starts while
//!   Redis is down, and reconnects by itself when it returns. Every command has a 1 s
//!   connect and response timeout, so a Redis outage costs a request at most about a second
//!   before its 503.
//! - The per-user limit is enforced (least recently used session of that user first); the
//!   total size is Redis's business (`maxmemory`; use a `volatile-*` policy).
//! - The scripts touch index keys named inside records, so this store needs a standalone
//!   Redis or Valkey (with replicas if you like), not Redis Cluster.

use crate::protocol::{SessionId, Subject};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Client, Script, SetExpiry, SetOptions};

use super::record::{Session, StoreError};
use super::sealed::Sealer;
use super::store::SessionStore;
use crate::clock::unix_now;
use crate::oidc::dpop::{ProofUse, SpentProof};

/// Timeout for connecting to Redis and for each answer.
const REDIS_TIMEOUT: Duration = Duration::from_secs(1);
/// The prefix of every key this store writes.
pub(crate) const DEFAULT_PREFIX: &str = "rocket_keycloak:";

/// Sessions in Redis or Valkey, sealed; see the module documentation.
pub struct RedisStore {
    redis: ConnectionManager,
    sealer: Sealer,
    prefix: String,
    lifetime: Duration,
    per_user: usize,
    scripts: Scripts,
}

struct Scripts {
    get: Script,
    put: Script,
    update: Script,
    remove: Script,
    remove_by_sid: Script,
    remove_by_sub: Script,
    unlock: Script,
}

impl Scripts {
    fn new() -> Self {
        Self {
            // KEYS: record. ARGV: member. The index touch keeps the per-user eviction order
            // by last use (Redis's clock in microseconds: scripts run one at a time).
            get: Script::new(
                r"local r = redis.call('HMGET', KEYS[1], 'v', 'r', 'u')
                if not r[1] then return false end
                local t = redis.call('TIME')
                local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
                if r[3] and r[3] ~= '' then redis.call('ZADD', r[3], 'XX', now, ARGV[1]) end
                return {r[1], r[2]}",
            ),
            // KEYS: record, sub index, sid index. ARGV: sealed, ttl (ms), member, per-user
            // limit, record prefix, has sid.
            put: Script::new(
                r"redis.call('DEL', KEYS[1])
                local t = redis.call('TIME')
                local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
                local sid = ''
                if ARGV[6] == '1' then sid = KEYS[3] end
                redis.call('HSET', KEYS[1], 'v', ARGV[1], 'r', 1, 'u', KEYS[2], 'i', sid)
                redis.call('PEXPIRE', KEYS[1], ARGV[2])
                for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
                    if redis.call('EXISTS', ARGV[5] .. m) == 0 then redis.call('ZREM', KEYS[2], m) end
                end
                local n = redis.call('ZCARD', KEYS[2])
                while n >= tonumber(ARGV[4]) do
                    local oldest = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
                    redis.call('ZREM', KEYS[2], oldest)
                    redis.call('DEL', ARGV[5] .. oldest)
                    n = n - 1
                end
                redis.call('ZADD', KEYS[2], now, ARGV[3])
                redis.call('PEXPIRE', KEYS[2], ARGV[2])
                if sid ~= '' then
                    redis.call('SADD', sid, ARGV[3])
                    redis.call('PEXPIRE', sid, ARGV[2])
                end
                return 1",
            ),
            // KEYS: record. ARGV: sealed, expected revision. Keeps the record's TTL.
            update: Script::new(
                r"local r = redis.call('HGET', KEYS[1], 'r')
                if (not r) or r ~= ARGV[2] then return 0 end
                redis.call('HSET', KEYS[1], 'v', ARGV[1], 'r', tonumber(r) + 1)
                return 1",
            ),
            // KEYS: record. ARGV: member.
            remove: Script::new(
                r"local r = redis.call('HMGET', KEYS[1], 'u', 'i')
                local gone = redis.call('DEL', KEYS[1])
                if r[1] and r[1] ~= '' then redis.call('ZREM', r[1], ARGV[1]) end
                if r[2] and r[2] ~= '' then redis.call('SREM', r[2], ARGV[1]) end
                return gone",
            ),
            // KEYS: sid index. ARGV: record prefix.
            remove_by_sid: Script::new(
                r"local n = 0
                for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do
                    local key = ARGV[1] .. m
                    local u = redis.call('HGET', key, 'u')
                    n = n + redis.call('DEL', key)
                    if u and u ~= '' then redis.call('ZREM', u, m) end
                end
                redis.call('DEL', KEYS[1])
                return n",
            ),
            // KEYS: sub index. ARGV: record prefix.
            remove_by_sub: Script::new(
                r"local n = 0
                for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
                    local key = ARGV[1] .. m
                    local i = redis.call('HGET', key, 'i')
                    n = n + redis.call('DEL', key)
                    if i and i ~= '' then redis.call('SREM', i, m) end
                end
                redis.call('DEL', KEYS[1])
                return n",
            ),
            // KEYS: lock. ARGV: owner.
            unlock: Script::new(
                r"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
                return 0",
            ),
        }
    }
}

fn store_error(error: redis::RedisError) -> StoreError {
    StoreError::new(error)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl RedisStore {
    /// A store at `url` (`redis://host:port/db` or `rediss://` for TLS), sealing records
    /// with keys derived from `secret` (the app's `secret_key`; every instance needs the
    /// same). Sessions live at most `lifetime`, at most `per_user` per user. Connects
    /// lazily: an unreachable Redis is an error at the first request, not here.
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
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1);
        let redis = ConnectionManager::new_lazy_with_config(client, config).map_err(store_error)?;
        Ok(Self {
            redis,
            sealer: Sealer::new(secret),
            prefix: DEFAULT_PREFIX.to_owned(),
            lifetime,
            per_user: per_user.max(1),
            scripts: Scripts::new(),
        })
    }

    fn record_prefix(&self) -> String {
        format!("{}s:", self.prefix)
    }

    /// The record's member name (in the indexes) and key.
    fn record(&self, id: &str) -> (String, String) {
        let member = self.sealer.name("session", id);
        let key = format!("{}{member}", self.record_prefix());
        (member, key)
    }

    fn key(&self, kind: &str, value: &str) -> String {
        format!("{}{kind}:{}", self.prefix, self.sealer.name(kind, value))
    }

    fn seal(&self, session: &Session, key: &str) -> Result<Vec<u8>, StoreError> {
        let json = serde_json::to_vec(session).map_err(StoreError::new)?;
        Ok(self.sealer.seal(&json, key))
    }

    fn conn(&self) -> ConnectionManager {
        self.redis.clone()
    }
}

#[rocket::async_trait]
impl SessionStore for RedisStore {
    async fn get(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        let (member, key) = self.record(id);
        let found: Option<(Vec<u8>, u64)> = self
            .scripts
            .get
            .key(&key)
            .arg(&member)
            .invoke_async(&mut self.conn())
            .await
            .map_err(store_error)?;
        let Some((sealed, revision)) = found else { return Ok(None) };
        let Some(json) = self.sealer.open(&sealed, &key) else {
            log::warn!("a session record in Redis does not open (another secret_key?): ignored");
            return Ok(None);
        };
        match serde_json::from_slice::<Session>(&json) {
            Ok(session) => Ok(Some(Session { revision, ..session })),
            Err(error) => {
                log::warn!("a session record in Redis does not parse: ignored ({error})");
                Ok(None)
            }
        }
    }

    async fn put(&self, id: &SessionId, session: Session) -> Result<(), StoreError> {
        let (member, key) = self.record(id);
        let sealed = self.seal(&session, &key)?;
        let sub_index = self.key("u", &session.identity.sub);
        let sid = session.identity.sid.as_deref();
        let sid_index = self.key("i", sid.unwrap_or_default());
        self.scripts
            .put
            .key(&key)
            .key(&sub_index)
            .key(&sid_index)
            .arg(sealed)
            .arg(millis(self.lifetime))
            .arg(&member)
            .arg(self.per_user)
            .arg(self.record_prefix())
            .arg(if sid.is_some() { "1" } else { "0" })
            .invoke_async::<i64>(&mut self.conn())
            .await
            .map(drop)
            .map_err(store_error)
    }

    async fn update(&self, id: &SessionId, session: Session) -> Result<bool, StoreError> {
        let (_, key) = self.record(id);
        let sealed = self.seal(&session, &key)?;
        let written: i64 = self
            .scripts
            .update
            .key(&key)
            .arg(sealed)
            .arg(session.revision)
            .invoke_async(&mut self.conn())
            .await
            .map_err(store_error)?;
        Ok(written == 1)
    }

    async fn remove(&self, id: &SessionId) -> Result<(), StoreError> {
        let (member, key) = self.record(id);
        self.scripts
            .remove
            .key(&key)
            .arg(&member)
            .invoke_async::<i64>(&mut self.conn())
            .await
            .map(drop)
            .map_err(store_error)
    }

    async fn remove_by_sid(&self, sid: &str) -> Result<usize, StoreError> {
        let removed: usize = self
            .scripts
            .remove_by_sid
            .key(self.key("i", sid))
            .arg(self.record_prefix())
            .invoke_async(&mut self.conn())
            .await
            .map_err(store_error)?;
        Ok(removed)
    }

    async fn remove_by_sub(&self, sub: &Subject) -> Result<usize, StoreError> {
        let removed: usize = self
            .scripts
            .remove_by_sub
            .key(self.key("u", sub))
            .arg(self.record_prefix())
            .invoke_async(&mut self.conn())
            .await
            .map_err(store_error)?;
        Ok(removed)
    }

    async fn lock_refresh(
        &self,
        id: &SessionId,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let options = SetOptions::default()
            .conditional_set(redis::ExistenceCheck::NX)
            .with_expiration(SetExpiry::PX(millis(ttl)));
        let set: Option<String> = self
            .conn()
            .set_options(self.key("l", id), owner, options)
            .await
            .map_err(store_error)?;
        Ok(set.is_some())
    }

    async fn unlock_refresh(&self, id: &SessionId, owner: &str) -> Result<(), StoreError> {
        self.scripts
            .unlock
            .key(self.key("l", id))
            .arg(owner)
            .invoke_async::<i64>(&mut self.conn())
            .await
            .map(drop)
            .map_err(store_error)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn();
        redis::cmd("PING").query_async::<String>(&mut conn).await.map(drop).map_err(store_error)
    }

    async fn first_use_of_proof(
        &self,
        proof: &SpentProof,
    ) -> Result<Option<ProofUse>, StoreError> {
        let options = SetOptions::default()
            .conditional_set(redis::ExistenceCheck::NX)
            .with_expiration(SetExpiry::PX(millis(proof.remember_for)));
        let name = self.key("p", &URL_SAFE_NO_PAD.encode(proof.id));
        let set: Option<String> =
            self.conn().set_options(name, 1, options).await.map_err(store_error)?;
        Ok(Some(if set.is_some() { ProofUse::First } else { ProofUse::Replayed }))
    }

    async fn first_use_of_logout_token(
        &self,
        jti: &str,
        accepted_until: u64,
    ) -> Result<bool, StoreError> {
        // Remembered while the token could be accepted; at least a second, so an id that is
        // already past it is still refused for a moment rather than not stored at all.
        let until = accepted_until.max(unix_now() + 1);
        let options = SetOptions::default()
            .conditional_set(redis::ExistenceCheck::NX)
            .with_expiration(SetExpiry::EXAT(until));
        let set: Option<String> =
            self.conn().set_options(self.key("j", jti), 1, options).await.map_err(store_error)?;
        Ok(set.is_some())
    }
}
