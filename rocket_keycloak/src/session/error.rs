//! The session layer's error, [`SessionError`], and the report of store errors.
//!
//! Decisions:
//! - Errors are this layer's own: "ended", "Keycloak unavailable" or "store unavailable";
//!   the HTTP boundary decides what a browser or API client sees.
//! - A [`StoreError`] becomes [`SessionError::StoreUnavailable`] through `From`, and is
//!   logged there, at `warn` at most once per `STORE_WARNING_EVERY`: while Redis is down
//!   every session request fails, and one line each would bury the log.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use super::record::StoreError;

/// Why a session could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionError {
    /// No such session, or it ended (expired, logged out, refresh refused).
    Ended,
    /// The access token expired and Keycloak could not be reached to refresh it.
    Unavailable,
    /// The session store could not be reached.
    StoreUnavailable,
}

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Ended => "no current session",
            Self::Unavailable => "the session's tokens could not be refreshed",
            Self::StoreUnavailable => "the session store is not reachable",
        })
    }
}

impl std::error::Error for SessionError {}

impl From<StoreError> for SessionError {
    fn from(error: StoreError) -> Self {
        report_store_error(&error);
        Self::StoreUnavailable
    }
}

/// How often a failing session store is reported at `warn`.
const STORE_WARNING_EVERY: Duration = Duration::from_secs(30);

/// Logs a store error at `warn` at most once per [`STORE_WARNING_EVERY`], saying how many
/// were not reported since: every session request fails while Redis is down, and one line
/// each would bury the log (the rest go to `debug`).
fn report_store_error(error: &StoreError) {
    static LAST: Mutex<Option<(std::time::Instant, u64)>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(PoisonError::into_inner);
    match last.as_mut() {
        Some((at, unreported)) if at.elapsed() < STORE_WARNING_EVERY => {
            *unreported += 1;
            log::debug!("{error}");
        }
        _ => {
            let unreported = last.map_or(0, |(_, n)| n);
            *last = Some((std::time::Instant::now(), 0));
            if unreported == 0 {
                log::warn!("{error}");
            } else {
                log::warn!(
                    "{error} ({unreported} more session store errors since the last report)"
                );
            }
        }
    }
}
