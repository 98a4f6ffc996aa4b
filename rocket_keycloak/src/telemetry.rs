//! The metrics this crate records, by name, through the `metrics` facade.
//!
//! The names and labels are a contract (the README lists them, dashboards and alerts use
//! them), so they are written here once and nowhere else. Recording costs next to nothing
//! when the application installs no recorder; the demo installs the Prometheus exporter and
//! serves `/metrics` (`src/routes/metrics.rs`).
//!
//! Decisions:
//! - Labels take values from small fixed sets (`source`, `outcome`, `reason`, ...), never
//!   from a request: a token, a `kid` or a user id in a label would be both a leak and an
//!   unbounded number of series.
//! - `sessions_active` is this instance's count for the memory store; a shared store does
//!   not report it (counting every instance's sessions is Redis's business).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Where a guard found the credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// `Authorization: Bearer`.
    Bearer,
    /// The session cookie.
    Session,
}

/// What the guards of one request concluded, kept in the request's local cache and counted
/// once, when the response leaves (`record_auth`): a role refusal after a successful
/// authentication is then counted as `insufficient_scope`, not as `ok` too.
#[derive(Default)]
pub(crate) struct AuthOutcome(Mutex<Option<(Source, &'static str, Duration)>>);

impl AuthOutcome {
    /// The request's slot.
    pub(crate) fn of<'r>(request: &'r rocket::Request<'_>) -> &'r Self {
        request.local_cache(Self::default)
    }

    /// Records the authentication's result (the first one wins; guards validate once).
    pub(crate) fn authenticated(&self, source: Source, outcome: &'static str, took: Duration) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert((source, outcome, took));
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
    let Some((source, outcome, took)) =
        AuthOutcome::of(request).0.lock().unwrap_or_else(PoisonError::into_inner).take()
    else {
        return;
    };
    let source = match source {
        Source::Bearer => "bearer",
        Source::Session => "session",
    };
    metrics::counter!("rocket_keycloak_auth_total", "source" => source, "outcome" => outcome)
        .increment(1);
    metrics::histogram!("rocket_keycloak_validation_seconds").record(took.as_secs_f64());
}

/// The reasons of `TokenError::reason`, for the periodic log summary.
const REASONS: [&str; 12] = [
    "malformed",
    "header",
    "unknown_kid",
    "algorithm",
    "signature",
    "claims",
    "issuer",
    "audience",
    "type",
    "azp",
    "expired",
    "not_yet_valid",
];

/// Refusals since the last summary, by reason (index in [`REASONS`]; the last slot counts
/// any other).
static REFUSED: [AtomicU64; REASONS.len() + 1] = [const { AtomicU64::new(0) }; REASONS.len() + 1];

/// A DPoP proof's verdict: `ok` or why it was refused (`DpopError::reason`).
#[cfg(feature = "dpop")]
pub(crate) fn dpop_proof(result: &'static str) {
    metrics::counter!("rocket_keycloak_dpop_proofs_total", "result" => result).increment(1);
}

/// A token refused, by reason (`TokenError::reason`).
pub(crate) fn token_rejected(reason: &'static str) {
    metrics::counter!("rocket_keycloak_token_rejections_total", "reason" => reason).increment(1);
    let slot = REASONS.iter().position(|r| *r == reason).unwrap_or(REASONS.len());
    REFUSED[slot].fetch_add(1, Ordering::Relaxed);
}

/// How often the refusal summary is logged.
pub(crate) const SUMMARY_PERIOD: Duration = Duration::from_secs(60);

/// The refusals since the last call, as one line ("1204 tokens refused in the last 60 s:
/// 1180 signature, 24 expired"); `None` when there were none.
pub(crate) fn refusal_summary(period: Duration) -> Option<String> {
    let mut counts: Vec<(u64, &str)> = REFUSED
        .iter()
        .enumerate()
        .map(|(i, n)| (n.swap(0, Ordering::Relaxed), REASONS.get(i).copied().unwrap_or("other")))
        .filter(|(n, _)| *n > 0)
        .collect();
    if counts.is_empty() {
        return None;
    }
    counts.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
    let total: u64 = counts.iter().map(|(n, _)| n).sum();
    let by_reason: Vec<String> = counts.iter().map(|(n, r)| format!("{n} {r}")).collect();
    Some(format!(
        "{total} tokens refused in the last {} s: {}",
        period.as_secs(),
        by_reason.join(", ")
    ))
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

/// A lookup in the verified-token cache.
pub(crate) fn token_cache(hit: bool) {
    let result = if hit { "hit" } else { "miss" };
    metrics::counter!("rocket_keycloak_token_cache_total", "result" => result).increment(1);
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

    #[test]
    fn the_refusal_summary_counts_by_reason_most_first_and_resets() {
        let _ = refusal_summary(SUMMARY_PERIOD); // whatever other tests left
        for _ in 0..3 {
            token_rejected("signature");
        }
        token_rejected("expired");
        let line = refusal_summary(SUMMARY_PERIOD).unwrap();
        assert!(
            line.starts_with("4 tokens refused in the last 60 s: 3 signature, 1 expired"),
            "{line}"
        );
        assert_eq!(refusal_summary(SUMMARY_PERIOD), None);
    }
}
