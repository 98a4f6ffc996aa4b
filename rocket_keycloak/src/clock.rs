//! The wall clock, in the one unit token claims use.
//!
//! Everything below the guards takes `now` as a parameter (so rules are testable with any
//! clock); this is where the real time comes from.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch (0 if the system clock is before 1970).
pub(crate) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
