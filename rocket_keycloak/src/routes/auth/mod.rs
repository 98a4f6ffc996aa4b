//! The sign-in routes: `/login`, `/authorize`, `/logout` and `/backchannel-logout`, mounted
//! by [`SignIn`] at `/` or wherever the app says ([`SignIn::mount_at`]).
//!
//! | file | holds |
//! |---|---|
//! | `mod.rs` | [`SignIn`] (the fairing and where it sends browsers), the login cookie, `next` |
//! | `login.rs` | `/login` and `/authorize` |
//! | `logout.rs` | `/logout` and `/backchannel-logout` |
//!
//!
//! Decisions:
//! - The login state (`state`, `nonce`, PKCE verifier, `next`) lives in a private cookie
//!   named after the state, path `/authorize`, 10 minutes, so several tabs can sign in at
//!   once and each state is usable exactly once (the cookie is removed before the code is
//!   exchanged, whatever the outcome).
//! - `next` is followed only if it is a local path: it must start with a single `/` and
//!   contain no backslash or control character, so `//evil.example`, `/\evil` and
//!   `https://evil` all land on the after-login page ([`SignIn::after_login`]; open-redirect
//!   defence). It must also be a URI
//!   Rocket can redirect to as it is (origin form: no space, quote, `<`, non-ASCII...)
//!   and at most [`MAX_NEXT_BYTES`] long (it rides in the login cookie); anything else
//!   lands there too, rather than being repaired. It is checked again at the
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
//! - Every link to another route is built with `uri!` from that route and the mount point,
//!   so a renamed path cannot leave a dangling string behind.
//! - The library knows no page of the app: where a browser lands after sign-in, after logout
//!   and after a refused sign-in is the app's to say ([`SignIn`]'s builder); each is checked
//!   at launch to be a local path, like `next`.

mod login;
mod logout;

// Named by `uri!(login::authorize(_))`, which leaves the callback's parameters out.
use login::Callback;

use std::sync::Arc;

use openidconnect::{Nonce, PkceCodeVerifier, RedirectUrl};
use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::http::Status;
use rocket::http::uri::Origin;
use rocket::{Build, Rocket, Route, routes, uri};
use serde::{Deserialize, Serialize};

use crate::assurance::Assurance;
use crate::config::OidcConfig;
use crate::error::LoginPage;
use crate::logging;
use crate::oidc::{FlowError, Oidc};
use crate::pages::{ErrorPage, PageLinks};
use crate::session::Sessions;

/// How long a started sign-in may take.
pub(crate) const LOGIN_STATE_SECONDS: i64 = 600;
const LOGIN_COOKIE_PREFIX: &str = "kc_login_";
/// The longest `next` followed after sign-in.
pub(crate) const MAX_NEXT_BYTES: usize = 512;

/// The routes of this module.
fn routes() -> Vec<Route> {
    routes![login::login, login::authorize, logout::logout, logout::backchannel_logout]
}

/// The browser sign-in: mounts `/login`, `/authorize`, `/logout` and `/backchannel-logout`
/// (at `/`, or at [`mount_at`](Self::mount_at)), and manages the session layer
/// ([`Sessions`] in memory, unless the app managed its own before attaching) and the
/// sign-in the 401 catcher sends pages to.
///
/// Where the browser lands is the app's to say; each defaults to `/`:
/// - [`after_login`](Self::after_login): after a sign-in that had no `next` page;
/// - [`after_logout`](Self::after_logout): after logout (register it in Keycloak as a valid
///   post-logout redirect URI);
/// - [`after_refusal`](Self::after_refusal): the "back" link of a refused sign-in's page.
///
/// It refuses to launch when Rocket's log would show the callback's `code` and `state`:
/// install the [`RedactingLogger`](crate::RedactingLogger) before building the rocket.
///
/// ```no_run
/// # use rocket::launch;
/// #[launch]
/// fn rocket() -> _ {
///     rocket_keycloak::RedactingLogger::new(log::LevelFilter::Info).install();
///     rocket::build()
///         .attach(rocket_keycloak::OidcFairing)
///         .attach(rocket_keycloak::SignIn::new().mount_at("/auth").after_login("/hello"))
///         .register("/", rocket_keycloak::catchers())
/// }
/// ```
#[derive(Debug, Clone)]
pub struct SignIn {
    base: String,
    after_login: String,
    after_logout: String,
    after_refusal: String,
}

impl Default for SignIn {
    fn default() -> Self {
        let root = || "/".to_owned();
        Self { base: root(), after_login: root(), after_logout: root(), after_refusal: root() }
    }
}

impl SignIn {
    /// The sign-in at `/`, landing on `/`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Mounts the sign-in routes under `base` (`/auth` gives `/auth/login`, and the redirect
    /// URI to register in Keycloak becomes `<app_url>/auth/authorize`).
    pub fn mount_at(mut self, base: impl Into<String>) -> Self {
        self.base = base.into();
        self
    }

    /// Where a sign-in lands when it was not started by a page (`next`).
    pub fn after_login(mut self, path: impl Into<String>) -> Self {
        self.after_login = path.into();
        self
    }

    /// Where the browser lands after logout.
    pub fn after_logout(mut self, path: impl Into<String>) -> Self {
        self.after_logout = path.into();
        self
    }

