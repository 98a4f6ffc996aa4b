//! Keycloak sign-in and role-based authorization for [Rocket](https://rocket.rs).
//!
//! # Architecture
//! Layers that only point down (`scripts/check-modules` fails the build on a cycle):
//!
//! ```text
//! routes          api, pages, auth + SignIn, metrics   src/routes/
//! guards          AuthenticatedUser, RequireRole,      src/guards/
//!                 RequireAcr (step-up), RequireDpop
//! HTTP boundary   AuthError, ErrorBody, catchers,      src/error.rs, security.rs,
//!                 SecurityHeaders, RedactingLogger     logging.rs
//! sessions        Sessions, SessionStore, MemoryStore  src/session/
//! sign-in client  SignInClient (code flow, refresh)    src/oidc/client.rs
//! verification    Oidc (one Realm per issuer),         src/oidc/verify.rs, fairing.rs, cache.rs,
//!                 OidcFairing, token cache, DPoP       dpop.rs
//! key store       KeyStore, KeySource; HTTP fetch      src/oidc/keystore.rs, fetch.rs
//! pure rules      TokenRules, KeySet, metadata         src/oidc/tokens.rs, jwks.rs, discovery.rs
//! base            OidcConfig, Identity, clock,         src/config.rs, identity.rs, clock.rs,
//!                 levels of assurance, metric names    assurance.rs, telemetry.rs
//! ```
//!
//! - [`OidcFairing`] reads the `oidc` configuration ([`OidcConfig`]), discovers the realm
//!   and loads its JWKS at ignite, and keeps the keys fresh in a background task.
//! - The guards [`AuthenticatedUser`] and [`RequireRole`] validate the request's
//!   credentials against those keys (`src/oidc/tokens.rs` holds every rule) and hand
//!   handlers an [`Identity`].
//! - A failing guard records an [`AuthError`]; the [`catchers`] render it as an RFC 6750
//!   response (`WWW-Authenticate`, [`ErrorBody`]), an [`ErrorPage`] for browsers, or a
//!   redirect to `/login` for pages.
//! - The browser sign-in: [`SignIn`] mounts the routes (login, callback, logout,
//!   back-channel logout), which talk to Keycloak through the sign-in client; [`Sessions`]
//!   keep the tokens server-side and refresh them; the page routes and `templates/` render
//!   the pages; [`SecurityHeaders`] sets the browser security headers;
//!   [`RedactingLogger`] keeps credentials out of the log (Rocket's request lines carry the
//!   callback's `code` and `state`): [`rocket_with`] installs it, and [`SignIn`] refuses to
//!   launch in an app that logs without it.
//! - Accepted tokens are remembered in a verified-token cache, so a signature is verified
//!   once.
//!
//! # Request flow
//! `Authorization: Bearer <jwt>` → header parsed → (several realms: the realm its `iss`
//! names) → verified-token cache (hit: time rules only) → size and shape checked → key looked
//! up by `kid` (one rate-limited refetch if unknown) → signature, `iss`, `aud`, `typ`, times
//! → [`Identity`], cached for the request. A DPoP-bound token must come as
//! `Authorization: DPoP <jwt>` with a `DPoP` proof, checked after the token and spent once
//! (`src/oidc/dpop.rs`). Without an `Authorization` header, the session cookie is looked up
//! instead (refreshing the tokens first when they are about to expire). Role and level
//! guards ([`RequireRole`], [`RequireAcr`]) then check the identity.
//!
//! # Using it in your Rocket app
//! ```no_run
//! use rocket::{get, launch, routes};
//! use rocket_keycloak::{AuthenticatedUser, OidcFairing, RequireRole, Role, RoleKind};
//!
//! struct Admin;
//! impl Role for Admin {
//!     const NAME: &'static str = "admin";
//!     const KIND: RoleKind = RoleKind::Realm;
//! }
//!
//! #[get("/secure-data")]
//! fn secure_data(user: AuthenticatedUser) -> String {
//!     format!("hello {}", user.display_name())
//! }
//!
//! #[get("/admin-data")]
//! fn admin_data(_admin: RequireRole<Admin>) -> &'static str {
//!     "for admins only"
//! }
//!
//! #[launch]
//! fn rocket() -> _ {
//!     // Rocket.toml: [default.oidc] issuer = "...", client_id = "..."
//!     rocket::build()
//!         .attach(OidcFairing)
//!         .register("/", rocket_keycloak::catchers())
//!         .mount("/", routes![secure_data, admin_data])
//! }
//! ```
//!
//! For the browser sign-in too, `.attach(rocket_keycloak::SignIn)`: it mounts `/login`,
//! `/authorize`, `/logout` and `/backchannel-logout` and brings the session layer; an
//! API-only app like the one above carries none of it. Call
//! `RedactingLogger::new(level).install()` before building that rocket: `SignIn` refuses
//! to launch when Rocket's log would show the callback's `code` and `state`.

