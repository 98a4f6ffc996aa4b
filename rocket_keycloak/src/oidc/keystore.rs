//! The key store: the current key set, and the refetch that unknown `kid`s share.
//!
//! [`KeyStore`] takes its [`KeySource`] as a parameter (Keycloak's JWKS over HTTP in the
//! app, a stub in the unit tests below), so its scheduling is tested on tokio's paused
//! clock instead of with real sleeps.
//!
//! Decisions (the failure policy in [`super`] says why):
//! - **Single flight.** At most one load runs at a time; every request that needs it waits
//!   on the same one (a `watch` generation counter tells waiters a load has ended).
//! - **Rate limited, never locked out.** The first unknown `kid` after a quiet period loads
//!   at once; later ones inside [`Timing::min_refetch_interval`] schedule one load for the
//!   interval's end. Refusing to schedule it instead would let a flood of bogus `kid`s
//!   spend the slot a genuinely rotated-in key needs.
//! - **Few waiters, the rest answered at once.** A token naming an unknown `kid` costs a
//!   parked connection while it waits, so waiting is the exception (slowloris by token):
//!   1. a token that cannot pass whatever its key (its unverified payload is unreadable,
//!      expired, or issued in the future beyond the leeway: [`Issued::Hopeless`]) never
//!      waits;
//!   2. if the last *successful* load started after the token was issued (its `iat` plus
//!      the leeway for clock skew, [`Issued::By`]) and did not contain the `kid`, and no
//!      load since the start ever did, the `kid` is definitively unknown: Keycloak
//!      publishes a key before it signs with it, so that load would have seen it. Answered
//!      at once ([`MissingKey::UnknownKid`], a 401). A `kid` seen before may be a withdrawn
//!      key published again (its old tokens become valid again), so it takes case 3; so do
//!      all once more than [`MAX_SEEN_KIDS`] kids have been seen;
//!   3. otherwise at most [`MAX_KID_WAITERS`] requests share the pending refetch. Every
//!      further one waits at most [`OVERFLOW_GRACE`], and only if the refetch runs within
//!      it (the burst of genuine requests right after a rotation, whose immediate refetch
//!      takes milliseconds); then it is answered with [`MissingKey::Pending`], a 503 with
//!      `Retry-After`, because the key may yet appear. The refetch it needs is scheduled
//!      all the same, so a genuinely new key is served once that has run: a valid token is
//!      deferred under a flood, never refused.
//!
//!   The `iat` is read from the unverified payload only to choose between these answers,
//!   never to accept a token. An attacker who forges a fresh `iat` gets case 3: a 503, and
//!   at most [`MAX_KID_WAITERS`] parked requests in all.
//! - **Bounded waits.** A request waits for a refetch at most [`Timing::kid_wait`] past the
//!   refetch's start, and for a running refresh at most [`Timing::refresh_wait`]. If the
//!   refetch it waited for failed (Keycloak down), the answer is [`MissingKey::Pending`],
//!   not an unknown key: nobody could say whether the key exists.
//! - **No lock across an await.** Key sets are swapped atomically ([`arc_swap`]); the
//!   bookkeeping mutex is held for a few instructions.
//! - **A failed load keeps the last good set.**

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use rocket::tokio::sync::watch;
use rocket::tokio::time::Instant;
use rocket::tokio::{self};

use crate::telemetry;

use super::jwks::{KeySet, VerifyingKey};

/// Added to a [`MissingKey::Pending`] delay: the pending refetch's own duration.
const RETRY_MARGIN: Duration = Duration::from_secs(1);

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

/// How many distinct kids the store remembers having seen (case 2 of the module doc).
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

struct RefreshState {
    /// A load is running.
    in_flight: bool,
    /// An unknown-kid refetch is waiting for its slot.
    scheduled: bool,
    /// When the latest unknown-kid refetch started or will start (the rate limit's clock).
    next_refetch_at: Option<Instant>,
    /// When the load that produced the current key set started.
    loaded_from: Option<Instant>,
    /// Every kid any loaded set contained, unless there were too many ([`MAX_SEEN_KIDS`]).
    seen_kids: Option<HashSet<String>>,
    /// Whether the latest load failed.
    last_load_failed: bool,
    /// When the current run of failed loads (an outage) started.
    failing_since: Option<Instant>,
    /// Requests waiting for a pending refetch.
    waiters: usize,
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
    fn loaded(&mut self, started: Instant, keys: &KeySet) {
        self.loaded_from = Some(started);
        if let Some(seen) = &mut self.seen_kids {
            seen.extend(keys.named_kids().map(str::to_owned));
            if seen.len() > MAX_SEEN_KIDS {
                self.seen_kids = None;
            }
        }
    }

    /// Whether `kid` is certainly unknown for a token issued by `issued` (case 2).
    fn certainly_unknown(&self, kid: &str, issued: Issued) -> bool {
        let Issued::By(issued) = issued else { return false };
        self.loaded_from.is_some_and(|loaded_from| loaded_from > issued)
            && self.seen_kids.as_ref().is_some_and(|seen| !seen.contains(kid))
    }
}

/// One request counted in [`RefreshState::waiters`]; uncounted when dropped (also when
/// the request is abandoned mid-wait).
struct Waiter<'a, S: KeySource>(&'a KeyStore<S>);

