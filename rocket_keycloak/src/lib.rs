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
// visibility that says more than it means. Items for the project's own tests are `pub` for
// the `testing` module, so the lint speaks in that build (CI's clippy runs it).
#![cfg_attr(feature = "testing", warn(unreachable_pub))]
#![cfg_attr(docsrs, feature(doc_cfg))]

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
mod pages;
mod routes;
mod security;
#[cfg(feature = "sign-in")]
mod session;
mod telemetry;

use rocket::figment::Figment;
use rocket::figment::providers::Env;

pub use assurance::{AcrLevels, Assurance, Shortfall};
pub use config::{
    ClientSecret, ConfigError, DEFAULT_ALGORITHMS, DpopPolicy, MetricsConfig, OidcConfig,
    SessionStoreConfig,
};
pub use error::{AuthError, ErrorBody, catchers, default_catchers};
#[cfg(feature = "dpop")]
pub use guards::RequireDpop;
pub use guards::{
    AuthenticatedUser, CSRF_HEADER, Level, MaybeUser, PageAcr, PageUser, RequireAcr, RequireRole,
    Role, RoleKind, Scheme,
};
pub use identity::{Claims, Confirmation, Identity, Roles};
pub use logging::RedactingLogger;
pub use oidc::{DpopError, Oidc, OidcFairing, TokenError, VerifyError};
pub use pages::{ErrorPage, ErrorPages};
#[cfg(feature = "metrics")]
pub use routes::MetricsEndpoint;
#[cfg(feature = "sign-in")]
pub use routes::SignIn;
pub use security::{NoStore, SecurityHeaders};
#[cfg(feature = "redis")]
pub use session::RedisStore;
#[cfg(feature = "sign-in")]
pub use session::{
    MemoryStore, SESSION_COOKIE, Session, SessionError, SessionStore, Sessions, StoreError,
};

/// What the project's benches, fuzz targets and tests reach into; not a stable API.
#[cfg(feature = "testing")]
pub mod testing {
    pub use crate::guards::authorization_token;
    pub use crate::oidc::cache::{Accepted, TokenCache, digest};
    #[cfg(feature = "dpop")]
    pub use crate::oidc::dpop::{CheckedProof, ProofRules, ProofTarget, thumbprint};
    pub use crate::oidc::jwks::KeySet;
    pub use crate::oidc::tokens::{TokenKind, TokenRules};
    #[cfg(feature = "sign-in")]
    pub use crate::routes::auth::{LoginState, local_path_or_default};
    #[cfg(feature = "sign-in")]
    pub use crate::session::random_id;
}

/// Rocket's default figment plus `OIDC_<KEY>` environment overrides of `[default.oidc]`.
///
/// One variable points an app at another Keycloak: when `OIDC_ISSUER` is set and
/// `OIDC_ISSUERS` is not, the `issuers` list of `Rocket.toml` is dropped, since it names
/// the realms of the issuer being replaced. Setting both so that they disagree is still
/// refused at launch ([`ConfigError`] names `oidc.issuers`).
pub fn figment() -> Figment {
    figment_from(rocket::Config::figment(), Env::prefixed("OIDC_"))
}

/// [`figment()`] over any base and environment provider (the tests pass their own).
fn figment_from(base: Figment, env: Env) -> Figment {
    let value_of = |name: &'static str| env.clone().filter(move |key| key == name).iter().next();
    let figment = base.merge(env.clone().map(|key| format!("oidc.{key}").into()).global());
    match (value_of("issuer"), value_of("issuers")) {
        // The files' list named the realms of the issuer being replaced.
        (Some((_, issuer)), None) => figment.merge(("oidc.issuers", [issuer])),
        _ => figment,
    }
}
