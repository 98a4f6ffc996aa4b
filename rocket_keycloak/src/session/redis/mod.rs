//! [`RedisStore`]: sessions shared by several app instances through Redis or Valkey.
//!
//! What it guarantees (the README's "Several instances and Docker" says it for operators):
//! - **Nothing useful to a thief.** Records are sealed with AES-256-GCM under a key derived
//!   from the app's `secret_key`, and every name in Redis is an HMAC: no token, no session id,
//!   no `sub` or `sid` appears in a dump (`session/sealed.rs`). A record also seals its
//!   absolute end and its session id, so one put back after it ended does not open.
//! - **No cleanup job.** Every record expires with the session's absolute lifetime (Redis
//!   TTL); the indexes expire with the newest session they hold.
//! - **Back-channel logout everywhere.** The `sid` and `sub` indexes and the logout-token
//!   replay cache live in Redis, so a logout token delivered to any instance ends the
//!   sessions on all of them at once. So do spent DPoP proofs (`first_use_of_proof`): a
//!   proof replayed to another instance is refused there too, and each DPoP key has its own
//!   quota of live proofs, so one key's flood refuses that key only.
//! - **One refresh per session across instances.** A lock key with a random owner and an
//!   expiry ([`crate::session`] holds it only for one refresh); the owner re-reads the
//!   session after taking it, and releases it with a compare-and-delete.
//! - **No resurrection, no stale write, no stale end.** A refreshed session is written, and
//!   a session ended by a failed refresh is removed, only at the revision it was read at.
//! - **One round trip on the hot path.** Reading a session (and marking it used, for the
//!   per-user eviction order) is one `EVALSHA`; so is spending a proof.
//!
//! Decisions:
//! - The `redis` crate's tokio `ConnectionManager`, created lazily: the app starts while
//!   Redis is down, and reconnects by itself when it returns. Every command has a 1 s
//!   connect and response timeout, so a Redis outage costs a request at most about a second
//!   before its 503.
//! - **Fail closed when full.** The per-user limit is enforced here (least recently used
//!   session of that user first) and the `sid` index is bounded by it; the total size is
//!   Redis's `maxmemory`, under `maxmemory-policy noeviction`: a full Redis refuses new
//!   writes (503) rather than evict a spent proof that could then be replayed. The store
//!   checks the policy once Redis first answers and warns about any other (`setup.rs`); the
//!   scripts are written so that a full Redis refuses what it should (`scripts.rs`).
//! - **Plain `redis://` only to loopback** unless `oidc.allow_insecure_redis` opts in
//!   (`config/policies.rs`): whoever is on the path could answer for Redis.
//! - **Durations, not instants**, for every expiry (`store.rs`).
//! - **One server, Sentinel or Cluster** (`connection.rs`): the same scripts run on all
//!   three. On a Cluster every script touches one slot: all keys of one user (records, `sub`
//!   and `sid` indexes) share the hash tag `{<HMAC of sub>}`, and a session id carries its
//!   user's tag after a dot (made by [`SessionStore::new_id`](crate::SessionStore::new_id);
//!   an id without one names no session), so a read finds the record's slot from the cookie
//!   alone. A DPoP key's proofs share the key's tag; a refresh lock and a logout-token id are
//!   one key each. **One operation crosses slots**, in two steps: a logout that names only a
//!   `sid` first reads `w:<HMAC of sid>` (the user's tag, written before the session it
//!   serves), then ends the sessions in that user's slot; a session put between the two
//!   steps is in the index the second reads, so none escapes.
//! - **What a failover may lose** (Redis replicates asynchronously), and what the user sees:
//!   a sign-in or refresh written just before it may be gone (sign in again; a lost refresh
//!   leaves the previous revision, whose rotated refresh token Keycloak refuses, so that
//!   session ends). A logout, a logout-token id and a spent DPoP proof are not acknowledged
//!   to the caller before a replica holds them, within 500 ms (`WAIT`, `connection.rs`), and
//!   are made again on the new master if the old one was demoted meanwhile (`store.rs`); past
//!   that the app warns and goes on, and a failover in that moment could bring the session
//!   back or make the proof replayable until it expires (its `iat` window plus the margin,
//!   about 70 s).
//!
//! | file | holds |
//! |---|---|
//! | `setup.rs` | [`RedisStore`], `open`, the key names and hash tags, the eviction-policy check |
//! | `connection.rs` | one server, Sentinel or Cluster behind one connection; when to ask the sentinels again |
//! | `scripts.rs` | the Lua scripts, and how each behaves when Redis is full |
//! | `store.rs` | the [`SessionStore`](crate::SessionStore) methods, and expiry as durations |

mod connection;
mod scripts;
mod setup;
mod store;

pub use setup::RedisStore;
