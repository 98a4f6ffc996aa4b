//! [`MemoryStore`]: the default in-process session store.
//!
//! Decisions (a shared store must give the same guarantees; `store.rs` lists them):
//! - **Bounded, and fair between users.** At most `capacity` sessions in all and at most
//!   `per_user` per subject. A new session first pushes out the least recently used session
//!   *of the same user* when that user is at their limit, and only then the least recently
//!   used session overall. So one account that loops through sign-in (a script, or a
//!   self-registered user) evicts nobody but itself; without the per-user cap it could sign
//!   every other user out. Many accounts can still fill the store: the limit is then the
//!   realm's registration policy, and the capacity should be sized above the expected
//!   number of live sessions.
//! - **Evicted by last use, not by creation**: an active user's session survives a burst of
//!   new sign-ins; an abandoned one goes first.
//! - **Absolute lifetime** from creation (Keycloak's SSO max lifespan by default): using a
//!   session does not extend it.
//! - **Writes after a refresh are compare-and-set** ([`SessionStore::update`]): a session
//!   ended while its refresh was in flight (logout, back-channel logout, eviction) stays
//!   ended; a refresh never resurrects it.
//! - **Logout-token ids are bounded by time, then by count**: expired ids are dropped first;
//!   past [`MAX_SEEN_LOGOUT_TOKENS`] live ids the one expiring soonest is forgotten, never
//!   the new logout refused.

use crate::protocol::{SessionId, Subject};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::record::{Session, StoreError};
use super::store::{DEFAULT_LIFETIME, DEFAULT_SESSIONS_PER_USER, SessionStore};
use crate::clock::unix_now;
use crate::telemetry;

/// The default in-process store: bounded in all and per user, evicting the least recently
/// used, with an absolute lifetime per session.
pub struct MemoryStore {
    entries: Mutex<Entries>,
    seen_logout_tokens: Mutex<HashMap<String, u64>>,
    capacity: usize,
    per_user: usize,
    lifetime: Duration,
}

/// Default total capacity.
pub(crate) const DEFAULT_CAPACITY: usize = 10_000;
/// Logout-token ids remembered at most; past it, the one expiring soonest is forgotten.
pub(crate) const MAX_SEEN_LOGOUT_TOKENS: usize = 10_000;

#[derive(Default)]
struct Entries {
    by_id: HashMap<SessionId, Entry>,
    /// Last use (a counter) → id: the least recently used session comes first.
    by_use: BTreeMap<u64, SessionId>,
    /// The ids of each subject's sessions.
    by_sub: HashMap<Subject, HashSet<SessionId>>,
    clock: u64,
}

struct Entry {
    created: Instant,
    used: u64,
    session: Session,
}

impl Entries {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    fn touch(&mut self, id: &SessionId) {
        let tick = self.tick();
        if let Some(entry) = self.by_id.get_mut(id) {
            self.by_use.remove(&entry.used);
            entry.used = tick;
            self.by_use.insert(tick, id.to_owned());
        }
    }

    fn insert(&mut self, id: &SessionId, created: Instant, session: Session) {
        let used = self.tick();
        self.by_sub.entry(session.identity.sub.clone()).or_default().insert(id.to_owned());
        self.by_use.insert(used, id.to_owned());
        self.by_id.insert(id.to_owned(), Entry { created, used, session });
    }

    fn remove(&mut self, id: &SessionId) -> Option<Entry> {
        let entry = self.by_id.remove(id)?;
        self.by_use.remove(&entry.used);
        let sub = &entry.session.identity.sub;
        if let Some(ids) = self.by_sub.get_mut(sub) {
            ids.remove(id);
            if ids.is_empty() {
                self.by_sub.remove(sub);
            }
        }
        Some(entry)
    }

    /// The least recently used session of `sub`.
    fn least_recent_of(&self, sub: &Subject) -> Option<SessionId> {
        let ids = self.by_sub.get(sub)?;
        ids.iter().min_by_key(|id| self.by_id.get(*id).map_or(0, |e| e.used)).cloned()
    }
}