    /// Where the page of a refused sign-in (cancelled, expired, too weak) links back to.
    pub fn after_refusal(mut self, path: impl Into<String>) -> Self {
        self.after_refusal = path.into();
        self
    }

    /// The checked paths, or the setting that is wrong.
    fn paths(&self) -> Result<Paths, String> {
        let base = Origin::parse_owned(self.base.clone())
            .ok()
            .filter(|base| base.query().is_none() && self.base.starts_with('/'))
            .ok_or_else(|| format!("SignIn::mount_at({:?}) is not a path like /auth", self.base))?;
        let local = |name: &str, path: &String| {
            local_path(path)
                .map(|p| p.to_string())
                .ok_or_else(|| format!("SignIn::{name}({path:?}) is not a local path like /hello"))
        };
        Ok(Paths {
            base,
            after_login: local("after_login", &self.after_login)?,
            after_logout: local("after_logout", &self.after_logout)?,
            after_refusal: local("after_refusal", &self.after_refusal)?,
        })
    }
}

/// Where the sign-in is mounted and where it sends browsers: [`SignIn`]'s settings, checked,
/// in Rocket's state for the routes.
#[derive(Debug, Clone)]
pub(crate) struct Paths {
    base: Origin<'static>,
    pub(crate) after_login: String,
    pub(crate) after_logout: String,
    pub(crate) after_refusal: String,
}

impl Paths {
    /// The sign-in route's URI for a `next` path, asking for `step_up` if given.
    fn login_uri(&self, next: &str, step_up: Option<&Assurance>) -> String {
        let acr = step_up.map(|s| s.acr.as_str());
        let max_age = step_up.and_then(|s| s.max_age).map(|age| age.to_string());
        let route = uri!(login::login(next = Some(next), acr = acr, max_age = max_age.as_deref()));
        self.under_base(&route)
    }

    /// The callback's path: the login cookie is sent there only.
    pub(crate) fn callback_path(&self) -> String {
        self.under_base(&uri!(login::authorize(_)))
    }

    /// The callback's absolute URL, registered in Keycloak as the redirect URI.
    pub(crate) fn redirect_url(&self, config: &OidcConfig) -> Result<RedirectUrl, FlowError> {
        RedirectUrl::new(config.app_path(&self.callback_path())).map_err(FlowError::BadUrl)
    }

    /// `route` (a URI of a route of this module, mounted at `/`) under the mount point.
    fn under_base(&self, route: &Origin<'_>) -> String {
        let base = self.base.path().as_str().trim_end_matches('/');
        format!("{base}{route}")
    }
}

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
        let paths = match self.paths() {
            Ok(paths) => Arc::new(paths),
            Err(error) => {
                log::error!("rocket_keycloak: {error}");
                return Err(rocket);
            }
        };
        let login = Arc::clone(&paths);
        let links =
            PageLinks { home: paths.after_refusal.clone(), login: paths.login_uri("/", None) };
        let rocket = rocket
            .mount(paths.base.clone(), routes())
            .manage(LoginPage(Box::new(move |next, step_up| login.login_uri(next, step_up))))
            .manage(links)
            .manage(paths);
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

/// What the login cookie holds between `/login` and `/authorize`.
#[derive(Serialize, Deserialize)]
pub struct LoginState {
    pub(super) nonce: Nonce,
    pub(super) verifier: PkceCodeVerifier,
    /// Where to go after sign-in (already checked to be a local path).
    pub next: String,
    pub(super) started: u64,
    /// The level of assurance asked of Keycloak, which the ID token must show.
    #[serde(default)]
    pub(super) step_up: Option<Assurance>,
}

impl LoginState {
    /// Decodes a login cookie's (decrypted) value.
    pub fn decode(value: &str) -> Option<Self> {
        serde_json::from_str(value).ok()
    }
}

/// `next` if it is a safe local path, else `default`.
pub fn local_path_or_default(next: Option<&str>, default: &str) -> String {
    next.and_then(local_path).map_or_else(|| default.to_owned(), |p| p.to_string())
}

/// `next` as a local URI this app can redirect to, if it is one.
pub(super) fn local_path(next: &str) -> Option<Origin<'static>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_path_or_default(Some("/me?x=1"), "/hello"), "/me?x=1");
        for evil in
            ["//evil.example", "https://evil.example", "/\\evil.example", "evil", "/\r\nx", ""]
        {
            assert_eq!(local_path_or_default(Some(evil), "/hello"), "/hello", "{evil:?}");
        }
        assert_eq!(local_path_or_default(None, "/hello"), "/hello");
    }

    #[test]
    fn next_must_be_a_uri_rocket_can_redirect_to() {
        let long = format!("/{}", "x".repeat(MAX_NEXT_BYTES));
        for awkward in ["/a b", "/café", "/\"q\"", "/<script>", "/a#b c", long.as_str()] {
            assert_eq!(local_path_or_default(Some(awkward), "/hello"), "/hello", "{awkward:?}");
        }
        let longest = format!("/{}", "x".repeat(MAX_NEXT_BYTES - 1));
        assert_eq!(local_path_or_default(Some(&longest), "/hello"), longest);
        assert_eq!(local_path_or_default(Some("/a%20b?c=%C3%A9"), "/hello"), "/a%20b?c=%C3%A9");
    }
}
