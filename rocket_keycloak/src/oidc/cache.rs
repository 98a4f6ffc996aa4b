//! Caches of already-judged access tokens, so a token's signature is checked once.
//!
//! Decisions:
//! - Keyed by the SHA-256 of the whole token, never a prefix: two tokens share an entry
//!   only if they are the same bytes.
//! - Bounded ([`ACCEPTED_CAPACITY`], [`REJECTED_CAPACITY`]); quick_cache evicts by
//!   recency and frequency, and its lookups take no lock a JWKS refresh could hold.
//! - An accepted entry is used until the token's `exp` plus the leeway, the same instant the
//!   full path stops accepting it (otherwise every request in that window would repeat the
//!   signature check), and only while its key is still published; the time rules are
//!   re-applied on every hit, so the cache never accepts what the full path would refuse.
//!   Entries whose key left the JWKS are also purged at each refresh.
//! - A refusal is remembered for [`REJECTED_TTL`] when it is permanent (a forged signature,
//!   a wrong audience, ...), so replaying one bad token costs a hash, not an RSA
//!   verification. Unknown keys and not-yet-valid times are never remembered.
//! - Refusals are keyed by a [`RefusalKey`], a keyed 64-bit hash (SipHash-1-3 under a
//!   random per-process key) of the whole token, looked up before the SHA-256 is computed:
//!   a replayed forgery costs one cheap hash. Two tokens sharing a refusal key would need a
//!   64-bit collision under a key nobody outside the process knows, and its worst outcome is
//!   a refusal, never an acceptance; acceptances stay keyed by the SHA-256.
//! - Not keyed by the signature segment alone, although that hashes a third of the bytes:
//!   whoever holds a token they cannot use (a DPoP-bound token without its key) could then
//!   send it with another payload, get that refused, and so have the genuine token refused
//!   for [`REJECTED_TTL`], again and again.

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::{Duration, Instant};

use quick_cache::sync::Cache;
use sha2::{Digest, Sha256};

use super::jwks::{KeyId, KeySet};
use super::tokens::TokenError;
use crate::identity::Identity;

/// Accepted tokens remembered.
pub(crate) const ACCEPTED_CAPACITY: usize = 10_000;
/// Refused tokens remembered.
pub(crate) const REJECTED_CAPACITY: usize = 4_096;
/// How long a refusal is remembered.
pub(crate) const REJECTED_TTL: Duration = Duration::from_secs(60);

/// A token's cache key.
pub(crate) type TokenDigest = [u8; 32];

/// A token's key in the refusal cache ([`TokenCache::refusal_key`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RefusalKey(u64);

/// The digest of a token.
pub fn digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

/// What is kept of an accepted token.
#[derive(Debug)]
pub struct Accepted {
    /// The identity handed to handlers (shared).
    pub identity: Arc<Identity>,
    /// The key that verified it.
    pub kid: KeyId,
    /// `exp`, `nbf`, `iat` for the time rules.
    pub exp: f64,
    /// Not-before.
    pub nbf: Option<f64>,
    /// Issued-at.
    pub iat: Option<f64>,
}

/// The two caches.
pub struct TokenCache {
    /// The validation leeway, seconds: an entry lives until `exp` plus this.
    leeway: f64,
    accepted: Cache<TokenDigest, Arc<Accepted>>,
    /// The key of the refusal keys' hash, random per process.
    refusal_hasher: RandomState,
    rejected: Cache<RefusalKey, (Instant, TokenError)>,
}

impl TokenCache {
    /// Empty caches for tokens validated with `leeway`.
    pub fn new(leeway: Duration) -> Self {
        Self {
            leeway: leeway.as_secs_f64(),
            accepted: Cache::new(ACCEPTED_CAPACITY),
            refusal_hasher: RandomState::new(),
            rejected: Cache::new(REJECTED_CAPACITY),
        }
    }

    /// Whether a token expiring at `exp` may still be accepted at `now` (rule 8's `exp`).
    fn alive(&self, exp: f64, now: u64) -> bool {
        (now as f64) < exp + self.leeway
    }