impl MemoryStore {
    /// A store of at most `capacity` sessions, each living at most `lifetime`, at most 10
    /// per user (see [`MemoryStore::with_sessions_per_user`]).
    pub fn new(capacity: usize, lifetime: Duration) -> Self {
        Self {
            entries: Mutex::new(Entries::default()),
            seen_logout_tokens: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            per_user: DEFAULT_SESSIONS_PER_USER,
            lifetime,
        }
    }

    /// At most `limit` sessions per user (at least 1); a new sign-in beyond it ends that
    /// user's least recently used session.
    pub fn with_sessions_per_user(mut self, limit: usize) -> Self {
        self.per_user = limit.max(1);
        self
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn expired(&self, entry: &Entry) -> bool {
        entry.created.elapsed() > self.lifetime
    }

    fn remove_where(&self, matches: impl Fn(&Session) -> bool) -> usize {
        let mut entries = self.lock();
        let ids: Vec<SessionId> = entries
            .by_id
            .iter()
            .filter(|(_, e)| matches(&e.session))
            .map(|(id, _)| id.clone())
            .collect();
        let removed = ids.iter().filter(|id| entries.remove(id).is_some()).count();
        telemetry::sessions_active(entries.by_id.len());
        removed
    }
}

impl Default for MemoryStore {
    /// 10 000 sessions of at most 10 hours (Keycloak's default SSO max lifespan), at most
    /// 10 per user.
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY, DEFAULT_LIFETIME)
    }
}

#[rocket::async_trait]
impl SessionStore for MemoryStore {
    async fn get(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        let mut entries = self.lock();
        let Some(entry) = entries.by_id.get(id) else { return Ok(None) };
        if self.expired(entry) {
            entries.remove(id);
            return Ok(None);
        }
        let left = self.lifetime.saturating_sub(entry.created.elapsed());
        let session = Session { ends_at: unix_now() + left.as_secs(), ..entry.session.clone() };
        entries.touch(id);
        Ok(Some(session))
    }

    async fn put(&self, id: &SessionId, mut session: Session) -> Result<(), StoreError> {
        let mut entries = self.lock();
        let created = entries.remove(id).map_or_else(Instant::now, |e| e.created);
        let sub = session.identity.sub.clone();
        if entries.by_sub.get(&sub).is_some_and(|ids| ids.len() >= self.per_user)
            && let Some(oldest) = entries.least_recent_of(&sub)
        {
            log::info!("session limit of {sub} reached: their least recently used one ends");
            entries.remove(&oldest);
        }
        if entries.by_id.len() >= self.capacity {
            let expired: Vec<SessionId> = entries
                .by_id
                .iter()
                .filter(|(_, e)| self.expired(e))
                .map(|(id, _)| id.clone())
                .collect();
            for id in expired {
                entries.remove(&id);
            }
        }
        while entries.by_id.len() >= self.capacity {
            let Some((_, lru)) = entries.by_use.pop_first() else { break };
            log::warn!(
                "session store full ({}): the least recently used session ends",
                self.capacity
            );
            entries.remove(&lru);
        }
        session.revision = 1;
        entries.insert(id, created, session);
        telemetry::sessions_active(entries.by_id.len());
        Ok(())
    }

    async fn update(&self, id: &SessionId, mut session: Session) -> Result<bool, StoreError> {
        let mut entries = self.lock();
        match entries.by_id.get(id) {
            Some(old) if !self.expired(old) && old.session.revision == session.revision => {}
            _ => return Ok(false),
        }
        let Some(old) = entries.remove(id) else { return Ok(false) };
        session.revision = old.session.revision + 1;
        entries.insert(id, old.created, session);
        Ok(true)
    }

