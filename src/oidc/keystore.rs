//! The key store: the current key set, and the refetch that unknown `kid`s share.
//!
//! [`KeyStore`] takes its [`KeySource`] as a parameter (Keycloak's JWKS over HTTP in the
//! app, a stub in the unit tests below), so its scheduling is tested on tokio's paused
//! clock instead of with real sleeps.
//!
//! Decisions (the failure policy in [`super`] says why):
//! - **Single flight.** At most one load runs at a time; every request that needs it waits
//!   on the same one (a `watch` generation counter tells waiters a load has ended).
//! - **Rate limited, never refused.** The first unknown `kid` after a quiet period loads
//!   at once; later ones inside [`Timing::min_refetch_interval`] schedule one load for the
//!   interval's end and wait for it. Refusing them instead would let a flood of bogus
//!   `kid`s spend the slot a genuinely rotated-in key needs.
//! - **Bounded waits.** A request waits for a refetch at most [`Timing::kid_wait`] past the
//!   refetch's start, and for a running refresh at most [`Timing::refresh_wait`].
//! - **No lock across an await.** Key sets are swapped atomically ([`arc_swap`]); the
//!   bookkeeping mutex is held for a few instructions.
//! - **A failed load keeps the last good set.**

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use rocket::tokio::sync::watch;
use rocket::tokio::time::Instant;
use rocket::tokio::{self};

use super::jwks::{KeySet, VerifyingKey};

/// Where key sets come from.
pub(crate) trait KeySource: Send + Sync + 'static {
    /// Why a load failed (logged, never shown to clients).
    type Error: std::fmt::Display + Send;
    /// Loads the current key set.
    fn load(&self) -> impl Future<Output = Result<KeySet, Self::Error>> + Send;
}

/// How long the store waits, and how often it may refetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timing {
    /// Minimum time between refetches caused by unknown `kid`s.
    pub min_refetch_interval: Duration,
    /// How long an unknown-`kid` request waits for a refetch, counted from its start.
    pub kid_wait: Duration,
    /// How long [`KeyStore::refresh`] waits for a refresh that is already running.
    pub refresh_wait: Duration,
}

/// Why no key could be handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MissingKey {
    /// No key set has been loaded yet (the provider was never reachable).
    NotLoaded,
    /// The loaded set has no key with this id, even after a refetch.
    UnknownKid,
}

/// The key store. Cheap to clone; clones share the keys.
pub(crate) struct KeyStore<S> {
    shared: Arc<Shared<S>>,
}

impl<S> Clone for KeyStore<S> {
    fn clone(&self) -> Self {
        Self { shared: self.shared.clone() }
    }
}

/// Called with every newly loaded key set (the verified-token cache drops entries whose
/// key left the set).
type Listener = Box<dyn Fn(&KeySet) + Send + Sync>;

struct Shared<S> {
    source: S,
    timing: Timing,
    listener: Listener,
    keys: ArcSwapOption<KeySet>,
    refresh: Mutex<RefreshState>,
    /// Bumped after every load, successful or not; waiters watch it.
    generation: watch::Sender<u64>,
}

#[derive(Default)]
struct RefreshState {
    /// A load is running.
    in_flight: bool,
    /// An unknown-kid refetch is waiting for its slot.
    scheduled: bool,
    /// When the latest unknown-kid refetch started or will start (the rate limit's clock).
    next_refetch_at: Option<Instant>,
}