// The public surface is chosen below; a `pub` item nobody outside can reach would be a
// visibility that says more than it means.
#![warn(unreachable_pub)]

#[cfg(all(feature = "aws-lc", feature = "rust-crypto"))]
compile_error!("enable exactly one crypto backend: `aws-lc` (default) or `rust-crypto`");
#[cfg(not(any(feature = "aws-lc", feature = "rust-crypto")))]
compile_error!("enable a crypto backend: `aws-lc` (default) or `rust-crypto`");

// The layers, lowest first; each module uses only the ones above it in this list
// (`scripts/check-modules` fails the build on a cycle).
mod assurance;
mod clock;
mod config;
mod error;
mod guards;
mod identity;
mod logging;
mod oidc;
mod routes;
mod security;
mod session;
mod telemetry;

use rocket::figment::Figment;
use rocket::figment::providers::Env;
use rocket::{Build, Rocket};

pub use assurance::{AcrLevels, Assurance, Shortfall};
pub use config::{
    ClientSecret, ConfigError, DEFAULT_ALGORITHMS, DpopPolicy, MetricsConfig, OidcConfig,
    SessionStoreConfig,
};
pub use error::{AuthError, ErrorBody, ErrorPage, LoginPage, catchers};
pub use guards::{
    AuthenticatedUser, CSRF_HEADER, Level, MaybeUser, PageAcr, PageUser, RequireAcr, RequireDpop,
    RequireRole, Role, RoleKind, Scheme,
};
pub use identity::{Claims, Confirmation, Identity, Roles};
pub use logging::RedactingLogger;
pub use oidc::{DpopError, Oidc, OidcFairing, TokenError, VerifyError};
pub use routes::api::routes as api_routes;
pub use routes::pages::routes as page_routes;
pub use routes::{MetricsEndpoint, SignIn};
pub use security::SecurityHeaders;
pub use session::{
    MemoryStore, RedisStore, SESSION_COOKIE, Session, SessionError, SessionStore, Sessions,
    StoreError,
};

/// What the benches, the fuzz targets and the tests reach into; not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::guards::authorization_token;
    pub use crate::oidc::cache::{Accepted, TokenCache, digest};
    pub use crate::oidc::dpop::{ProofRules, ProofTarget, thumbprint};
    pub use crate::oidc::jwks::KeySet;
    pub use crate::oidc::tokens::{TokenKind, TokenRules};
    pub use crate::routes::auth::{LoginState, local_path_or_default};
    pub use crate::session::random_id;
}

/// The demo app, configured from `Rocket.toml`, `ROCKET_*` and `OIDC_*` variables.
///
/// Unlike [`rocket_with`], it starts without a `secret_key` in release builds too: it then
/// uses a random key and says so, because the demo must run with a bare
/// `cargo run --release`. Sessions then end when the process does; set
/// `ROCKET_SECRET_KEY` for anything real (and for several instances behind one URL).
pub fn rocket() -> Rocket<Build> {
    let figment = figment();
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
    let random = session::random_id(); // 32 random bytes, base64url
    STANDARD.encode(URL_SAFE_NO_PAD.decode(random).unwrap_or_default())
}

/// Rocket's default figment plus `OIDC_<KEY>` environment overrides of `[default.oidc]`.
pub fn figment() -> Figment {
    rocket::Config::figment()
        .merge(Env::prefixed("OIDC_").map(|key| format!("oidc.{key}").into()).global())
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
    RedactingLogger::new(logging::level_for(level)).install();
    rocket::custom(figment)
        // First: the recorder is then installed when the key fairing loads the keys.
        .attach(MetricsEndpoint)
        .attach(OidcFairing)
        .attach(SignIn)
        .attach(rocket_dyn_templates::Template::fairing())
        .attach(SecurityHeaders)
        .register("/", catchers())
        .mount("/", api_routes())
        .mount("/", page_routes())
        .mount("/", routes::notes::routes())
        .manage(routes::notes::Notes::default())
}
