//! The metrics this crate records, by name, through the `metrics` facade.
//!
//! The names and labels are a contract (the README lists them, dashboards and alerts use
//! them), so each is written once: the series counted on every authenticated request in
//! `telemetry/meters.rs` (through handles resolved once per app, [`Meters`]), the others
//! here. Recording costs next to nothing
//! when the application installs no recorder; `MetricsEndpoint` installs the Prometheus
//! exporter when `oidc.metrics` asks for an endpoint (`src/routes/metrics.rs`).
//!
//! Decisions:
//! - Refusals anyone can cause (access tokens refused, back-channel logouts refused) are not
//!   logged one line each: they are counted here, by reason, and logged as one summary line
//!   every [`SUMMARY_PERIOD`] and at shutdown; the metrics count every one.
//! - Labels take values from small fixed sets (`source`, `outcome`, `reason`, ...), never
//!   from a request: a token, a `kid` or a user id in a label would be both a leak and an
//!   unbounded number of series.
//! - `sessions_active` is this instance's count for the memory store; a shared store does
//!   not report it (counting every instance's sessions is Redis's business).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

mod meters;

pub(crate) use meters::{Meters, Source};

/// One request's authentication as the metrics count it: where the credentials came from,
/// the outcome, how long the guard took, and the app's handles (`None` without
/// `OidcFairing`).
type Counted = (Source, &'static str, Duration, Option<Arc<Meters>>);

/// What the guards of one request concluded, kept in the request's local cache and counted
/// once, when the response leaves (`record_auth`): a role refusal after a successful
/// authentication is then counted as `insufficient_scope`, not as `ok` too.
#[derive(Default)]
pub(crate) struct AuthOutcome(Mutex<Option<Counted>>);

impl AuthOutcome {
    /// The request's slot.
    pub(crate) fn of<'r>(request: &'r rocket::Request<'_>) -> &'r Self {
        request.local_cache(Self::default)
    }

    /// Records the authentication's result (the first one wins; guards validate once).
    pub(crate) fn authenticated(
        &self,
        source: Source,
        outcome: &'static str,
        took: Duration,
        meters: Option<Arc<Meters>>,
    ) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert((source, outcome, took, meters));
    }

    /// A later guard refused the authenticated caller (a missing role).
    pub(crate) fn refine(&self, outcome: &'static str) {
        if let Some(slot) = self.0.lock().unwrap_or_else(PoisonError::into_inner).as_mut() {
            slot.1 = outcome;
        }
    }
}

/// Counts the request's authentication, if a guard asked for one (called as the response
/// leaves, by the key fairing).
pub(crate) fn record_auth(request: &rocket::Request<'_>) {
    let Some((source, outcome, took, meters)) =
        AuthOutcome::of(request).0.lock().unwrap_or_else(PoisonError::into_inner).take()
    else {
        return;
    };
    match (meters, meters::outcome_index(outcome)) {
        (Some(meters), Some(index)) => meters.authenticated(source, index, took),
        _ => meters::authenticated_unkept(source, outcome, took),
    }
}

