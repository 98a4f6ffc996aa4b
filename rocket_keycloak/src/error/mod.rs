//! The boundary error of the guards and its one response shape (RFC 6750).
//!
//! A failing guard records its [`AuthError`] in the request's local cache; the
//! [`catchers()`] turn it into the response, so the status, the `WWW-Authenticate` header
//! and the JSON body always agree:
//!
//! | error | status | `WWW-Authenticate` |
//! |---|---|---|
//! | no credentials | 401 | `Bearer realm="<realm>"` (no error code, RFC 6750 §3.1) |
//! | malformed request | 400 | `Bearer realm=.., error="invalid_request", error_description=..` |
//! | bad token | 401 | `Bearer realm=.., error="invalid_token", error_description=..` |
//! | missing role | 403 | `Bearer realm=.., error="insufficient_scope", error_description=..` |
//! | level of assurance too low or too old | 401 | `Bearer realm=.., error="insufficient_user_authentication", error_description=.., acr_values=..` (and `max_age=..` when the age failed; RFC 9470) |
//! | session request from another site | 403 | `Bearer realm=.., error="invalid_request", error_description=..` |
//! | DPoP proof refused (RFC 9449 §7.1) | 401 | `DPoP realm=.., error="invalid_dpop_proof", error_description=.., algs=..` |
//! | keys not loaded | 503 | none; `Retry-After` instead |
//! | unknown key, refetch pending and busy | 503 | none; `Retry-After` (when the refetch runs) |
//!
//! The challenge's scheme is `DPoP` (with the proof algorithms in `algs`) when the request
//! used the DPoP scheme or the app requires DPoP ([`Refusal::challenge_dpop`]); `Bearer`
//! otherwise.
//!
//! The precise reason is logged at debug level; the token itself never is.
//!
//! Decisions:
//! - The layers below return their own errors ([`VerifyError`], `SessionError`); this is
//!   the one place that maps them to statuses (`From`).
//! - Every JSON error body is an [`ErrorBody`](crate::ErrorBody), whoever answers (the catchers, an
//!   [`ErrorPage`](crate::ErrorPage) for an API client, the back-channel logout route).
//! - A page that needs a signed-in browser marks its request
//!   ([`Refusal::redirect_to_login`]); its 401 then becomes a redirect to the sign-in route,
//!   if the app mounted one ([`LoginPage`], managed by `SignIn`, which knows the route).
//!   Without one it stays a 401. A page that needs a level of assurance also says which
//!   ([`Refusal::step_up_to`]); the redirect then asks the sign-in for it.
//! - What the guards leave for the catchers (the error and those hints) is one local-cache
//!   entry per request, a [`Refusal`]: a refused request is the cheap path a flood of forged
//!   tokens takes, and each entry of Rocket's local cache is an allocation and a map insert.

//!
//! | file | holds |
//! |---|---|
//! | `mod.rs` | [`AuthError`], its statuses and codes, the request's [`Refusal`] |
//! | [`challenge`] | the `WWW-Authenticate` challenge and the error's responder |
//! | [`catchers`](mod@catchers) | the catchers and where a page's 401 redirects to ([`LoginPage`]) |
//!
//! The pages a browser sees (HTML or JSON by `Accept`) are the `pages` module's.

mod catchers;
mod challenge;

use std::sync::OnceLock;

use rocket::Request;
use rocket::http::Status;

use crate::assurance::{Assurance, Shortfall};
use crate::oidc::{DpopError, TokenError, VerifyError};
#[cfg(feature = "sign-in")]
use crate::session::SessionError;

pub use crate::pages::ErrorBody;
#[cfg(feature = "sign-in")]
pub(crate) use catchers::LoginPage;
pub use catchers::{catchers, default_catchers};
pub(crate) use challenge::AuthPage;

/// Why a request was not authenticated or authorized.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// No credentials at all.
    MissingCredentials,
    /// The request itself is malformed (two tokens, unknown scheme with a token, ...).
    InvalidRequest(&'static str),
    /// The token was refused.
    InvalidToken(TokenError),
    /// Authenticated, but without the required role (named, when known).
    InsufficientScope(Option<String>),
    /// Authenticated, but not at the required level of assurance, or not recently enough
    /// (RFC 9470): the client must authenticate again as `required` says.
    InsufficientUserAuthentication {
        /// What the route needs.
        required: Assurance,
        /// What fell short.
        shortfall: Shortfall,
    },
    /// An unsafe method authenticated by the session cookie without a same-origin signal
    /// or the CSRF header (see the guards). 403: the session itself is fine and stays.
    CrossSiteRequest,
    /// The DPoP proof of a request with a DPoP-bound token was refused.
    InvalidDpopProof(DpopError),
    /// Too many live DPoP proofs to remember one more: retry in a moment (the replay cache
    /// fails closed).
    ProofsUnavailable,
    /// Keys are not loaded yet (Keycloak unreachable since start).
    Unavailable,
    /// The session store (Redis) is not reachable: the session may be fine.
    SessionsUnavailable,
    /// The token's key is unknown and its refetch is pending: retry after these seconds.
    KeyPending(u64),
}