    async fn remove(&self, id: &SessionId) -> Result<(), StoreError> {
        let mut entries = self.lock();
        entries.remove(id);
        telemetry::sessions_active(entries.by_id.len());
        Ok(())
    }

    async fn remove_at_revision(&self, id: &SessionId, revision: u64) -> Result<bool, StoreError> {
        let mut entries = self.lock();
        if entries.by_id.get(id).is_none_or(|e| e.session.revision != revision) {
            return Ok(false);
        }
        entries.remove(id);
        telemetry::sessions_active(entries.by_id.len());
        Ok(true)
    }

    async fn remove_by_sid(&self, sid: &str) -> Result<usize, StoreError> {
        Ok(self.remove_where(|s| s.identity.sid.as_deref() == Some(sid)))
    }

    async fn remove_by_sub(&self, sub: &Subject) -> Result<usize, StoreError> {
        let mut entries = self.lock();
        let ids: Vec<SessionId> =
            entries.by_sub.get(sub).map(|ids| ids.iter().cloned().collect()).unwrap_or_default();
        let removed = ids.iter().filter(|id| entries.remove(id).is_some()).count();
        telemetry::sessions_active(entries.by_id.len());
        Ok(removed)
    }

    async fn lock_refresh(&self, _: &SessionId, _: &str, _: Duration) -> Result<bool, StoreError> {
        // One process: the session layer's own per-session lock is the whole story.
        Ok(true)
    }

    async fn unlock_refresh(&self, _: &SessionId, _: &str) -> Result<(), StoreError> {
        Ok(())
    }