impl<S: KeySource> Drop for Waiter<'_, S> {
    fn drop(&mut self) {
        self.0.state().waiters -= 1;
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

    /// The key source.
    #[cfg(feature = "sign-in")]
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
    /// does not have it. `issued` is asked only then (see the module doc for its use).
    pub(crate) async fn key_for(
        &self,
        kid: &str,
        issued: impl FnOnce() -> Issued,
    ) -> Result<Arc<VerifyingKey>, MissingKey> {
        let Some(keys) = self.shared.keys.load_full() else {
            return Err(MissingKey::NotLoaded);
        };
        if let Some(key) = keys.get(kid) {
            return Ok(key.clone());
        }
        let issued = issued();
        if issued == Issued::Hopeless {
            return Err(MissingKey::UnknownKid);
        }
        let mut generation = self.shared.generation.subscribe();
        let (deadline, waiter) = {
            let mut state = self.state();
            // A load may have landed between the lookup above and taking the lock.
            if let Some(key) = self.current_key(kid) {
                return Ok(key);
            }
            // A load that started after the token was issued would have seen its key.
            if state.certainly_unknown(kid, issued) {
                return Err(MissingKey::UnknownKid);
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
            if state.waiters < MAX_KID_WAITERS {
                state.waiters += 1;
                (start_at.max(now) + self.shared.timing.kid_wait, Some(Waiter(self)))
            } else if start_at <= now + OVERFLOW_GRACE {
                (now + OVERFLOW_GRACE, None)
            } else {
                let retry_after = start_at - now + RETRY_MARGIN;
                return Err(MissingKey::Pending { retry_after });
            }
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
                if waiter.is_none() {
                    // Past the bound, and the refetch outlasted the grace: it may bring the key.
                    return Err(MissingKey::Pending { retry_after: RETRY_MARGIN });
                }
                break;
            }
            if let Some(key) = self.current_key(kid) {
                return Ok(key);
            }
        }
        if let Some(key) = self.current_key(kid) {
            return Ok(key);
        }
        if self.state().last_load_failed {
            // Keycloak could not be asked: the key may exist.
            let retry_after = self.shared.timing.min_refetch_interval + RETRY_MARGIN;
            return Err(MissingKey::Pending { retry_after });
        }
        Err(MissingKey::UnknownKid)
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
        let started = Instant::now();
        // The metric's `trigger` label: a fixed set, whatever the caller's wording.
        let trigger = match reason {
            "startup" => "startup",
            "unknown kid" => "unknown_kid",
            _ => "periodic",
        };
        let (was_failing, outage_since) = {
            let state = self.state();
            (state.last_load_failed, state.failing_since)
        };
        let realm = self.shared.source.realm();
        let loaded = match self.shared.source.load().await {
            Ok(keys) => {
                telemetry::jwks_fetch(realm, trigger, true, Some(keys.kids().len()));
                if was_failing {
                    let lasted = outage_since.map_or(0, |since| since.elapsed().as_secs());
                    log::info!(
                        "OIDC provider of realm {realm} reachable again (down about {lasted} s)"
                    );
                }
                // Every load says how it went; a key-set change says what changed.
                let before: Vec<String> =
                    self.with_keys(|old| old.map(KeySet::kids).unwrap_or_default());
                let now = keys.kids();
                let added: Vec<&String> = now.iter().filter(|k| !before.contains(k)).collect();
                let removed: Vec<&String> = before.iter().filter(|b| !now.contains(b)).collect();
                if added.is_empty() && removed.is_empty() {
                    log::info!(
                        "OIDC keys of realm {realm} reloaded ({reason}), unchanged: {} keys",
                        now.len()
                    );
                } else {
                    log::info!(
                        "OIDC keys of realm {realm} loaded ({reason}): added {added:?}, removed {removed:?}, \
                         now {now:?}"
                    );
                }
                let keys = Arc::new(keys);
                self.shared.keys.store(Some(keys.clone()));
                // After the store: whoever sees this instant under the lock sees these keys.
                self.state().loaded(started, &keys);
                (self.shared.listener)(&keys);
                true
            }
            // An outage is logged when it starts; the retries during it at debug.
            Err(e) if was_failing => {
                telemetry::jwks_fetch(realm, trigger, false, None);
                log::debug!("OIDC provider of realm {realm} still not reachable ({reason}): {e}");
                false
            }
            Err(e) if self.is_loaded() => {
                telemetry::jwks_fetch(realm, trigger, false, None);
                log::warn!(
                    "OIDC key refresh of realm {realm} failed ({reason}), keeping the last good \
                     keys: {e}"
                );
                false
            }
            Err(e) => {
                telemetry::jwks_fetch(realm, trigger, false, None);
                log::warn!("OIDC provider of realm {realm} not reachable yet ({reason}): {e}");
                false
            }
        };
        {
            let mut state = self.state();
            state.failing_since = match (loaded, state.failing_since) {
                (true, _) => None,
                (false, Some(since)) => Some(since),
                (false, None) => Some(started),
            };
            state.last_load_failed = !loaded;
            state.in_flight = false;
        }
        self.shared.generation.send_modify(|g| *g += 1);
    }
}

#[cfg(test)]
mod tests;