impl AuthError {
    /// The HTTP status of this error.
    pub fn status(&self) -> Status {
        match self {
            Self::MissingCredentials
            | Self::InvalidToken(_)
            | Self::InvalidDpopProof(_)
            | Self::InsufficientUserAuthentication { .. } => Status::Unauthorized,
            Self::InvalidRequest(_) => Status::BadRequest,
            Self::InsufficientScope(_) | Self::CrossSiteRequest => Status::Forbidden,
            Self::Unavailable
            | Self::SessionsUnavailable
            | Self::KeyPending(_)
            | Self::ProofsUnavailable => Status::ServiceUnavailable,
        }
    }

    /// The RFC 6750 error code, if any.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            Self::MissingCredentials => None,
            Self::InvalidRequest(_) | Self::CrossSiteRequest => Some("invalid_request"),
            Self::InvalidToken(_) => Some("invalid_token"),
            Self::InsufficientScope(_) => Some("insufficient_scope"),
            Self::InsufficientUserAuthentication { .. } => Some("insufficient_user_authentication"),
            Self::InvalidDpopProof(_) => Some("invalid_dpop_proof"),
            Self::Unavailable
            | Self::SessionsUnavailable
            | Self::KeyPending(_)
            | Self::ProofsUnavailable => Some("temporarily_unavailable"),
        }
    }

    /// The `outcome` label of `rocket_keycloak_auth_total`.
    pub(crate) fn outcome(&self) -> &'static str {
        match self {
            Self::MissingCredentials => "missing",
            Self::InvalidRequest(_) | Self::CrossSiteRequest => "invalid_request",
            Self::InvalidToken(_) => "invalid_token",
            Self::InsufficientScope(_) => "insufficient_scope",
            Self::InsufficientUserAuthentication { .. } => "insufficient_user_authentication",
            Self::InvalidDpopProof(_) => "invalid_dpop_proof",
            Self::Unavailable
            | Self::SessionsUnavailable
            | Self::KeyPending(_)
            | Self::ProofsUnavailable => "unavailable",
        }
    }

    /// The public, short `error_description`.
    pub fn description(&self) -> String {
        match self {
            Self::MissingCredentials => "Authentication is required".into(),
            Self::InvalidRequest(why) => (*why).into(),
            Self::InvalidToken(why) => why.to_string(),
            Self::InsufficientScope(None) => "Insufficient permissions".into(),
            Self::InsufficientScope(Some(role)) => format!("The role {role} is required"),
            Self::InsufficientUserAuthentication { required, shortfall: Shortfall::Level } => {
                format!("Authentication at level {} is required", required.acr)
            }
            Self::InsufficientUserAuthentication { shortfall: Shortfall::Age, .. } => {
                "A more recent authentication is required".into()
            }
            Self::CrossSiteRequest => "Cross-site request refused: send it from this app's \
                                       pages or with the X-CSRF-Token header"
                .into(),
            Self::Unavailable => "The identity provider is not reachable yet".into(),
            Self::SessionsUnavailable => "Sessions are temporarily unavailable".into(),
            Self::KeyPending(_) => "The token's signing key is not known yet".into(),
            Self::InvalidDpopProof(why) => why.to_string(),
            Self::ProofsUnavailable => "Too many DPoP proofs right now; retry shortly".into(),
        }
    }

    /// Records this error for the catcher and logs the precise reason.
    pub(crate) fn record(&self, request: &Request<'_>) {
        log::debug!("auth refused {} {}: {self:?}", request.method(), request.uri().path());
        Refusal::of(request).error.get_or_init(|| self.clone());
    }

    /// The error a guard recorded for this request, if any.
    pub fn recorded(request: &Request<'_>) -> Option<AuthError> {
        Refusal::of(request).error.get().cloned()
    }
}

impl From<VerifyError> for AuthError {
    fn from(error: VerifyError) -> Self {
        match error {
            VerifyError::Unavailable => Self::Unavailable,
            VerifyError::KeyPending { retry_after } => {
                Self::KeyPending(retry_after.as_secs().max(1))
            }
            VerifyError::Rejected(reason) => Self::InvalidToken(reason),
        }
    }
}

#[cfg(feature = "sign-in")]
impl From<SessionError> for AuthError {
    fn from(error: SessionError) -> Self {
        match error {
            SessionError::Ended => Self::MissingCredentials,
            SessionError::Unavailable => Self::Unavailable,
            SessionError::StoreUnavailable => Self::SessionsUnavailable,
        }
    }
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description())
    }
}

impl std::error::Error for AuthError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidToken(e) => Some(e),
            _ => None,
        }
    }
}

/// What the guards of one request leave for the catchers, in one local-cache entry (one
/// allocation per refused request, not one per hint): the error, and how to answer it. Each
/// field is written at most once; the first guard to write it wins.
#[derive(Default)]
pub(crate) struct Refusal {
    /// The first error a guard recorded ([`AuthError::record`]).
    pub(super) error: OnceLock<AuthError>,
    /// Set when the request's challenge is `DPoP` (the request used the DPoP scheme, or the
    /// app or the route requires DPoP); its `algs` are the app's proof algorithms.
    pub(super) dpop_challenge: OnceLock<()>,
    /// Set by the page guards: a 401 becomes a redirect to the sign-in page (API clients
    /// never get it).
    pub(super) login_redirect: OnceLock<()>,
    /// The level of assurance a page's sign-in redirect asks for (set by the step-up page
    /// guard).
    pub(super) step_up: OnceLock<Assurance>,
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