    async fn first_use_of_logout_token(
        &self,
        jti: &str,
        accepted_until: u64,
    ) -> Result<bool, StoreError> {
        let mut seen = self.seen_logout_tokens.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.contains_key(jti) {
            return Ok(false);
        }
        if seen.len() >= MAX_SEEN_LOGOUT_TOKENS {
            let now = unix_now();
            seen.retain(|_, until| *until >= now);
        }
        while seen.len() >= MAX_SEEN_LOGOUT_TOKENS {
            // Forgetting the id that expires soonest risks one more end of the same
            // sessions; refusing this logout would keep sessions alive.
            let soonest = seen.iter().min_by_key(|(_, until)| **until).map(|(k, _)| k.clone());
            let Some(soonest) = soonest else { break };
            seen.remove(&soonest);
        }
        seen.insert(jti.to_owned(), accepted_until);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::record::test_session as session;

    fn id(value: &str) -> SessionId {
        SessionId::new(value)
    }

    #[rocket::async_test]
    async fn store_is_bounded() {
        let store = MemoryStore::new(2, Duration::from_secs(60));
        store.put(&id("a"), session("u1", "s1")).await.unwrap();
        store.put(&id("b"), session("u2", "s2")).await.unwrap();
        store.put(&id("c"), session("u3", "s3")).await.unwrap();
        assert!(store.get(&id("a")).await.unwrap().is_none());
        assert!(
            store.get(&id("b")).await.unwrap().is_some()
                && store.get(&id("c")).await.unwrap().is_some()
        );
    }

    #[rocket::async_test]
    async fn eviction_is_by_last_use_not_by_creation() {
        let store = MemoryStore::new(2, Duration::from_secs(60));
        store.put(&id("a"), session("u1", "s1")).await.unwrap();
        store.put(&id("b"), session("u2", "s2")).await.unwrap();
        assert!(store.get(&id("a")).await.unwrap().is_some()); // a is used again: b is now the idlest
        store.put(&id("c"), session("u3", "s3")).await.unwrap();
        assert!(store.get(&id("a")).await.unwrap().is_some(), "the active session survives");
        assert!(store.get(&id("b")).await.unwrap().is_none(), "the idle one went");
    }

    #[rocket::async_test]
    async fn one_user_signing_in_again_and_again_evicts_only_their_own_sessions() {
        let store = MemoryStore::new(4, Duration::from_secs(60)).with_sessions_per_user(2);
        store.put(&id("bob"), session("bob", "s-bob")).await.unwrap();
        store.put(&id("carol"), session("carol", "s-carol")).await.unwrap();
        for i in 0..100 {
            store
                .put(&id(&format!("mallory-{i}")), session("mallory", &format!("s-{i}")))
                .await
                .unwrap();
        }
        assert!(store.get(&id("bob")).await.unwrap().is_some(), "other users keep their sessions");
        assert!(store.get(&id("carol")).await.unwrap().is_some());
        // Mallory keeps her two most recent sessions.
        assert!(
            store.get(&id("mallory-99")).await.unwrap().is_some()
                && store.get(&id("mallory-98")).await.unwrap().is_some()
        );
        assert!(store.get(&id("mallory-97")).await.unwrap().is_none());
    }

    #[rocket::async_test]
    async fn sessions_expire() {
        let store = MemoryStore::new(10, Duration::from_millis(10));
        store.put(&id("a"), session("u1", "s1")).await.unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert!(store.get(&id("a")).await.unwrap().is_none());
    }

    #[rocket::async_test]
    async fn update_is_a_compare_and_set_on_the_revision() {
        let store = MemoryStore::default();
        store.put(&id("a"), session("u1", "s1")).await.unwrap();
        let read = store.get(&id("a")).await.unwrap().unwrap();
        assert!(store.update(&id("a"), read.clone()).await.unwrap());
        assert!(!store.update(&id("a"), read.clone()).await.unwrap(), "a stale revision loses");
        let current = store.get(&id("a")).await.unwrap().unwrap();
        store.remove(&id("a")).await.unwrap();
        assert!(!store.update(&id("a"), current).await.unwrap(), "no resurrection");
        assert!(store.get(&id("a")).await.unwrap().is_none());
        // Ending one is compare-and-delete too: a stale revision does not end it.
        store.put(&id("b"), session("u1", "s1")).await.unwrap();
        let read = store.get(&id("b")).await.unwrap().unwrap();
        assert!(store.update(&id("b"), read.clone()).await.unwrap());
        assert!(!store.remove_at_revision(&id("b"), read.revision).await.unwrap());
        assert!(store.remove_at_revision(&id("b"), read.revision + 1).await.unwrap());
    }

    #[rocket::async_test]
    async fn a_full_logout_replay_cache_forgets_rather_than_refuses() {
        let store = MemoryStore::default();
        let live = unix_now() + 3600;
        for i in 0..MAX_SEEN_LOGOUT_TOKENS {
            let jti = format!("jti-{i}");
            assert!(store.first_use_of_logout_token(&jti, live + i as u64).await.unwrap());
        }
        // Full of live ids: a new valid logout token is still honoured.
        assert!(store.first_use_of_logout_token("one-more", live).await.unwrap());
        // The soonest-expiring id was forgotten; the others are still refused as replays.
        assert!(!store.first_use_of_logout_token("one-more", live).await.unwrap());
        assert!(!store.first_use_of_logout_token("jti-9999", live).await.unwrap());
        assert!(store.first_use_of_logout_token("jti-0", live).await.unwrap());
    }

    #[rocket::async_test]
    async fn remove_by_sid_and_sub_end_every_match() {
        let store = MemoryStore::default();
        store.put(&id("a"), session("u1", "s1")).await.unwrap();
        store.put(&id("b"), session("u1", "s1")).await.unwrap();
        store.put(&id("c"), session("u1", "s2")).await.unwrap();
        store.put(&id("d"), session("u2", "s3")).await.unwrap();
        assert_eq!(store.remove_by_sid("s1").await.unwrap(), 2);
        assert_eq!(store.remove_by_sub(&Subject::new("u1")).await.unwrap(), 1);
        assert!(store.get(&id("c")).await.unwrap().is_none());
        assert!(store.get(&id("d")).await.unwrap().is_some());
    }
}
