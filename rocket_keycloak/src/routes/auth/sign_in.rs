//! [`SignIn`]: the fairing that mounts the sign-in routes and manages what they need, and
//! its settings (where the routes are mounted, where browsers land), checked at launch.

use std::sync::Arc;

use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::http::uri::Origin;
use rocket::{Build, Rocket, Route, routes};

use super::paths::{Paths, local_path};
use super::{login, logout};
use crate::catchers::LoginPage;
use crate::config::OidcConfig;
use crate::logging;
use crate::oidc::Oidc;
use crate::pages::PageLinks;
use crate::session::Sessions;

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
        let for_catcher = Arc::clone(&paths);
        let links = PageLinks {
            home: paths.after_refusal.clone(),
            login: login::login_uri(&paths, "/", None),
        };
        let rocket = rocket
            .mount(paths.base.clone(), routes())
            .manage(LoginPage(Box::new(move |next, step_up| {
                login::login_uri(&for_catcher, next, step_up)
            })))
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
