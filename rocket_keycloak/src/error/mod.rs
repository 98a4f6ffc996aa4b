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
//! | missing role, or not a member of the organization | 403 | `Bearer realm=.., error="insufficient_scope", error_description=..` |
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
//! - The layers below return their own errors ([`VerifyError`](crate::VerifyError), `SessionError`); this is
//!   the one place that maps them to statuses (`From`).
//! - Every JSON error body is an [`ErrorBody`], whoever answers (the catchers, an
//!   [`ErrorPage`](crate::ErrorPage) for an API client, the back-channel logout route).
//! - A page that needs a signed-in browser marks its request
//!   ([`Refusal::redirect_to_login`]); its 401 then becomes a redirect to the sign-in route,
//!   if the app mounted one (`LoginPage`, managed by `SignIn`, which knows the route; the
//!   catchers, `crate::catchers`, sit above this module and the guards).
//!   Without one it stays a 401. A page that needs a level of assurance also says which
//!   ([`Refusal::step_up_to`]); the redirect then asks the sign-in for it.
//! - What the guards leave for the catchers (the error and those hints) is one local-cache
//!   entry per request, a [`Refusal`]: a refused request is the cheap path a flood of forged
//!   tokens takes, and each entry of Rocket's local cache is an allocation and a map insert.

//!
//! | file | holds |
//! |---|---|
//! | `auth_error.rs` | [`AuthError`], its statuses, codes and descriptions |
//! | `refusal.rs` | the request's [`Refusal`]: the error and the hints for the catchers |
//! | `challenge.rs` | the `WWW-Authenticate` challenge and the error's responder |
//!
//! The pages a browser sees (HTML or JSON by `Accept`) are the `pages` module's.

mod auth_error;
mod challenge;
mod refusal;

pub use crate::pages::ErrorBody;
pub use auth_error::AuthError;
pub(crate) use challenge::AuthPage;
pub(crate) use refusal::Refusal;
