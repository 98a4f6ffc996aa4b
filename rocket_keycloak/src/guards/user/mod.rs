//! The caller: [`AuthenticatedUser`] (validated once per request, from a bearer token or
//! the session), the page guards [`PageUser`] and [`MaybeUser`], and the bearer header's
//! parsing.
//!
//! Credentials come from `Authorization: Bearer <token>` (scheme case-insensitive,
//! RFC 7235). The lookup is written as "bearer header, else other sources" so that a
//! browser session can be added as a second source without touching the guards' contract.
//! A token in the query string (`?access_token=`) is deliberately ignored (RFC 6750 §2.3
//! leaks tokens into logs and history).
//!
//! | file | holds | feature |
//! |---|---|---|
//! | `authenticated.rs` | [`AuthenticatedUser`], the order of the credentials | always |
//! | `credentials.rs` | the `Authorization` header's parsing ([`Scheme`]), the CSRF token's header | always |
//! | `proof.rs` | a DPoP-bound token's proof and its single use | `dpop` |
//! | `session.rs` | the session cookie and the cross-site request rules | `sign-in` |
//! | `page.rs` | [`PageUser`] and [`MaybeUser`], for HTML pages | always |
//!
//! Without `sign-in` there is no session to fall back on: no `Authorization` header is
//! "no credentials". Without `dpop` the `DPoP` scheme is refused as an unsupported one.

mod authenticated;
mod credentials;
mod page;
#[cfg(feature = "dpop")]
mod proof;
#[cfg(feature = "sign-in")]
mod session;

pub use authenticated::AuthenticatedUser;
pub(crate) use authenticated::{caller, refuse};
#[cfg(feature = "testing")]
pub use credentials::authorization_token;
pub use credentials::{CSRF_HEADER, Scheme};
pub use page::{MaybeUser, PageUser};
