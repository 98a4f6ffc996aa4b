//! The demo app of [`rocket_keycloak`]: the "Flask + Authlib + Keycloak" guide, in Rocket.
//!
//! Everything about Keycloak lives in the library; this crate only holds what a real app
//! would write around it:
//!
//! - [`routes::api`]: the JSON API (`/secure-data`, `/sensitive-data`, `/admin-data`, `/me`)
//!   and the probes (`/health`, `/ready`);
//! - [`routes::pages`]: the HTML pages (`/`, `/hello`, `/sensitive`, `/logout`) and their
//!   Tera templates in `templates/`;
//! - [`routes::notes`]: a session-authenticated `POST`, to show the CSRF rules at work;
//! - [`routes::orgs`]: `/orgs/<alias>/data`, for members of that Keycloak organization.
//!
//! [`rocket()`] wires them with every feature of the library: sign-in landing on `/hello`,
//! the Redis session store when configured, the Prometheus endpoint, and the demo's own
//! Tera look for the library's refusal pages.

pub mod routes;

use rocket::figment::Figment;
use rocket::{Build, Rocket};
use rocket_dyn_templates::Template;
use rocket_keycloak::{
    ErrorPages, MetricsEndpoint, OidcFairing, RedactingLogger, SecurityHeaders, SignIn,
};

/// The demo app, configured from `Rocket.toml`, `ROCKET_*` and `OIDC_*` variables.
///
/// Unlike [`rocket_with`], it starts without a `secret_key` in release builds too: it then
/// uses a random key and says so, because the demo must run with a bare
/// `cargo run --release`. Sessions then end when the process does; set
/// `ROCKET_SECRET_KEY` for anything real (and for several instances behind one URL).
pub fn rocket() -> Rocket<Build> {
    let figment = rocket_keycloak::figment();
    let provided = figment.extract::<rocket::Config>().is_ok_and(|c| c.secret_key.is_provided());
    // A shared session store needs the same key on every instance: no random fallback then
    // (the SignIn fairing refuses to start without one and says so).
    let shared_store = figment
        .find_value("oidc.session_store")
        .ok()
        .and_then(|v| v.into_string())
        .is_some_and(|store| store != "memory");
    // The debug profile gets Rocket's own generated key; only release needs the fallback.
    if provided || shared_store || figment.profile() == rocket::Config::DEBUG_PROFILE {
        return rocket_with(figment);
    }
    // Rocket's logger is not up before ignite, hence stderr.
    eprintln!("warning: ROCKET_SECRET_KEY is not set: using a random key; sessions end at restart");
    rocket_with(figment.merge(("secret_key", random_secret_key())))
}

/// 256 random bits in standard base64, as `openssl rand -base64 32` would give.
fn random_secret_key() -> String {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let random = openidconnect::CsrfToken::new_random_len(32).into_secret(); // base64url
    STANDARD.encode(URL_SAFE_NO_PAD.decode(random).unwrap_or_default())
}

/// The demo app with an explicit figment (tests pass their own).
///
/// It installs the [`RedactingLogger`] at the figment's `log_level` first, unless the process
/// already has a logger (one per process: the first one stays).
pub fn rocket_with(figment: Figment) -> Rocket<Build> {
    // Before rocket::custom, which installs Rocket's own logger when there is none.
    let level = figment
        .extract::<rocket::Config>()
        .map_or(rocket::config::LogLevel::Normal, |c| c.log_level);
    // `oidc.log_format` (OIDC_LOG_FORMAT): a typo falls back to text here and fails launch
    // in OidcFairing, naming the key.
    let format = rocket_keycloak::LogFormat::from_figment(&figment).unwrap_or_default();
    RedactingLogger::new(RedactingLogger::filter_for(level)).with_format(format).install();
    rocket::custom(figment)
        // First: the recorder is then installed when the key fairing loads the keys.
        .attach(MetricsEndpoint)
        .attach(OidcFairing)
        .attach(SignIn::new().after_login("/hello"))
        .attach(Template::fairing())
        .attach(SecurityHeaders)
        // The refusal pages in the demo's own look (templates/error.html.tera).
        .manage(ErrorPages::tera("error"))
        .register("/", rocket_keycloak::default_catchers())
        .mount("/", routes::api::routes())
        .mount("/", routes::pages::routes())
        .mount("/", routes::notes::routes())
        .mount("/", routes::orgs::routes())
        .manage(routes::notes::Notes::default())
}
