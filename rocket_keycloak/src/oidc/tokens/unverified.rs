//! What a token claims in its unverified payload: its issuer and its times.
//!
//! Decisions:
//! - These reads never accept a token. The issuer only chooses the realm whose rules then
//!   judge the token; the times only decide whether a request naming an unknown key may
//!   wait for a refetch (`keystore.rs` says how).
//! - The caller has applied rule 1 (the size bound) first; anything unreadable counts as
//!   nothing claimed.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// What a token's unverified payload claims about its times: read only to decide whether a
/// request naming an unknown key may wait for a refetch (see `keystore.rs`), never to
/// accept a token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ClaimedIssue {
    /// The token cannot pass whatever its key: the payload is unreadable, or `exp` is
    /// missing, or the times fail rule 8.
    CannotPass,
    /// Issued at the latest this many seconds from now (negative: ago), the leeway for the
    /// provider's clock and the claim's whole-second rounding included.
    By(f64),
    /// The payload has no `iat`.
    Unknown,
}

/// The issuer a token names in its unverified payload (bounded by rule 1, which the caller
/// has applied): read only to choose the realm whose rules then judge it, never to accept
/// it. `None` if the payload is unreadable or names none.
pub(crate) fn claimed_issuer(token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct RawIssuer {
        iss: Option<String>,
    }
    payload::<RawIssuer>(token)?.iss
}

/// The two time claims `TokenRules::claimed_issue` reads.
#[derive(Deserialize)]
pub(super) struct RawTimes {
    /// The expiry, if the payload has one.
    pub(super) exp: Option<f64>,
    /// The issue time, if the payload has one.
    pub(super) iat: Option<f64>,
}

/// The time claims of the unverified payload; `None` if it is unreadable.
pub(super) fn claimed_times(token: &str) -> Option<RawTimes> {
    payload(token)
}

/// The unverified payload read as `T`; `None` if it is not base64url JSON of that shape.
fn payload<T: DeserializeOwned>(token: &str) -> Option<T> {
    let payload = URL_SAFE_NO_PAD.decode(token.split('.').nth(1)?).ok()?;
    serde_json::from_slice(&payload).ok()
}
