//! The browser session as a credential, and the rules that keep another site from using
//! it.
//!
//! Cross-site request forgery (decisions): the session cookie is `SameSite=Lax`, which a
//! *same-site* attacker (a sibling subdomain, a user-content host) passes, and Rocket's
//! `Json<T>` accepts any content type. So a request with a method other than `GET`, `HEAD`
//! or `OPTIONS` that the session authenticates must prove it comes from the app itself:
//! - `Sec-Fetch-Site: same-origin` (`same-site`, `cross-site` and `none` are refused: only
//!   the first says the app's own page sent it), and/or an `Origin` equal to `app_url`'s
//!   origin byte for byte; every signal present must agree, one header of each at most;
//! - or `X-CSRF-Token` equal to the session's CSRF token (constant-time comparison), for
//!   clients that send neither header.
//!
//! With no signal at all the request is refused (safer than trusting an old browser).
//! The refusal is a 403 ([`AuthError::CrossSiteRequest`]) that leaves the session alone:
//! a forged request must not be able to sign the victim out. Bearer calls are unaffected;
//! a browser does not attach that header by itself.

use std::sync::Arc;

use rocket::Request;
use rocket::http::Method;

use super::credentials::only_header;
use super::credentials::{CSRF_HEADER, SessionCsrf};
use crate::error::AuthError;
use crate::identity::Identity;
use crate::oidc::Oidc;
use crate::security::constant_time_eq;
use crate::session::{self, SessionError, Sessions};

pub(super) async fn session_identity(
    request: &Request<'_>,
    oidc: &Oidc,
) -> Result<Arc<Identity>, AuthError> {
    let cookies = request.cookies();
    let secure = oidc.config().secure_cookies();
    let (Some(id), Some(sessions)) =
        (session::session_id(cookies, secure), request.rocket().state::<Sessions>())
    else {
        return Err(AuthError::MissingCredentials);
    };
    if !is_safe(request.method()) && !same_origin(request, &oidc.config().app_url) {
        // The token is compared with the stored session without refreshing it: a forged
        // request costs no call to Keycloak and changes nothing.
        let token = only_header(request, CSRF_HEADER).ok().flatten();
        let stored = match token {
            Some(_) => sessions.get(&id).await?,
            None => None,
        };
        let proven = token.zip(stored).is_some_and(|(token, session)| {
            constant_time_eq(token.as_bytes(), session.csrf_token.as_bytes())
        });
        if !proven {
            return Err(AuthError::CrossSiteRequest);
        }
    }
    match sessions.current(oidc, &id).await {
        Ok(session) => {
            let identity = session.identity.clone();
            request.local_cache(|| SessionCsrf(Some(session.csrf_token)));
            Ok(identity)
        }
        Err(error) => {
            if error == SessionError::Ended {
                session::clear_session_cookie(cookies, secure);
            }
            Err(error.into())
        }
    }
}

/// Methods that change nothing (RFC 9110 §9.2.1); every other method needs a same-origin
/// proof when a session authenticates it.
fn is_safe(method: Method) -> bool {
    matches!(method, Method::Get | Method::Head | Method::Options)
}

/// Whether the browser says the request comes from the app's own origin: at least one of
/// `Sec-Fetch-Site` and `Origin`, and each one present says so.
fn same_origin(request: &Request<'_>, app_url: &url::Url) -> bool {
    let (Ok(site), Ok(origin)) =
        (only_header(request, "Sec-Fetch-Site"), only_header(request, "Origin"))
    else {
        return false;
    };
    if site.is_none() && origin.is_none() {
        return false;
    }
    site.is_none_or(|site| site == "same-origin")
        && origin.is_none_or(|origin| origin == app_url.origin().ascii_serialization())
}
