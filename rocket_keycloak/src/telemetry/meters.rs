//! [`Meters`]: the handles of the series counted on every authenticated request, resolved
//! once per app instead of once per count.
//!
//! `metrics::counter!` finds its series in the recorder's registry at every call: a hash of
//! the name and labels and a map probe, about 1 000 instructions under callgrind, and a
//! cached-token request counted three series. A handle is the series itself: counting is one
//! atomic add (and nothing at all when no recorder is installed).
//!
//! Decisions:
//! - **Resolved after liftoff, never before.** A handle taken before the app installs its
//!   recorder would stay bound to the no-op recorder for good (the reason plain static
//!   handles were rejected): the demo's `MetricsEndpoint` installs it at ignite, an app may do
//!   so in `main` or in any ignite fairing. `OidcFairing` makes its app's `Meters` live at
//!   liftoff ([`Meters::go_live`]); until then every count takes the macro's path. A
//!   recorder installed after liftoff is not seen: install it before launch (the README
//!   says so).
//! - **Each handle at its first use** (after liftoff), not all at once: registering a series
//!   exports it at 0, and `/metrics` keeps listing only what happened.
//! - **Per app** (`Oidc` holds them), not per process: tests and apps that build several
//!   Rockets in one process each resolve their own.
//! - **Only the per-request series** (`auth_total`, `validation_seconds`,
//!   `token_cache_total`, `token_rejections_total`). The names of these four are written
//!   here and nowhere else; the rest, counted a few times per minute or per sign-in, keep the
//!   macros in `telemetry.rs`. A label value outside the lists below (none today) is still
//!   counted, through the macro.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use metrics::{Counter, Histogram};

/// Where a guard found the credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// `Authorization: Bearer` (or `DPoP`).
    Bearer = 0,
    /// The session cookie.
    Session = 1,
}

impl Source {
    fn label(self) -> &'static str {
        match self {
            Self::Bearer => "bearer",
            Self::Session => "session",
        }
    }
}

/// The values of `outcome` (`AuthError::outcome`, and `ok`).
pub(crate) const OUTCOMES: [&str; 8] = [
    "ok",
    "missing",
    "invalid_request",
    "invalid_token",
    "insufficient_scope",
    "insufficient_user_authentication",
    "invalid_dpop_proof",
    "unavailable",
];

/// The values of `reason` (`TokenError::reason`), each with a handle of its own; the last,
/// `other`, stands for a value not listed in the log's refusal summary.
pub(crate) const TOKEN_REASONS: [&str; 14] = [
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
    "inactive",
    "other",
];

/// The position of `outcome` in [`OUTCOMES`] (`None` for a value not listed).
pub(crate) fn outcome_index(outcome: &str) -> Option<u8> {
    OUTCOMES.iter().position(|o| *o == outcome).map(|i| i as u8)
}

/// One app's handles (see the module documentation).
#[derive(Default)]
pub(crate) struct Meters {
    live: AtomicBool,
    auth: [[OnceLock<Counter>; OUTCOMES.len()]; 2],
    validation: OnceLock<Histogram>,
    cache: [OnceLock<Counter>; 2],
    rejected: [OnceLock<Counter>; TOKEN_REASONS.len()],
}

fn auth_counter(source: Source, outcome: &'static str) -> Counter {
    metrics::counter!("rocket_keycloak_auth_total", "source" => source.label(), "outcome" => outcome)
}

fn validation_histogram() -> Histogram {
    metrics::histogram!("rocket_keycloak_validation_seconds")
}

fn cache_counter(hit: bool) -> Counter {
    let result = if hit { "hit" } else { "miss" };
    metrics::counter!("rocket_keycloak_token_cache_total", "result" => result)
}

fn rejection_counter(reason: &'static str) -> Counter {
    metrics::counter!("rocket_keycloak_token_rejections_total", "reason" => reason)
}

impl Meters {
    /// The app has lifted off: its recorder, if any, is installed, and handles may be kept.
    pub(crate) fn go_live(&self) {
        self.live.store(true, Ordering::Release);
    }

    /// `slot`'s handle once live, else a fresh look-up that is not kept.
    fn counter<'a>(
        &'a self,
        slot: &'a OnceLock<Counter>,
        make: impl FnOnce() -> Counter,
    ) -> std::borrow::Cow<'a, Counter> {
        if self.live.load(Ordering::Acquire) {
            std::borrow::Cow::Borrowed(slot.get_or_init(make))
        } else {
            std::borrow::Cow::Owned(make())
        }
    }

    /// One request's authentication: its source, its final outcome (an index into
    /// [`OUTCOMES`]) and how long the guard took.
    pub(crate) fn authenticated(&self, source: Source, outcome: u8, took: Duration) {
        let outcome = usize::from(outcome).min(OUTCOMES.len() - 1);
        let slot = &self.auth[source as usize][outcome];
        self.counter(slot, || auth_counter(source, OUTCOMES[outcome])).increment(1);
        let histogram = if self.live.load(Ordering::Acquire) {
            std::borrow::Cow::Borrowed(self.validation.get_or_init(validation_histogram))
        } else {
            std::borrow::Cow::Owned(validation_histogram())
        };
        histogram.record(took.as_secs_f64());
    }

    /// A lookup in the verified-token cache.
    pub(crate) fn token_cache(&self, hit: bool) {
        self.counter(&self.cache[usize::from(hit)], || cache_counter(hit)).increment(1);
    }

    /// A token refused, by `TokenError::reason`.
    pub(crate) fn token_rejected(&self, reason: &'static str) {
        match TOKEN_REASONS.iter().position(|r| *r == reason) {
            Some(i) => self.counter(&self.rejected[i], || rejection_counter(reason)).increment(1),
            None => rejection_counter(reason).increment(1),
        }
    }
}

/// The same series without an app's handles (no `Oidc`: the fairing is not attached).
pub(crate) fn authenticated_unkept(source: Source, outcome: &'static str, took: Duration) {
    auth_counter(source, outcome).increment(1);
    validation_histogram().record(took.as_secs_f64());
}
