//! `/login` starts a sign-in (the login cookie, then Keycloak); `/authorize` is the callback
//! that finishes it: the cookies, the session store and the redirects here, the checks of
//! the response in `oidc/callback.rs`.

use std::sync::Arc;

use openidconnect::{Nonce, PkceCodeVerifier, RedirectUrl};
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
use crate::oidc::callback::{self, LOGIN_STATE_SECONDS};
use crate::oidc::{AuthorizationResponse, FlowError, IssParameter, Oidc, Refusal, SignInClient};
use crate::pages::ErrorPage;
use crate::session::{self, SessionError, Sessions};
use crate::telemetry;

const LOGIN_COOKIE_PREFIX: &str = "kc_login_";
/// Login cookies read (decrypted, and answered with a removal) per callback, at most: a few
/// tabs signing in at once need a handful, and a browser stuffed with thousands must not cost
/// a decryption and a header each. The rest expire by themselves (`LOGIN_STATE_SECONDS`).
const MAX_LOGIN_COOKIES_READ: usize = 16;

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
        .max_age(CookieDuration::seconds(LOGIN_STATE_SECONDS as i64));
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
    let Callback { code, state, iss, error } = callback;
    // The login state is looked up only for a usable state (rule 1), and its cookie is gone
    // before anything else can fail (rule 2): single use, whatever the outcome.
    let login =
        callback::usable_state(state).and_then(|state| take_login_state(cookies, paths, state));
    let iss_parameter =
        if oidc.metadata().is_some_and(|m| m.authorization_response_iss_parameter_supported) {
            IssParameter::Required
        } else {
            IssParameter::Optional
        };
    let response = AuthorizationResponse { state, code, iss, error };
    let started = login.as_ref().map(|login| login.started);
    let code = callback::check(response, started, unix_now(), &oidc.config().issuer, iss_parameter)
        .map_err(refused)?;
    // Rule 2 has refused a callback without a login state; this only names the one found.
    let Some(login) = login else { return Err(refused(Refusal::UnknownState)) };
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
            ErrorPage::new(
                Status::BadRequest,
                "The sign-in could not be completed. Please sign in again.",
            )
        }
    })?;
    let levels = &oidc.config().acr_levels;
    callback::check_step_up(levels, login.step_up.as_ref(), &tokens.identity, unix_now())
        .map_err(refused)?;
    // Built before anything changes, so the sign-in cannot fail after the old session ended.
    let next = local_path(&login.next).map_or_else(|| paths.after_login.clone(), |p| p.to_string());
    let store_down = |e: SessionError| {
        log::warn!("authorize: {e}");
        unavailable("Sign-in is not available right now. Please try again in a moment.")
    };
    // A new id at every login; any previous session of this browser ends.
    if let Some(old) = session::session_id(cookies, oidc.config().secure_cookies()) {
        sessions.end(&old).await.map_err(store_down)?;
    }
    let (id, session) = sessions.create(tokens).await.map_err(store_down)?;
    log::info!("signed in: sub {} sid {:?}", session.identity.sub, session.identity.sid);
    session::set_session_cookie(cookies, id, oidc.config().secure_cookies());
    Ok(Redirect::to(next))
}

/// The login state named by `state`, its cookie removed at once (single use), with every
/// other login cookie no sign-in can use any more; `None` if there is none or it cannot be
/// read.
fn take_login_state(cookies: &CookieJar<'_>, paths: &Paths, state: &str) -> Option<LoginState> {
    let cookie_name = format!("{LOGIN_COOKIE_PREFIX}{state}");
    let login = cookies.get_private(&cookie_name).and_then(|c| LoginState::decode(c.value()))?;
    cookies.remove_private(Cookie::build(cookie_name).path(callback_path(paths)));
    remove_stale_login_cookies(cookies, paths);
    Some(login)
}

/// A refused callback: its page, and its line in the log (as `authorize: ...`).
fn refused(refusal: Refusal<'_>) -> ErrorPage {
    if let Some(level) = refusal.log_level() {
        log::log!(level, "authorize: {refusal}");
    }
    ErrorPage::new(Status::new(refusal.status()), refusal.message())
}

/// Removes the login cookies this browser sent that no sign-in can use any more: those
/// that cannot be decrypted or decoded, and those older than [`LOGIN_STATE_SECONDS`].
fn remove_stale_login_cookies(cookies: &CookieJar<'_>, paths: &Paths) {
    let stale: Vec<String> = cookies
        .iter()
        .filter(|c| c.name().starts_with(LOGIN_COOKIE_PREFIX))
        .take(MAX_LOGIN_COOKIES_READ)
        .filter(|c| {
            let state = cookies.get_private(c.name()).and_then(|c| LoginState::decode(c.value()));
            state.is_none_or(|s| callback::sign_in_expired(s.started, unix_now()))
        })
        .map(|c| c.name().to_owned())
        .collect();
    for name in stale {
        cookies.remove_private(Cookie::build(name).path(callback_path(paths)));
    }
}
