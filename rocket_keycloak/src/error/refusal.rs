//! [`Refusal`]: what the guards of one request leave for the catchers, in one local-cache
//! entry.

use std::sync::OnceLock;

use rocket::Request;

use super::auth_error::AuthError;
use crate::assurance::Assurance;

/// What the guards of one request leave for the catchers, in one local-cache entry (one
/// allocation per refused request, not one per hint): the error, and how to answer it. Each
/// field is written at most once; the first guard to write it wins.
#[derive(Default)]
pub(crate) struct Refusal {
    /// The first error a guard recorded ([`AuthError::record`]).
    pub(crate) error: OnceLock<AuthError>,
    /// Set when the request's challenge is `DPoP` (the request used the DPoP scheme, or the
    /// app or the route requires DPoP); its `algs` are the app's proof algorithms.
    pub(super) dpop_challenge: OnceLock<()>,
    /// Set by the page guards: a 401 becomes a redirect to the sign-in page (API clients
    /// never get it).
    pub(crate) login_redirect: OnceLock<()>,
    /// The level of assurance a page's sign-in redirect asks for (set by the step-up page
    /// guard).
    pub(crate) step_up: OnceLock<Assurance>,
}

impl Refusal {
    /// The request's entry.
    pub(crate) fn of<'r>(request: &'r Request<'_>) -> &'r Self {
        request.local_cache(Self::default)
    }

    /// The challenge is `DPoP`, with the app's proof algorithms.
    pub(crate) fn challenge_dpop(&self) {
        let _ = self.dpop_challenge.set(());
    }

    /// A 401 of this request becomes a redirect to the sign-in page.
    pub(crate) fn redirect_to_login(&self) {
        let _ = self.login_redirect.set(());
    }

    /// The sign-in redirect asks for this level.
    pub(crate) fn step_up_to(&self, required: impl FnOnce() -> Assurance) {
        self.step_up.get_or_init(required);
    }
}

impl AuthError {
    /// Records this error for the catcher and logs the precise reason (at debug: the logger
    /// also keeps Rocket's own line for it out of the log below debug).
    pub(crate) fn record(&self, request: &Request<'_>) {
        crate::logging::guard_refused(request, self);
        Refusal::of(request).error.get_or_init(|| self.clone());
    }

    /// The error a guard recorded for this request, if any.
    pub fn recorded(request: &Request<'_>) -> Option<AuthError> {
        Refusal::of(request).error.get().cloned()
    }
}
