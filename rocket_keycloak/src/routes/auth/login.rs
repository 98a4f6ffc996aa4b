//! `/login` starts a sign-in (the login cookie, then Keycloak); `/authorize` is the callback
//! that finishes it (the checks in the module doc of `auth`).

use std::sync::Arc;

use openidconnect::{AuthorizationCode, Nonce, PkceCodeVerifier, RedirectUrl};
use rocket::form::FromForm;
use rocket::http::{Cookie, CookieJar, SameSite, Status};
use rocket::response::Redirect;
use rocket::time::Duration as CookieDuration;
use rocket::{State, get, uri};
use serde::{Deserialize, Serialize};

use super::paths::{Paths, local_path, local_path_or_default};
use crate::assurance::Assurance;
use crate::clock::unix_now;
use crate::config::OidcConfig;
use crate::oidc::{FlowError, Oidc, SignInClient};
use crate::pages::ErrorPage;
use crate::session::{self, SessionError, Sessions};
use crate::telemetry;

/// How long a started sign-in may take.
const LOGIN_STATE_SECONDS: i64 = 600;
const LOGIN_COOKIE_PREFIX: &str = "kc_login_";

/// What the login cookie holds between `/login` and `/authorize`.
#[derive(Serialize, Deserialize)]
pub struct LoginState {
    nonce: Nonce,
    verifier: PkceCodeVerifier,
    /// Where to go after sign-in (already checked to be a local path).
    pub next: String,
    started: u64,
    /// The level of assurance asked of Keycloak, which the ID token must show.
    #[serde(default)]
    step_up: Option<Assurance>,
}

impl LoginState {
    /// Decodes a login cookie's (decrypted) value.
    pub fn decode(value: &str) -> Option<Self> {
        serde_json::from_str(value).ok()
    }
}

/// The sign-in route's URI for a `next` path, asking for `step_up` if given.
pub(super) fn login_uri(paths: &Paths, next: &str, step_up: Option<&Assurance>) -> String {
    let acr = step_up.map(|s| s.acr.as_str());
    let max_age = step_up.and_then(|s| s.max_age).map(|age| age.to_string());
    paths.under_base(&uri!(login(next = Some(next), acr = acr, max_age = max_age.as_deref())))
}

/// The callback's path: the login cookie is sent there only.
fn callback_path(paths: &Paths) -> String {
    paths.under_base(&uri!(authorize(_)))
}

/// The callback's absolute URL, registered in Keycloak as the redirect URI.
fn redirect_url(paths: &Paths, config: &OidcConfig) -> Result<RedirectUrl, FlowError> {
    RedirectUrl::new(config.app_path(&callback_path(paths))).map_err(FlowError::BadUrl)
}

/// A sign-in that cannot start or finish because Keycloak is not there.
pub(super) fn unavailable(message: &str) -> ErrorPage {
    ErrorPage::new(Status::ServiceUnavailable, message)
}

/// The level of assurance a `/login` link asks for: `acr` must be a configured level and
/// `max_age` a number of seconds, and `max_age` needs `acr`. Anything else is refused
/// rather than dropped, so a page never gets a sign-in weaker than it asked for.
fn requested_assurance(
    config: &OidcConfig,
    acr: Option<&str>,
    max_age: Option<&str>,
) -> Result<Option<Assurance>, ErrorPage> {
    let bad = |message: &str| ErrorPage::new(Status::BadRequest, message);
    let max_age = match max_age {
        None => None,
        Some(age) => Some(age.parse::<u64>().map_err(|_| bad("max_age must be a number."))?),
    };
    match acr {
        None if max_age.is_some() => Err(bad("max_age needs acr.")),
        None => Ok(None),
        Some(acr) if config.acr_levels.rank(acr).is_none() => {
            Err(bad("This level of authentication is unknown."))
        }
        Some(acr) => Ok(Some(Assurance { acr: acr.to_owned(), max_age })),
    }
}

#[get("/login?<next>&<acr>&<max_age>")]
pub(super) fn login(
    next: Option<&str>,
    acr: Option<&str>,
    max_age: Option<&str>,
    oidc: &State<Oidc>,
    paths: &State<Arc<Paths>>,
    cookies: &CookieJar<'_>,
) -> Result<Redirect, ErrorPage> {
    let step_up = requested_assurance(oidc.config(), acr, max_age)?;
    let request = redirect_url(paths, oidc.config())
        .and_then(|redirect| Ok(SignInClient::new(oidc)?.begin_login(&redirect, step_up.as_ref())))
        .map_err(|e| {
            log::warn!("cannot start sign-in: {e}");
            unavailable("Sign-in is not available right now.")
        })?;
    let state = LoginState {
        nonce: request.nonce,
        verifier: request.pkce_verifier,
        next: local_path_or_default(next, &paths.after_login),
        started: unix_now(),
        step_up,
    };
    let value = serde_json::to_string(&state).unwrap_or_default();
    let name = format!("{LOGIN_COOKIE_PREFIX}{}", request.state.secret());
    let cookie = Cookie::build((name, value))
        .path(callback_path(paths))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(oidc.config().secure_cookies())
        .max_age(CookieDuration::seconds(LOGIN_STATE_SECONDS));
    cookies.add_private(cookie);
    Ok(Redirect::to(request.url.to_string()))
}

/// The authorization response's query parameters (others, such as Keycloak's
/// `session_state`, are ignored).
#[derive(FromForm)]
pub(super) struct Callback<'r> {
    code: Option<&'r str>,
    state: Option<&'r str>,
    /// RFC 9207: the issuer that answered.
    iss: Option<&'r str>,
    error: Option<&'r str>,
}

