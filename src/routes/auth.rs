//! The sign-in routes: `/login`, `/authorize`, `/logout` and `/backchannel-logout`.
//!
//! Decisions:
//! - The login state (`state`, `nonce`, PKCE verifier, `next`) lives in a private cookie
//!   named after the state, path `/authorize`, 10 minutes, so several tabs can sign in at
//!   once and each state is usable exactly once (the cookie is removed before the code is
//!   exchanged, whatever the outcome).
//! - `next` is followed only if it is a local path: it must start with a single `/` and
//!   contain no backslash or control character, so `//evil.example`, `/\evil` and
//!   `https://evil` all land on `/hello` (open-redirect defence). It must also be a URI
//!   Rocket can redirect to as it is (origin form: no space, quote, `<`, non-ASCII...)
//!   and at most [`MAX_NEXT_BYTES`] long (it rides in the login cookie); anything else
//!   lands on `/hello` too, rather than being repaired. It is checked again at the
//!   callback, and the redirect is built before any session ends, so a bad `next` can
//!   never cost the browser its new session.
//! - At the callback, login cookies that cannot be read (another secret key) or whose
//!   sign-in began too long ago are removed; a fresh one belongs to a sign-in still running
//!   in another tab and stays.
//! - A step-up sign-in (`/login?acr=gold&max_age=300`, where the step-up page guard sends
//!   browsers) passes `acr_values` and `max_age` to Keycloak and remembers them in the login
//!   cookie; the callback refuses (403, the old session untouched) an ID token whose `acr`
//!   or `auth_time` does not meet them. An unknown `acr` or a malformed `max_age` on `/login`
//!   is a 400, never a silently weaker sign-in.
//! - `iss` on the callback (RFC 9207), when present, must equal the issuer (mix-up defence);
//!   when the provider's metadata advertises `authorization_response_iss_parameter_supported`
//!   (Keycloak does), a callback without `iss` is refused (§2.4).
//! - Logout is a POST with the session's CSRF token; it ends the local session first, then
//!   sends the browser to Keycloak's end-session endpoint with `id_token_hint`, so the
//!   Keycloak session ends too.
//! - Back-channel logout answers 200 only for a fully valid, first-seen logout token;
//!   every answer is `no-store` (§2.8), and a refusal's body never carries the internal
//!   reason (that goes to the log).
//! - [`SignIn`] refuses to launch when Rocket's log would show the callback's `code` and
//!   `state` (see `logging.rs`).
//! - [`SignIn`] mounts these routes and manages what they need ([`Sessions`], the
//!   [`LoginPage`] the 401 catcher redirects to), so the key fairing stays free of the
//!   session layer and an API-only app carries none of it.
//! - Every link to another route is built with `uri!` from that route, so a renamed path
//!   cannot leave a dangling string behind.

use openidconnect::{AuthorizationCode, Nonce, PkceCodeVerifier, RedirectUrl};
use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::form::{Form, FromForm};
use rocket::http::uri::Origin;
use rocket::http::{Cookie, CookieJar, SameSite, Status};
use rocket::response::Redirect;
use rocket::serde::json::{Json, Value, json};
use rocket::time::Duration as CookieDuration;
use rocket::{Build, Rocket, Route, State, get, post, routes, uri};
use serde::{Deserialize, Serialize};

use super::pages;
use crate::assurance::Assurance;
use crate::clock::unix_now;
use crate::config::OidcConfig;
use crate::error::{ErrorBody, ErrorPage, LoginPage};
use crate::logging;
use crate::oidc::{FlowError, LogoutTarget, Oidc, SignInClient, VerifyError};
use crate::security::{NoStore, constant_time_eq};
use crate::session::{self, SessionError, Sessions};
use crate::telemetry;

/// How long a started sign-in may take.
pub(crate) const LOGIN_STATE_SECONDS: i64 = 600;
const LOGIN_COOKIE_PREFIX: &str = "kc_login_";
/// The longest `next` followed after sign-in.
pub(crate) const MAX_NEXT_BYTES: usize = 512;

/// The routes of this module.
pub(crate) fn routes() -> Vec<Route> {
    routes![login, authorize, logout, backchannel_logout]
}