/// Refusals counted between two log summaries, by reason (the last of `reasons`, `other`,
/// takes any reason not listed).
struct Tally<const N: usize> {
    reasons: [&'static str; N],
    counts: [AtomicU64; N],
}

impl<const N: usize> Tally<N> {
    const fn new(reasons: [&'static str; N]) -> Self {
        Self { reasons, counts: [const { AtomicU64::new(0) }; N] }
    }

    fn add(&self, reason: &str) {
        let slot = self.reasons.iter().position(|r| *r == reason).unwrap_or(N - 1);
        self.counts[slot].fetch_add(1, Ordering::Relaxed);
    }

    /// The total and "1180 signature, 24 expired" (most first) since the last call; `None`
    /// when there were none.
    fn drain(&self) -> Option<(u64, String)> {
        let mut counts: Vec<(u64, &str)> = (self.counts.iter().zip(self.reasons))
            .map(|(n, reason)| (n.swap(0, Ordering::Relaxed), reason))
            .filter(|(n, _)| *n > 0)
            .collect();
        if counts.is_empty() {
            return None;
        }
        counts.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
        let by_reason: Vec<String> = counts.iter().map(|(n, r)| format!("{n} {r}")).collect();
        Some((counts.iter().map(|(n, _)| n).sum(), by_reason.join(", ")))
    }
}

/// Access tokens refused, by `TokenError::reason`.
static TOKENS_REFUSED: Tally<{ meters::TOKEN_REASONS.len() }> = Tally::new(meters::TOKEN_REASONS);

/// Back-channel logouts refused, by [`backchannel_refused`]'s reasons.
#[cfg(feature = "sign-in")]
static LOGOUTS_REFUSED: Tally<16> = Tally::new([
    "no_token",
    "malformed",
    "header",
    "unknown_kid",
    "algorithm",
    "signature",
    "claims",
    "issuer",
    "audience",
    "type",
    "expired",
    "not_yet_valid",
    "replayed",
    "not_checked",
    "azp",
    "other",
]);

/// A DPoP proof's verdict: `ok` or why it was refused (`DpopError::reason`).
#[cfg(feature = "dpop")]
pub(crate) fn dpop_proof(result: &'static str) {
    metrics::counter!("rocket_keycloak_dpop_proofs_total", "result" => result).increment(1);
}

/// A token refused, by reason (`TokenError::reason`).
pub(crate) fn token_rejected(meters: &Meters, reason: &'static str) {
    meters.token_rejected(reason);
    TOKENS_REFUSED.add(reason);
}

/// A back-channel logout refused: `no_token`, the logout token's `TokenError::reason`,
/// `replayed`, or `not_checked` (keys not loaded, or the token's key not known yet: a 503).
/// Anyone can post junk there, so it is counted, not logged one line each.
#[cfg(feature = "sign-in")]
pub(crate) fn backchannel_refused(reason: &'static str) {
    metrics::counter!("rocket_keycloak_backchannel_refusals_total", "reason" => reason)
        .increment(1);
    LOGOUTS_REFUSED.add(reason);
}

/// How often the refusal summary is logged.
pub(crate) const SUMMARY_PERIOD: Duration = Duration::from_secs(60);

/// The refusals since the last call, as one line ("1204 tokens refused in the last 60 s:
/// 1180 signature, 24 expired; 310 back-channel logouts refused: 300 malformed, 10
/// replayed"); `None` when there were none.
pub(crate) fn refusal_summary(period: Duration) -> Option<String> {
    let tokens = TOKENS_REFUSED.drain().map(|(n, why)| (n, "tokens refused", why));
    #[cfg(feature = "sign-in")]
    let logouts = LOGOUTS_REFUSED.drain().map(|(n, why)| (n, "back-channel logouts refused", why));
    #[cfg(not(feature = "sign-in"))]
    let logouts = None;
    let parts: Vec<String> = [tokens, logouts]
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, (n, what, why))| match i {
            0 => format!("{n} {what} in the last {} s: {why}", period.as_secs()),
            _ => format!("{n} {what}: {why}"),
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Logs the refusal summary every [`SUMMARY_PERIOD`] until `shutdown` (the key fairing runs
/// it), and once more at the end.
pub(crate) async fn log_refusals(shutdown: rocket::Shutdown) {
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let ended = rocket::tokio::select! {
            _ = rocket::tokio::time::sleep(SUMMARY_PERIOD) => false,
            _ = &mut shutdown => true,
        };
        if let Some(line) = refusal_summary(SUMMARY_PERIOD) {
            log::warn!("{line}");
        }
        if ended {
            return;
        }
    }
}

/// A JWKS load, by what triggered it (`startup`, `periodic`, `unknown_kid`).
pub(crate) fn jwks_fetch(realm: &str, trigger: &'static str, ok: bool, keys: Option<usize>) {
    let result = if ok { "ok" } else { "error" };
    let realm = realm.to_owned();
    metrics::counter!(
        "rocket_keycloak_jwks_fetch_total",
        "realm" => realm.clone(), "trigger" => trigger, "result" => result
    )
    .increment(1);
    if let Some(keys) = keys {
        metrics::gauge!("rocket_keycloak_jwks_keys", "realm" => realm.clone()).set(keys as f64);
        metrics::gauge!("rocket_keycloak_jwks_last_success_timestamp_seconds", "realm" => realm)
            .set(crate::clock::unix_now() as f64);
    }
}

/// A browser sign-in that finished (`ok`) or failed at the callback (`error`).
#[cfg(feature = "sign-in")]
pub(crate) fn login(ok: bool) {
    let result = if ok { "ok" } else { "error" };
    metrics::counter!("rocket_keycloak_logins_total", "result" => result).increment(1);
}

/// A logout: `rp` (the app's own logout) or `backchannel` (a logout token from Keycloak that
/// ended at least one session).
#[cfg(feature = "sign-in")]
pub(crate) fn logout(kind: &'static str) {
    metrics::counter!("rocket_keycloak_logouts_total", "kind" => kind).increment(1);
}

/// A session refresh: `ok`, `invalid_grant` (the session ended) or `error` (kept, 503).
#[cfg(feature = "sign-in")]
pub(crate) fn refresh(result: &'static str) {
    metrics::counter!("rocket_keycloak_refresh_total", "result" => result).increment(1);
}

/// The number of live sessions in this instance's memory store.
#[cfg(feature = "sign-in")]
pub(crate) fn sessions_active(count: usize) {
    metrics::gauge!("rocket_keycloak_sessions_active").set(count as f64);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The summary's counters are the process's: one test at a time drains them.
    static SERIAL: Mutex<()> = Mutex::new(());

    #[test]
    fn the_refusal_summary_counts_by_reason_most_first_and_resets() {
        let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = refusal_summary(SUMMARY_PERIOD); // whatever other tests left
        let meters = Meters::default();
        for _ in 0..3 {
            token_rejected(&meters, "signature");
        }
        token_rejected(&meters, "expired");
        let line = refusal_summary(SUMMARY_PERIOD).unwrap();
        assert!(
            line.starts_with("4 tokens refused in the last 60 s: 3 signature, 1 expired"),
            "{line}"
        );
        assert_eq!(refusal_summary(SUMMARY_PERIOD), None);
    }

    #[cfg(feature = "sign-in")]
    #[test]
    fn back_channel_refusals_join_the_summary_line() {
        let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = refusal_summary(SUMMARY_PERIOD);
        for _ in 0..2 {
            backchannel_refused("malformed");
        }
        backchannel_refused("replayed");
        backchannel_refused("a reason added later");
        let line = refusal_summary(SUMMARY_PERIOD).unwrap();
        // Alone, or after the access tokens that other tests of this process refused.
        let logouts = "4 back-channel logouts refused";
        let why = "2 malformed, 1 replayed, 1 other";
        assert!(
            line == format!("{logouts} in the last 60 s: {why}")
                || line.ends_with(&format!("; {logouts}: {why}")),
            "{line}"
        );
        assert_eq!(refusal_summary(SUMMARY_PERIOD), None);
    }
}
