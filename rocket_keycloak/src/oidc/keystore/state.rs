//! The key store's state: what it holds and is built from.
//!
//! [`KeyStore`] is a handle on [`Shared`]: the [`KeySource`] it loads from, its [`Timing`],
//! the current key set and the refresh bookkeeping ([`RefreshState`]). The scheduling that
//! reads and writes them is in `schedule.rs`; the policy both follow is in `keystore.rs`.
//!
//! Decisions:
//! - **No lock across an await.** The key set is swapped atomically ([`arc_swap`]), so the
//!   hot path ([`KeyStore::with_keys`]) takes no lock; the bookkeeping mutex is held for a
//!   few instructions, and a poisoned one is used as it stands (`PoisonError::into_inner`).
//! - **Waiters learn of a load by a generation counter** (a `watch` channel bumped after
//!   every load, successful or not), not by polling the key set.
//! - **The kids seen are bounded.** Case 2 of `keystore.rs` needs every kid any loaded set
//!   contained; past [`MAX_SEEN_KIDS`] the store stops tracking them, and every unknown kid
//!   then takes case 3.
//! - Fields are `pub(super)`: only the scheduler, a sibling, reaches into them.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use rocket::tokio::sync::watch;
use rocket::tokio::time::Instant;

use crate::oidc::jwks::{KeySet, VerifyingKey};

/// Where key sets come from.
pub(crate) trait KeySource: Send + Sync + 'static {
    /// Why a load failed (logged, never shown to clients).
    type Error: std::fmt::Display + Send;
    /// Loads the current key set.
    fn load(&self) -> impl Future<Output = Result<KeySet, Self::Error>> + Send;
    /// The realm's name, for the logs and the metrics' `realm` label.
    fn realm(&self) -> &str;
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

/// How many requests may wait for a pending unknown-kid refetch at once.
pub(crate) const MAX_KID_WAITERS: usize = 8;

/// How many distinct kids the store remembers having seen (case 2 of `keystore.rs`'s doc).
pub(crate) const MAX_SEEN_KIDS: usize = 256;

/// How long a request past [`MAX_KID_WAITERS`] may wait for a refetch that is running.
pub(crate) const OVERFLOW_GRACE: Duration = Duration::from_millis(50);

/// When a token naming an unknown `kid` says it was issued (from its unverified payload):
/// decides only whether the request may wait for a refetch, never whether it is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Issued {
    /// The token cannot pass whatever its key: never wait.
    Hopeless,
    /// Issued no later than this instant (clock skew included).
    By(Instant),
    /// The token names no usable issue time.
    Unknown,
}

/// Why no key could be handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MissingKey {
    /// No key set has been loaded yet (the provider was never reachable).
    NotLoaded,
    /// The loaded set has no key with this id, even after a refetch.
    UnknownKid,
    /// A refetch may still bring the key, but enough requests wait for it already.
    Pending {
        /// When the pending refetch should have run.
        retry_after: Duration,
    },
}

/// The key store. Cheap to clone; clones share the keys.
pub(crate) struct KeyStore<S> {
    pub(super) shared: Arc<Shared<S>>,
}

impl<S> Clone for KeyStore<S> {
    fn clone(&self) -> Self {
        Self { shared: self.shared.clone() }
    }
}

/// Called with every newly loaded key set (the verified-token cache drops entries whose
/// key left the set).
pub(super) type Listener = Box<dyn Fn(&KeySet) + Send + Sync>;

pub(super) struct Shared<S> {
    pub(super) source: S,
    pub(super) timing: Timing,
    pub(super) listener: Listener,
    pub(super) keys: ArcSwapOption<KeySet>,
    pub(super) refresh: Mutex<RefreshState>,
    /// Bumped after every load, successful or not; waiters watch it.
    pub(super) generation: watch::Sender<u64>,
}

pub(super) struct RefreshState {
    /// A load is running.
    pub(super) in_flight: bool,
    /// An unknown-kid refetch is waiting for its slot.
    pub(super) scheduled: bool,
    /// When the latest unknown-kid refetch started or will start (the rate limit's clock).
    pub(super) next_refetch_at: Option<Instant>,
    /// When the load that produced the current key set started.
    pub(super) loaded_from: Option<Instant>,
    /// Every kid any loaded set contained, unless there were too many ([`MAX_SEEN_KIDS`]).
    pub(super) seen_kids: Option<HashSet<String>>,
    /// Whether the latest load failed.
    pub(super) last_load_failed: bool,
    /// When the current run of failed loads (an outage) started.
    pub(super) failing_since: Option<Instant>,
    /// Requests waiting for a pending refetch.
    pub(super) waiters: usize,
}

impl Default for RefreshState {
    fn default() -> Self {
        Self {
            in_flight: false,
            scheduled: false,
            next_refetch_at: None,
            loaded_from: None,
            seen_kids: Some(HashSet::new()),
            last_load_failed: false,
            failing_since: None,
            waiters: 0,
        }
    }
}

impl RefreshState {
    /// Records a newly loaded set: when its load started, and its kids.
    pub(super) fn loaded(&mut self, started: Instant, keys: &KeySet) {
        self.loaded_from = Some(started);
        if let Some(seen) = &mut self.seen_kids {
            seen.extend(keys.named_kids().map(str::to_owned));
            if seen.len() > MAX_SEEN_KIDS {
                self.seen_kids = None;
            }
        }
    }

    /// Whether `kid` is certainly unknown for a token issued by `issued` (case 2 of
    /// `keystore.rs`'s doc).
    pub(super) fn certainly_unknown(&self, kid: &str, issued: Issued) -> bool {
        let Issued::By(issued) = issued else { return false };
        self.loaded_from.is_some_and(|loaded_from| loaded_from > issued)
            && self.seen_kids.as_ref().is_some_and(|seen| !seen.contains(kid))
    }
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

    /// The key source (its metadata: the sign-in's endpoints, introspection's).
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

    /// The refresh bookkeeping, for a few instructions (never across an await).
    pub(super) fn state(&self) -> MutexGuard<'_, RefreshState> {
        self.shared.refresh.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The key named `kid` in the current set.
    pub(super) fn current_key(&self, kid: &str) -> Option<Arc<VerifyingKey>> {
        self.shared.keys.load().as_ref().and_then(|keys| keys.get(kid).cloned())
    }
}
