//! The session cookie and the random ids: what a browser holds of its session.
//!
//! Decisions:
//! - Keycloak's ID, access and refresh tokens together exceed a 4 KB cookie, so tokens stay
//!   on the server. The cookie holds only a random 256-bit id ([`random_id`]), encrypted and
//!   authenticated by Rocket's private cookies (`secret_key`), `HttpOnly`, `SameSite=Lax`,
//!   and `Secure` when `app_url` is https. A new id is issued at every login (no session
//!   fixation).
//! - An id that is missing, or that fails Rocket's authentication, is no session: the
//!   caller never sees the difference.
//! - The cookie lives as long as a session does on the server ([`DEFAULT_LIFETIME`], 10 h),
//!   not Rocket's default of a week for private cookies: a browser keeps no id that can only
//!   be refused.
//! - **On https it is named `__Host-kc_session`** ([`SECURE_SESSION_COOKIE`]): browsers
//!   accept a `__Host-` cookie only if it is `Secure`, for path `/` and without `Domain`, so
//!   a sibling subdomain or a plain-http response for the same host cannot plant or
//!   overwrite it. An http app (local development) keeps [`SESSION_COOKIE`], which browsers
//!   would refuse with the prefix. Only the name of the app's own scheme is read.

use rocket::http::{Cookie, CookieJar, SameSite};

use super::store::DEFAULT_LIFETIME;
use crate::protocol::SessionId;

/// Name of the session cookie of an app on http (local development).
pub const SESSION_COOKIE: &str = "kc_session";
/// Name of the session cookie of an app on https.
pub const SECURE_SESSION_COOKIE: &str = "__Host-kc_session";

/// The session cookie's name: [`SECURE_SESSION_COOKIE`] when cookies are `Secure`.
pub fn session_cookie_name(secure: bool) -> &'static str {
    if secure { SECURE_SESSION_COOKIE } else { SESSION_COOKIE }
}

/// A fresh random identifier (256 bits, base64url).
pub fn random_id() -> String {
    openidconnect::CsrfToken::new_random_len(32).into_secret()
}

/// The session id from the private cookie, if present and authentic.
pub(crate) fn session_id(cookies: &CookieJar<'_>, secure: bool) -> Option<SessionId> {
    cookies.get_private(session_cookie_name(secure)).map(|c| SessionId::new(c.value()))
}

/// Sets the session cookie.
pub(crate) fn set_session_cookie(cookies: &CookieJar<'_>, id: SessionId, secure: bool) {
    let cookie = Cookie::build((session_cookie_name(secure), id.as_str().to_owned()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(rocket::time::Duration::seconds(DEFAULT_LIFETIME.as_secs() as i64));
    cookies.add_private(cookie);
}

/// Removes the session cookie.
pub(crate) fn clear_session_cookie(cookies: &CookieJar<'_>, secure: bool) {
    let cookie = Cookie::build(session_cookie_name(secure)).path("/").secure(secure);
    cookies.remove_private(cookie);
}
