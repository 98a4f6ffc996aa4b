//! The Lua scripts of the Redis store: each operation is one `EVALSHA`, atomic in Redis.
//!
//! Decisions:
//! - **A full Redis refuses new writes, and the scripts are written for it.** Under
//!   `maxmemory-policy noeviction` Redis refuses a script's first memory-growing write, but
//!   lets every later write of the same script through (a script is atomic), so each script
//!   makes its growing write first and never starts with a delete: a new session, a refresh,
//!   a spent proof fail (the app answers 503) rather than grow Redis past `maxmemory`. Two
//!   writes may fail without failing their script (`pcall`): the last-use touch of a read
//!   (a session stays readable) and the logout-token id (the logout is honoured anyway,
//!   `store.rs` says why). Deletes, logouts included, always work. Neither swallows
//!   `READONLY`: a demoted master (a replica now) must not serve reads as if it still led,
//!   and the error sends the store to the new master (`connection.rs`).
//! - **The `sid` index is bounded.** Evicting a user's oldest session removes it from its
//!   `sid` set too, and a set that outgrows the per-user limit is pruned of members whose
//!   record is gone (one Keycloak session is one user's, whose live sessions are at most that
//!   limit), so a logout by `sid` loops over at most a handful of members.
//! - **Spent DPoP proofs: one sorted set per key**, member the proof's name, score its
//!   expiry on Redis's clock (now plus the relative lifetime the app computed). The set is
//!   both the replay marker and the key's quota, and one key is one Cluster hash slot.
//!   Expired members are pruned by the key's next proof.

use redis::Script;

/// What a proof script answers.
pub(super) const PROOF_REPLAYED: i64 = 0;
pub(super) const PROOF_FIRST: i64 = 1;
pub(super) const PROOF_OVER_QUOTA: i64 = 2;
/// What the logout-token script answers when Redis could not remember the id.
pub(super) const LOGOUT_TOKEN_NOT_STORED: i64 = 2;

/// The scripts, loaded once per store (by SHA, falling back to the source).
pub(super) struct Scripts {
    pub(super) get: Script,
    pub(super) put: Script,
    pub(super) update: Script,
    pub(super) remove: Script,
    pub(super) remove_at_revision: Script,
    pub(super) remove_by_sid: Script,
    pub(super) remove_by_sub: Script,
    pub(super) unlock: Script,
    pub(super) spend_proof: Script,
    pub(super) logout_token: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        Self {
            // KEYS: record. ARGV: member. The index touch keeps the per-user eviction order
            // by last use (Redis's clock in microseconds: scripts run one at a time).
            get: Script::new(
                r"local r = redis.call('HMGET', KEYS[1], 'v', 'r', 'u')
                if not r[1] then return false end
                local t = redis.call('TIME')
                local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
                if r[3] and r[3] ~= '' then
                    local ok, e = pcall(redis.call, 'ZADD', r[3], 'XX', now, ARGV[1])
                    if not ok and string.find(tostring(e.err or e), 'READONLY') then return redis.error_reply('READONLY this node is a replica now') end
                end
                return {r[1], r[2]}",
            ),
            // KEYS: record, sub index, sid index. ARGV: sealed, ttl (ms), member, per-user
            // limit, record prefix, has sid. HSET first (see the module doc); it sets every
            // field a record has, so no delete is needed ahead of it.
            put: Script::new(
                r"local sid = ''
                if ARGV[6] == '1' then sid = KEYS[3] end
                redis.call('HSET', KEYS[1], 'v', ARGV[1], 'r', 1, 'u', KEYS[2], 'i', sid)
                redis.call('PEXPIRE', KEYS[1], ARGV[2])
                local t = redis.call('TIME')
                local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
                local limit = tonumber(ARGV[4])
                redis.call('ZREM', KEYS[2], ARGV[3])
                for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
                    if redis.call('EXISTS', ARGV[5] .. m) == 0 then redis.call('ZREM', KEYS[2], m) end
                end
                local n = redis.call('ZCARD', KEYS[2])
                while n >= limit do
                    local oldest = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
                    local key = ARGV[5] .. oldest
                    local i = redis.call('HGET', key, 'i')
                    if i and i ~= '' then redis.call('SREM', i, oldest) end
                    redis.call('ZREM', KEYS[2], oldest)
                    redis.call('DEL', key)
                    n = n - 1
                end
                redis.call('ZADD', KEYS[2], now, ARGV[3])
                redis.call('PEXPIRE', KEYS[2], ARGV[2])
                if sid ~= '' then
                    redis.call('SADD', sid, ARGV[3])
                    redis.call('PEXPIRE', sid, ARGV[2])
                    if redis.call('SCARD', sid) > limit then
                        for _, m in ipairs(redis.call('SMEMBERS', sid)) do
                            if redis.call('EXISTS', ARGV[5] .. m) == 0 then redis.call('SREM', sid, m) end
                        end
                    end
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
            // KEYS: record. ARGV: member, expected revision.
            remove_at_revision: Script::new(
                r"local r = redis.call('HMGET', KEYS[1], 'r', 'u', 'i')
                if (not r[1]) or r[1] ~= ARGV[2] then return 0 end
                redis.call('DEL', KEYS[1])
                if r[2] and r[2] ~= '' then redis.call('ZREM', r[2], ARGV[1]) end
                if r[3] and r[3] ~= '' then redis.call('SREM', r[3], ARGV[1]) end
                return 1",
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
            // KEYS: the key's proofs. ARGV: proof name, lifetime (ms), quota. Reads first,
            // then the ZADD, which a full Redis refuses (fail closed), then the pruning.
            spend_proof: Script::new(
                r"local t = redis.call('TIME')
                local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
                local seen = redis.call('ZSCORE', KEYS[1], ARGV[1])
                if seen and tonumber(seen) > now then return 0 end
                if redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf') >= tonumber(ARGV[3]) then
                    return 2
                end
                local ttl = tonumber(ARGV[2])
                redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
                redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
                if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
                return 1",
            ),
            // KEYS: the token's marker. ARGV: lifetime (ms). 2: seen first, but not stored.
            logout_token: Script::new(
                r"if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
                local ok, e = pcall(redis.call, 'SET', KEYS[1], 1, 'PX', ARGV[1])
                if ok then return 1 end
                if string.find(tostring(e.err or e), 'READONLY') then return redis.error_reply('READONLY this node is a replica now') end
                return 2",
            ),
        }
    }
}