impl<S: KeySource> KeyStore<S> {
    /// An empty store loading from `source`; `listener` sees every new key set.
    pub(crate) fn new(
        source: S,
        timing: Timing,
        listener: impl Fn(&KeySet) + Send + Sync + 'static,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                source,
                timing,
                listener: Box::new(listener),
                keys: ArcSwapOption::empty(),
                refresh: Mutex::new(RefreshState::default()),
                generation: watch::Sender::new(0),
            }),
        }
    }

    /// The key source.
    pub(crate) fn source(&self) -> &S {
        &self.shared.source
    }

    /// Whether a key set is loaded.
    pub(crate) fn is_loaded(&self) -> bool {
        self.shared.keys.load().is_some()
    }

    /// Calls `f` with the current key set without taking a reference count (the hot path).
    pub(crate) fn with_keys<T>(&self, f: impl FnOnce(Option<&KeySet>) -> T) -> T {
        f(self.shared.keys.load().as_deref())
    }

    fn state(&self) -> MutexGuard<'_, RefreshState> {
        self.shared.refresh.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn current_key(&self, kid: &str) -> Option<Arc<VerifyingKey>> {
        self.shared.keys.load().as_ref().and_then(|keys| keys.get(kid).cloned())
    }

    /// The key named `kid`, refetching (rate limited, single flight) when the current set
    /// does not have it.
    pub(crate) async fn key_for(&self, kid: &str) -> Result<Arc<VerifyingKey>, MissingKey> {
        let Some(keys) = self.shared.keys.load_full() else {
            return Err(MissingKey::NotLoaded);
        };
        if let Some(key) = keys.get(kid) {
            return Ok(key.clone());
        }
        let mut generation = self.shared.generation.subscribe();
        let deadline = {
            let mut state = self.state();
            // A load may have landed between the lookup above and taking the lock.
            if let Some(key) = self.current_key(kid) {
                return Ok(key);
            }
            let now = Instant::now();
            let start_at = match state.next_refetch_at {
                // A refetch is running or scheduled: share it.
                Some(at) if state.in_flight || state.scheduled => at,
                _ => {
                    // The first refetch runs now; later ones wait for the end of the
                    // interval, so bogus kids delay a genuinely new key but never lock it out.
                    let at = state
                        .next_refetch_at
                        .map(|last| last + self.shared.timing.min_refetch_interval)
                        .filter(|at| *at > now)
                        .unwrap_or(now);
                    state.next_refetch_at = Some(at);
                    state.scheduled = true;
                    let this = self.clone();
                    tokio::spawn(async move { this.scheduled_refetch(at).await });
                    at
                }
            };
            start_at.max(now) + self.shared.timing.kid_wait
        };
        // Wait for the shared refetch, never past its start plus `kid_wait`.
        loop {
            let pending = {
                let state = self.state();
                state.in_flight || state.scheduled
            };
            if !pending {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, generation.changed()).await.is_err() {
                break;
            }
            if let Some(key) = self.current_key(kid) {
                return Ok(key);
            }
        }
        self.current_key(kid).ok_or(MissingKey::UnknownKid)
    }

    /// Runs the unknown-kid refetch scheduled for `at` (unless another load is running,
    /// whose result the waiters then share).
    async fn scheduled_refetch(&self, at: Instant) {
        tokio::time::sleep_until(at).await;
        let start = {
            let mut state = self.state();
            state.scheduled = false;
            !std::mem::replace(&mut state.in_flight, true)
        };
        if start {
            self.run_load("unknown kid").await;
        }
    }

    /// Loads the key set now, unless a load is already running, in which case it waits for
    /// that one. Returns whether keys are loaded.
    pub(crate) async fn refresh(&self, reason: &str) -> bool {
        let mut generation = self.shared.generation.subscribe();
        let start = !std::mem::replace(&mut self.state().in_flight, true);
        if start {
            self.run_load(reason).await;
        } else {
            let _ =
                tokio::time::timeout(self.shared.timing.refresh_wait, generation.changed()).await;
        }
        self.is_loaded()
    }

    /// Performs one load; the caller has set `in_flight`.
    async fn run_load(&self, reason: &str) {
        match self.shared.source.load().await {
            Ok(keys) => {
                log::info!("OIDC keys loaded ({reason}): kids {:?}", keys.kids());
                let keys = Arc::new(keys);
                self.shared.keys.store(Some(keys.clone()));
                (self.shared.listener)(&keys);
            }
            Err(e) if self.is_loaded() => {
                log::warn!("OIDC key refresh failed ({reason}), keeping the last good keys: {e}")
            }
            Err(e) => log::warn!("OIDC provider not reachable yet ({reason}): {e}"),
        }
        self.state().in_flight = false;
        self.shared.generation.send_modify(|g| *g += 1);
    }
}

#[cfg(test)]
mod tests;
