//! The key store's scheduling: handing out keys, the unknown-`kid` refetch, the refresh,
//! and the load itself.
//!
//! The decisions are listed in full in `keystore.rs`; this is where they are made:
//! - **Single flight**: [`KeyStore::refresh`] and the scheduled refetch start a load only
//!   when none is running (`in_flight`); everyone else waits for its generation.
//! - **Rate limited, never locked out**: [`KeyStore::key_for`] schedules the refetch for
//!   the end of `Timing::min_refetch_interval` instead of refusing it.
//! - **Few waiters, the rest answered at once**: the three cases, in that order, in
//!   [`KeyStore::key_for`]; a [`Waiter`] counts a parked request and uncounts it when the
//!   request ends, abandoned or not.
//! - **Bounded waits**, and a failed refetch answers [`MissingKey::Pending`], never an
//!   unknown key.
//! - **A failed load keeps the last good set** (`run_load`), and an outage is logged when
//!   it starts and when it ends, its retries at `debug`.

use std::sync::Arc;
use std::time::Duration;

use rocket::tokio::time::Instant;
use rocket::tokio::{self};

use super::state::{Issued, KeySource, KeyStore, MAX_KID_WAITERS, MissingKey, OVERFLOW_GRACE};
use crate::oidc::jwks::{KeySet, VerifyingKey};
use crate::telemetry;

/// Added to a [`MissingKey::Pending`] delay: the pending refetch's own duration.
pub(super) const RETRY_MARGIN: Duration = Duration::from_secs(1);

/// One request counted in `RefreshState::waiters` (`state.rs`); uncounted when dropped
/// (also when the request is abandoned mid-wait).
struct Waiter<'a, S: KeySource>(&'a KeyStore<S>);

impl<S: KeySource> Drop for Waiter<'_, S> {
    fn drop(&mut self) {
        self.0.state().waiters -= 1;
    }
}

impl<S: KeySource> KeyStore<S> {
    /// The key named `kid`, refetching (rate limited, single flight) when the current set
    /// does not have it. `issued` is asked only then (see `keystore.rs`'s doc for its use).
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
