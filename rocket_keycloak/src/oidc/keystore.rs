//! The key store: the current key set, and the refetch that unknown `kid`s share.
//!
//! [`KeyStore`] takes its [`KeySource`] as a parameter (Keycloak's JWKS over HTTP in the
//! app, a stub in the unit tests of `keystore/tests.rs`), so its scheduling is tested on tokio's paused
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
//!
//! # Files
//! - `keystore/state.rs`: what the store holds and is built from: [`KeyStore`] with its
//!   key set and refresh bookkeeping, [`KeySource`], [`Timing`], [`Issued`], [`MissingKey`]
//!   and the bounds;
//! - `keystore/schedule.rs`: what it does with them: [`KeyStore::key_for`] (the three cases
//!   above), the scheduled refetch, [`KeyStore::refresh`] and the load itself;
//! - `keystore/tests.rs`: the scheduling on tokio's paused clock.
//!
//! This file holds only this doc and the re-exports; the children name each other by
//! sibling paths, so the module graph has no cycle.
//!
//! [`MAX_KID_WAITERS`]: state::MAX_KID_WAITERS
//! [`MAX_SEEN_KIDS`]: state::MAX_SEEN_KIDS
//! [`OVERFLOW_GRACE`]: state::OVERFLOW_GRACE

mod schedule;
mod state;
#[cfg(test)]
mod tests;

pub(crate) use state::{Issued, KeySource, KeyStore, MissingKey, Timing};