    /// The accepted entry for `digest`, if usable at `now` with the current `keys`.
    pub fn accepted(&self, digest: &TokenDigest, now: u64, keys: &KeySet) -> Option<Arc<Accepted>> {
        let hit = self.accepted.get(digest)?;
        if self.alive(hit.exp, now) && keys.contains(&hit.kid) {
            Some(hit)
        } else {
            self.accepted.remove(digest);
            None
        }
    }

    /// Remembers an accepted token (only while it may still be accepted).
    pub fn accept(&self, digest: TokenDigest, entry: Accepted, now: u64) {
        if self.alive(entry.exp, now) {
            self.accepted.insert(digest, Arc::new(entry));
        }
    }

    /// The token's key in the refusal cache: the whole token, hashed (see the module doc).
    pub fn refusal_key(&self, token: &str) -> RefusalKey {
        RefusalKey(self.refusal_hasher.hash_one(token))
    }

    /// A remembered refusal of this token, if still fresh.
    pub fn rejected(&self, key: RefusalKey) -> Option<TokenError> {
        let (at, error) = self.rejected.get(&key)?;
        if at.elapsed() < REJECTED_TTL { Some(error) } else { None }
    }

    /// Remembers a refusal if it is permanent.
    pub fn reject(&self, key: RefusalKey, error: &TokenError) {
        if error.is_permanent() {
            self.rejected.insert(key, (Instant::now(), error.clone()));
        }
    }

    /// Drops accepted entries whose key is no longer published.
    pub fn retain_keys(&self, keys: &KeySet) {
        self.accepted.retain(|_, entry| keys.contains(&entry.kid));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Claims;
    use crate::oidc::jwks::test_support::key_set;

    fn entry(exp: f64) -> Accepted {
        let claims: Claims = serde_json::from_value(serde_json::json!({
            "iss": "i", "sub": "s", "aud": "api", "typ": "Bearer", "exp": exp
        }))
        .unwrap();
        Accepted { identity: Arc::new(claims.into()), kid: "k1".into(), exp, nbf: None, iat: None }
    }

    #[test]
    fn a_token_inside_the_leeway_after_exp_is_still_a_cache_hit() {
        let keys = key_set(&["k1"]).unwrap();
        let cache = TokenCache::new(Duration::from_secs(60));
        let (exp, token) = (1_000_000, digest("token"));
        cache.accept(token, entry(exp as f64), exp - 10);
        assert!(cache.accepted(&token, exp + 59, &keys).is_some(), "inside the leeway: a hit");
        assert!(cache.accepted(&token, exp + 60, &keys).is_none(), "past it: gone");
        // Accepted inside the window (the full path still accepts there): remembered too.
        let late = digest("late");
        cache.accept(late, entry(exp as f64), exp + 30);
        assert!(cache.accepted(&late, exp + 31, &keys).is_some());
    }

    #[test]
    fn a_permanent_refusal_is_remembered_under_its_own_token_only() {
        let cache = TokenCache::new(Duration::from_secs(60));
        let (forged, other) = (cache.refusal_key("forged"), cache.refusal_key("forgee"));
        cache.reject(forged, &TokenError::BadSignature);
        assert_eq!(cache.rejected(forged), Some(TokenError::BadSignature));
        assert_eq!(cache.rejected(other), None);
        cache.reject(other, &TokenError::UnknownKey);
        assert_eq!(cache.rejected(other), None, "not permanent: not remembered");
        // Another process (another key) does not share the keys.
        assert_ne!(TokenCache::new(Duration::ZERO).refusal_key("forged"), forged);
    }

    #[test]
    fn a_refusal_is_keyed_by_the_whole_token() {
        let cache = TokenCache::new(Duration::from_secs(60));
        let key = |token| cache.refusal_key(token);
        // The same signature under another payload is another token: refusing one must not
        // refuse the other (a thief of a bound token could otherwise deny its owner).
        assert_ne!(key("h1.p1.SIG"), key("h1.p2.SIG"));
        assert_ne!(key("h.p.SIG"), key("h.p.SIH"));
    }
}