/// The browser sign-in: mounts `/login`, `/authorize`, `/logout` and
/// `/backchannel-logout` at `/`, and manages the session layer ([`Sessions`] in memory,
/// unless the app managed its own before attaching) and the [`LoginPage`] the 401 catcher
/// sends pages to.
///
/// It refuses to launch when Rocket would log the callback's `code` and `state`: install the
/// [`RedactingLogger`](crate::RedactingLogger) before building the rocket.
///
/// ```no_run
/// # use rocket::launch;
/// #[launch]
/// fn rocket() -> _ {
///     rocket_keycloak::RedactingLogger::new(log::LevelFilter::Info).install();
///     rocket::build()
///         .attach(rocket_keycloak::OidcFairing)
///         .attach(rocket_keycloak::SignIn)
///         .register("/", rocket_keycloak::catchers())
/// }
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct SignIn;

#[rocket::async_trait]
impl Fairing for SignIn {
    fn info(&self) -> Info {
        Info { name: "Keycloak sign-in", kind: Kind::Ignite | Kind::Singleton }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        let logs = rocket
            .figment()
            .extract::<rocket::Config>()
            .map_or(true, |c| c.log_level != rocket::config::LogLevel::Off);
        if logs && !logging::is_redacted() {
            log::error!(
                "rocket_keycloak: Rocket's log would show the sign-in callback's `code` and \
                 `state`. Call `rocket_keycloak::RedactingLogger::new(level).install()` before \
                 building the rocket, or set log_level = \"off\" (ROCKET_LOG_LEVEL=off), or, if \
                 your own logger removes them, call \
                 `rocket_keycloak::RedactingLogger::trust_installed_logger()`."
            );
            return Err(rocket);
        }
        let rocket = rocket.mount("/", routes()).manage(LoginPage(login_uri));
        if rocket.state::<Sessions>().is_some() {
            return Ok(rocket);
        }
        let store = match rocket.state::<Oidc>() {
            Some(oidc) => Ok(oidc.config().session_store.clone()),
            None => OidcConfig::from_figment(rocket.figment()).map(|c| c.session_store),
        };
        // Rocket keeps its key to itself; the configured value is what every instance shares.
        let secret = rocket.figment().find_value("secret_key").ok();
        let sessions = store.and_then(|store| {
            Sessions::for_config(&store, secret.as_ref().and_then(|v| v.as_str()))
        });
        match sessions {
            Ok(sessions) => Ok(rocket.manage(sessions)),
            Err(error) => {
                log::error!("{error}");
                Err(rocket)
            }
        }
    }
}

/// The sign-in route's URI for a `next` path, asking for `step_up` if given.
fn login_uri(next: &str, step_up: Option<&Assurance>) -> Origin<'static> {
    let acr = step_up.map(|s| s.acr.as_str());
    let max_age = step_up.and_then(|s| s.max_age).map(|age| age.to_string());
    uri!(login(next = Some(next), acr = acr, max_age = max_age.as_deref()))
}

/// The callback's path: the login cookie is sent there only.
fn callback_path() -> String {
    uri!(authorize(_)).path().to_string()
}

/// The callback's absolute URL, registered in Keycloak as the redirect URI.
fn redirect_url(config: &OidcConfig) -> Result<RedirectUrl, FlowError> {
    RedirectUrl::new(config.app_path(&callback_path())).map_err(FlowError::BadUrl)
}

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

/// `next` if it is a safe local path, else `/hello`.
pub fn local_path_or_default(next: Option<&str>) -> String {
    next.and_then(local_path).map_or_else(|| uri!(pages::hello).to_string(), |p| p.to_string())
}

/// `next` as a local URI this app can redirect to, if it is one.
fn local_path(next: &str) -> Option<Origin<'static>> {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control());
    if !local || next.len() > MAX_NEXT_BYTES {
        return None;
    }
    Origin::parse_owned(next.to_owned()).ok()
}