// `uri!(authorize(_))` names the callback without its parameters.
impl rocket::http::uri::fmt::Ignorable<rocket::http::uri::fmt::Query> for Callback<'_> {}

#[get("/authorize?<callback..>")]
pub(super) async fn authorize(
    callback: Callback<'_>,
    oidc: &State<Oidc>,
    sessions: &State<Sessions>,
    paths: &State<Arc<Paths>>,
    cookies: &CookieJar<'_>,
) -> Result<Redirect, ErrorPage> {
    let result = finish_sign_in(callback, oidc, sessions, paths, cookies).await;
    telemetry::login(result.is_ok());
    result
}

/// The callback's work: every way out but the last is a failed sign-in.
async fn finish_sign_in(
    callback: Callback<'_>,
    oidc: &Oidc,
    sessions: &Sessions,
    paths: &Paths,
    cookies: &CookieJar<'_>,
) -> Result<Redirect, ErrorPage> {
    let bad = |message: &str| ErrorPage::new(Status::BadRequest, message);
    let Callback { code, state, iss, error } = callback;
    let state = state
        .filter(|s| !s.is_empty() && s.len() <= 128)
        .ok_or_else(|| bad("The sign-in response has no state."))?;
    let cookie_name = format!("{LOGIN_COOKIE_PREFIX}{state}");
    let login: LoginState = cookies
        .get_private(&cookie_name)
        .and_then(|c| LoginState::decode(c.value()))
        .ok_or_else(|| {
            log::debug!("authorize: unknown, used or expired state");
            bad("This sign-in link is unknown, expired or already used. Please sign in again.")
        })?;
    // Single use: gone before anything else can fail.
    cookies.remove_private(Cookie::build(cookie_name).path(callback_path(paths)));
    remove_stale_login_cookies(cookies, paths);
    if unix_now().saturating_sub(login.started) > LOGIN_STATE_SECONDS as u64 {
        return Err(bad("The sign-in took too long. Please sign in again."));
    }
    let iss_required =
        oidc.metadata().is_some_and(|m| m.authorization_response_iss_parameter_supported);
    match iss {
        Some(iss) if iss != oidc.config().issuer => {
            log::warn!("authorize: iss {iss:?} is not our issuer (mix-up attempt?)");
            return Err(bad("The sign-in response came from an unexpected identity provider."));
        }
        None if iss_required => {
            log::warn!("authorize: no iss, but the provider always sends one (mix-up attempt?)");
            return Err(bad("The sign-in response did not name its identity provider."));
        }
        _ => {}
    }
    if let Some(error) = error {
        log::info!("authorize: identity provider answered error={error:?}");
        let message = if error == "access_denied" {
            "Sign-in was cancelled."
        } else {
            "The identity provider could not sign you in."
        };
        return Err(ErrorPage::new(Status::Unauthorized, message));
    }
    let code = code
        .filter(|c| !c.is_empty())
        .map(|c| AuthorizationCode::new(c.to_owned()))
        .ok_or_else(|| bad("The sign-in response has no code."))?;
    let exchanged = async {
        let redirect = redirect_url(paths, oidc.config())?;
        let client = SignInClient::new(oidc)?;
        client.exchange_code(code, login.verifier, &login.nonce, &redirect).await
    };
    let tokens = exchanged.await.map_err(|e| {
        log::warn!("authorize: {e}");
        if e.is_unavailable() {
            unavailable("The identity provider is not reachable.")
        } else {
            bad("The sign-in could not be completed. Please sign in again.")
        }
    })?;
    if let Some(required) = &login.step_up {
        let identity = &tokens.identity;
        let (acr, auth_time) = (identity.acr.as_deref(), identity.auth_time);
        if let Err(shortfall) = oidc.config().acr_levels.check(required, acr, auth_time, unix_now())
        {
            log::warn!(
                "authorize: sub {} asked for {required:?}, signed in at acr {acr:?}, auth_time \
                 {auth_time:?}: {shortfall:?}",
                identity.sub
            );
            return Err(ErrorPage::new(
                Status::Forbidden,
                "The sign-in did not reach the level of authentication this page needs.",
            ));
        }
    }
    // Built before anything changes, so the sign-in cannot fail after the old session ended.
    let next = local_path(&login.next).map_or_else(|| paths.after_login.clone(), |p| p.to_string());
    let store_down = |e: SessionError| {
        log::warn!("authorize: {e}");
        unavailable("Sign-in is not available right now. Please try again in a moment.")
    };
    // A new id at every login; any previous session of this browser ends.
    if let Some(old) = session::session_id(cookies) {
        sessions.end(&old).await.map_err(store_down)?;
    }
    let (id, session) = sessions.create(tokens).await.map_err(store_down)?;
    log::info!("signed in: sub {} sid {:?}", session.identity.sub, session.identity.sid);
    session::set_session_cookie(cookies, id, oidc.config().secure_cookies());
    Ok(Redirect::to(next))
}

/// Removes the login cookies this browser sent that no sign-in can use any more: those
/// that cannot be decrypted or decoded, and those older than [`LOGIN_STATE_SECONDS`].
fn remove_stale_login_cookies(cookies: &CookieJar<'_>, paths: &Paths) {
    let stale: Vec<String> = cookies
        .iter()
        .filter(|c| c.name().starts_with(LOGIN_COOKIE_PREFIX))
        .filter(|c| {
            let state = cookies.get_private(c.name()).and_then(|c| LoginState::decode(c.value()));
            state.is_none_or(|s| unix_now().saturating_sub(s.started) > LOGIN_STATE_SECONDS as u64)
        })
        .map(|c| c.name().to_owned())
        .collect();
    for name in stale {
        cookies.remove_private(Cookie::build(name).path(callback_path(paths)));
    }
}