/// A sign-in that cannot start or finish because Keycloak is not there.
fn unavailable(message: &str) -> ErrorPage {
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
fn login(
    next: Option<&str>,
    acr: Option<&str>,
    max_age: Option<&str>,
    oidc: &State<Oidc>,
    cookies: &CookieJar<'_>,
) -> Result<Redirect, ErrorPage> {
    let step_up = requested_assurance(oidc.config(), acr, max_age)?;
    let request = redirect_url(oidc.config())
        .and_then(|redirect| Ok(SignInClient::new(oidc)?.begin_login(&redirect, step_up.as_ref())))
        .map_err(|e| {
            log::warn!("cannot start sign-in: {e}");
            unavailable("Sign-in is not available right now.")
        })?;
    let state = LoginState {
        nonce: request.nonce,
        verifier: request.pkce_verifier,
        next: local_path_or_default(next),
        started: unix_now(),
        step_up,
    };
    let value = serde_json::to_string(&state).unwrap_or_default();
    let name = format!("{LOGIN_COOKIE_PREFIX}{}", request.state.secret());
    let cookie = Cookie::build((name, value))
        .path(callback_path())
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
struct Callback<'r> {
    code: Option<&'r str>,
    state: Option<&'r str>,
    /// RFC 9207: the issuer that answered.
    iss: Option<&'r str>,
    error: Option<&'r str>,
}

// `uri!(authorize(_))` names the callback without its parameters.
impl rocket::http::uri::fmt::Ignorable<rocket::http::uri::fmt::Query> for Callback<'_> {}

#[get("/authorize?<callback..>")]
async fn authorize(
    callback: Callback<'_>,
    oidc: &State<Oidc>,
    sessions: &State<Sessions>,
    cookies: &CookieJar<'_>,
) -> Result<Redirect, ErrorPage> {
    let result = finish_sign_in(callback, oidc, sessions, cookies).await;
    telemetry::login(result.is_ok());
    result
}

/// The callback's work: every way out but the last is a failed sign-in.
async fn finish_sign_in(
    callback: Callback<'_>,
    oidc: &Oidc,
    sessions: &Sessions,
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
    cookies.remove_private(Cookie::build(cookie_name).path(callback_path()));
    remove_stale_login_cookies(cookies);
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
        let redirect = redirect_url(oidc.config())?;
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
    let next = local_path(&login.next).unwrap_or_else(|| uri!(pages::hello));
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
fn remove_stale_login_cookies(cookies: &CookieJar<'_>) {
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
        cookies.remove_private(Cookie::build(name).path(callback_path()));
    }
}

/// The logout form.
#[derive(FromForm)]
struct LogoutForm<'r> {
    csrf: &'r str,
}

#[post("/logout", data = "<form>")]
async fn logout(
    form: Form<LogoutForm<'_>>,
    oidc: &State<Oidc>,
    sessions: &State<Sessions>,
    cookies: &CookieJar<'_>,
) -> Result<Redirect, ErrorPage> {
    let home = uri!(pages::home);
    let Some(id) = session::session_id(cookies) else {
        return Ok(Redirect::to(home));
    };
    let stored = sessions.get(&id).await.map_err(|e| {
        log::warn!("logout: {e}");
        unavailable("Signing out is not available right now. Please try again in a moment.")
    })?;
    let Some(session) = stored else {
        session::clear_session_cookie(cookies);
        return Ok(Redirect::to(home));
    };
    if !constant_time_eq(form.csrf.as_bytes(), session.csrf_token.as_bytes()) {
        log::warn!("logout without a valid CSRF token refused");
        return Err(ErrorPage::new(Status::Forbidden, "The logout request was not valid."));
    }
    sessions.end(&id).await.map_err(|e| {
        log::warn!("logout: {e}");
        unavailable("Signing out is not available right now. Please try again in a moment.")
    })?;
    telemetry::logout("rp");
    session::clear_session_cookie(cookies);
    let config = oidc.config();
    let Some(end_session) = oidc.metadata().and_then(|m| m.end_session_endpoint.clone()) else {
        return Ok(Redirect::to(home));
    };
    let mut url = end_session;
    let mut query = url.query_pairs_mut();
    if let Some(id_token) = &session.id_token {
        query.append_pair("id_token_hint", id_token);
    }
    query
        .append_pair("post_logout_redirect_uri", &config.app_path(home.path().as_str()))
        .append_pair("client_id", &config.client_id);
    drop(query);
    Ok(Redirect::to(url.to_string()))
}

#[derive(FromForm)]
struct BackchannelForm<'r> {
    logout_token: &'r str,
}

#[post("/backchannel-logout", data = "<form>")]
async fn backchannel_logout(
    form: Option<Form<BackchannelForm<'_>>>,
    oidc: &State<Oidc>,
    sessions: &State<Sessions>,
) -> NoStore<Result<Json<Value>, (Status, Json<ErrorBody>)>> {
    NoStore(end_sessions_of_logout_token(form, oidc, sessions).await)
}

/// The back-channel logout itself. Refusals say what is wrong only in general terms: the
/// precise reason goes to the log (the caller is Keycloak, and anyone else learns nothing).
async fn end_sessions_of_logout_token(
    form: Option<Form<BackchannelForm<'_>>>,
    oidc: &Oidc,
    sessions: &Sessions,
) -> Result<Json<Value>, (Status, Json<ErrorBody>)> {
    let refuse = |public: &str, why: String| {
        log::warn!("back-channel logout refused: {why}");
        Err((Status::BadRequest, Json(ErrorBody::new("invalid_request", public))))
    };
    const INVALID: &str = "The logout token is not valid.";
    let Some(form) = form else {
        return refuse("The request has no logout_token.", "no logout_token".into());
    };
    let logout = match oidc.validate_logout_token(form.logout_token).await {
        Ok(logout) => logout,
        Err(VerifyError::Rejected(e)) => return refuse(INVALID, format!("{e:?}")),
        Err(e) => {
            // Keys not loaded or the key not published yet: the token may be fine.
            log::warn!("back-channel logout not checked yet: {e}");
            let body = ErrorBody::new("temporarily_unavailable", "Try again later.");
            return Err((Status::ServiceUnavailable, Json(body)));
        }
    };
    let store_down = |e: SessionError| {
        log::warn!("back-channel logout not done: {e}");
        let body = ErrorBody::new("temporarily_unavailable", "The session store is not reachable");
        (Status::ServiceUnavailable, Json(body))
    };
    if !sessions
        .first_use_of_logout_token(&logout.jti, logout.accepted_until)
        .await
        .map_err(store_down)?
    {
        return refuse(INVALID, "replayed logout token".into());
    }
    let ended = match &logout.target {
        LogoutTarget::KeycloakSession(sid) => sessions.end_by_sid(sid).await,
        LogoutTarget::Subject(sub) => sessions.end_by_sub(sub).await,
    }
    .map_err(store_down)?;
    log::info!(
        "back-channel logout: sub {} {:?}: {ended} session(s) ended",
        logout.sub,
        logout.target
    );
    // Keycloak also sends a logout token to the app whose own logout started it; that one
    // ends nothing, and counting it would count every RP-initiated logout twice.
    if ended > 0 {
        telemetry::logout("backchannel");
    }
    Ok(Json(json!({"ended_sessions": ended})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_path_or_default(Some("/me?x=1")), "/me?x=1");
        for evil in
            ["//evil.example", "https://evil.example", "/\\evil.example", "evil", "/\r\nx", ""]
        {
            assert_eq!(local_path_or_default(Some(evil)), "/hello", "{evil:?}");
        }
        assert_eq!(local_path_or_default(None), "/hello");
    }

    #[test]
    fn next_must_be_a_uri_rocket_can_redirect_to() {
        let long = format!("/{}", "x".repeat(MAX_NEXT_BYTES));
        for awkward in ["/a b", "/café", "/\"q\"", "/<script>", "/a#b c", long.as_str()] {
            assert_eq!(local_path_or_default(Some(awkward)), "/hello", "{awkward:?}");
        }
        let longest = format!("/{}", "x".repeat(MAX_NEXT_BYTES - 1));
        assert_eq!(local_path_or_default(Some(&longest)), longest);
        assert_eq!(local_path_or_default(Some("/a%20b?c=%C3%A9")), "/a%20b?c=%C3%A9");
    }
}
