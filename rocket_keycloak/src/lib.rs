//! Keycloak sign-in and role-based authorization for [Rocket](https://rocket.rs): request
//! guards that validate a bearer token (or a browser session) against the realm's keys, a
//! fairing that keeps those keys fresh, RFC 6750 errors, and the browser sign-in.
//!
//! The README (the crate's front page) has the quick start, the features and the
//! configuration; this page is the map for whoever reads or changes the code.
//!
//! # Features
//! | feature | default | what it adds |
//! |---|---|---|
//! | `aws-lc` / `rust-crypto` | `aws-lc` | the signature backend (exactly one) |
//! | `sign-in` | yes | [`SignIn`]: `/login`, `/authorize`, `/logout`, `/backchannel-logout`, sessions |
//! | `dpop` | yes | DPoP-bound tokens (RFC 9449), `RequireDpop` |
//! | `redis` | no | `RedisStore`, sessions shared by several instances |
//! | `metrics` | no | `MetricsEndpoint`, the Prometheus exporter |
//! | `tera` | no | [`ErrorPages::tera`]-style pages in the app's own templates |
//! | `testing` | no | internals for this project's tests; not a stable API |
//!
//! Without `sign-in` there is no session to fall back on; without `dpop` a DPoP-bound token
//! and the `DPoP` scheme are refused. Configuration that needs a missing feature (`dpop =
//! "required"`, a `redis://` store) fails launch naming the feature.
//!
//! # Architecture
//! Layers that only point down (`scripts/check-modules` fails the build on a cycle, and on a
//! file over 400 lines):
//!
//! ```text
//! routes          auth (SignIn), metrics                src/routes/
//! guards          AuthenticatedUser, RequireRole,       src/guards/
//!                 RequireAcr (step-up), RequireDpop,
//!                 RequireOrganization, OrgMember
//! HTTP boundary   AuthError, catchers, pages,           src/error/, pages.rs, security.rs,
//!                 SecurityHeaders, RedactingLogger      logging.rs
//! sessions        Sessions, SessionStore, MemoryStore   src/session/
//! sign-in client  SignInClient (code flow, refresh)     src/oidc/client.rs
//! verification    Oidc (one Realm per issuer),          src/oidc/verify/, fairing.rs, cache.rs,
//!                 OidcFairing, token cache, DPoP        dpop/
//! key store       KeyStore, KeySource; HTTP fetch       src/oidc/keystore.rs, fetch.rs
//! pure rules      TokenRules, KeySet, metadata          src/oidc/tokens.rs, jwks.rs, discovery.rs
//! base            OidcConfig, Identity, clock,          src/config/, identity.rs, clock.rs,
//!                 levels of assurance, metric names     assurance.rs, telemetry.rs
//! ```
//!
//! - [`OidcFairing`] reads the `oidc` configuration ([`OidcConfig`]), discovers the realm
//!   and loads its JWKS at ignite, and keeps the keys fresh in a background task.
//! - The guards [`AuthenticatedUser`] and [`RequireRole`] validate the request's
//!   credentials against those keys (`src/oidc/tokens.rs` holds every rule) and hand
//!   handlers an [`Identity`].
//! - A failing guard records an [`AuthError`]; the [`catchers()`] render it as an RFC 6750
//!   response (`WWW-Authenticate`, [`ErrorBody`]), an [`ErrorPage`] for browsers (built-in
//!   HTML, or the app's own through [`ErrorPages`]), or a redirect to the sign-in for pages.
//! - The browser sign-in: [`SignIn`] mounts the routes (login, callback, logout,
//!   back-channel logout) where the app says, which talk to Keycloak through the sign-in
//!   client; [`Sessions`] keep the tokens server-side and refresh them;
//!   [`SecurityHeaders`] sets the browser security headers; [`RedactingLogger`] keeps
//!   credentials out of the log (Rocket's request lines carry the callback's `code` and
//!   `state`), and [`SignIn`] refuses to launch in an app that logs without it.
//! - Accepted tokens are remembered in a verified-token cache, so a signature is verified
//!   once.
//! - The library knows no route or page of the app: where the sign-in lands is
//!   [`SignIn`]'s setting, and the demo app (the workspace's top level) is a user like any
//!   other.
//!
//! # Request flow
//! `Authorization: Bearer <jwt>` → header parsed → (several realms: the realm its `iss`
//! names) → verified-token cache (hit: time rules only) → size and shape checked → key looked
//! up by `kid` (one rate-limited refetch if unknown) → signature, `iss`, `aud`, `typ`, times
//! → [`Identity`], cached for the request. A DPoP-bound token must come as
//! `Authorization: DPoP <jwt>` with a `DPoP` proof, checked after the token and spent once
//! (`src/oidc/dpop/`). Without an `Authorization` header, the session cookie is looked up
//! instead (refreshing the tokens first when they are about to expire). Role, level and
//! organization guards ([`RequireRole`], [`RequireAcr`], [`RequireOrganization`],
//! [`OrgMember`]) then check the identity.
//!
//! # Keying your data
//! A subject (`sub`) is unique only within its issuer: with several realms, key what belongs
//! to a user by the issuer and the subject together ([`Identity::subject_key`]).

// The public surface is chosen below; a `pub` item nobody outside can reach would be a
// visibility that says more than it means. Items for the project's own tests are `pub` for
// the `testing` module, so the lint speaks in that build (CI's clippy runs it).
#![cfg_attr(feature = "testing", warn(unreachable_pub))]

#[cfg(all(feature = "aws-lc", feature = "rust-crypto"))]
compile_error!("enable exactly one crypto backend: `aws-lc` (default) or `rust-crypto`");
#[cfg(not(any(feature = "aws-lc", feature = "rust-crypto")))]
compile_error!("enable a crypto backend: `aws-lc` (default) or `rust-crypto`");

// The layers, lowest first; each module uses only the ones above it in this list
// (`scripts/check-modules` fails the build on a cycle).
mod assurance;
mod catchers;
mod clock;
mod config;
mod error;
mod guards;
mod identity;
mod logging;
mod oidc;
mod pages;
mod protocol;
mod routes;
mod security;
#[cfg(feature = "sign-in")]
mod session;
mod telemetry;

use rocket::figment::Figment;
use rocket::figment::providers::Env;

pub use assurance::{AcrLevels, Assurance, Shortfall};
pub use catchers::{catchers, default_catchers};
pub use config::{
    ClientSecret, ConfigError, DEFAULT_ALGORITHMS, DpopPolicy, IntrospectionConfig,
    IntrospectionMode, MetricsConfig, OidcConfig, RealmConfig, ResourceMetadata,
    SessionStoreConfig,
};
pub use config::{DeploymentConfig, LogFormat, TlsRoots, TlsTrust};
pub use error::{AuthError, ErrorBody};
#[cfg(feature = "dpop")]
pub use guards::RequireDpop;
pub use guards::{
    AuthenticatedUser, CSRF_HEADER, Level, MaybeUser, OrgMember, Organization, PageAcr, PageUser,
    RequireAcr, RequireOrganization, RequireRole, Role, RoleKind, Scheme,
};
pub use identity::{
    Claims, Confirmation, Identity, MAX_ALIAS_CHARS, MAX_ORGANIZATIONS, Membership, Roles,
};
pub use logging::RedactingLogger;
pub use oidc::dpop::{MAX_PROOFS_PER_KEY, ProofUse, SpentProof};
pub use oidc::{DpopError, Oidc, OidcFairing, TokenError, VerifyError};
pub use pages::{ErrorPage, ErrorPages, SignedIn};
pub use protocol::{ClientId, Issuer, SessionId, Subject};
#[cfg(feature = "metrics")]
pub use routes::MetricsEndpoint;
#[cfg(feature = "sign-in")]
pub use routes::SignIn;
pub use security::{NoStore, SecurityHeaders};
#[cfg(feature = "redis")]
pub use session::RedisStore;
#[cfg(feature = "sign-in")]
pub use session::{
    MemoryStore, SECURE_SESSION_COOKIE, SESSION_COOKIE, Session, SessionError, SessionStore,
    Sessions, StoreError, session_cookie_name,
};

// The README's examples are compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// What the project's benches, fuzz targets and tests reach into; not a stable API.
#[cfg(feature = "testing")]
pub mod testing {
    pub use crate::guards::authorization_token;
    pub use crate::oidc::cache::{Accepted, TokenCache, digest};
    #[cfg(feature = "dpop")]
    pub use crate::oidc::dpop::{CheckedProof, ProofRules, ProofTarget, ReplayCache, thumbprint};
    pub use crate::oidc::jwks::KeySet;
    pub use crate::oidc::tokens::{TokenKind, TokenRules};
    #[cfg(feature = "sign-in")]
    pub use crate::routes::auth::{LoginState, local_path_or_default};
    #[cfg(feature = "sign-in")]
    pub use crate::session::random_id;
}

/// Rocket's default figment plus `OIDC_<KEY>` environment overrides of `[default.oidc]`.
///
/// One variable points an app at another Keycloak: when `OIDC_ISSUER` names another issuer
/// than the first of the files' `issuers` and `OIDC_ISSUERS` is not set, that list is
/// replaced by `OIDC_ISSUER` alone, since it names the realms of the issuer being replaced.
/// (`OIDC_ISSUER` equal to the files' first issuer changes nothing.) Setting both so that
/// they disagree is still refused at launch ([`ConfigError`] names `oidc.issuers`).
pub fn figment() -> Figment {
    figment_from(rocket::Config::figment(), Env::prefixed("OIDC_"))
}

/// [`figment()`] over any base and environment provider (the tests pass their own).
fn figment_from(base: Figment, env: Env) -> Figment {
    let value_of = |name: &'static str| env.clone().filter(move |key| key == name).iter().next();
    let files_first_issuer = base.find_value("oidc.issuers").ok().and_then(|list| {
        let first = list.into_array()?.into_iter().next()?;
        match first.as_str() {
            Some(issuer) => Some(issuer.to_owned()),
            None => first.into_dict()?.remove("issuer")?.into_string(),
        }
    });
    let figment = base.merge(env.clone().map(|key| format!("oidc.{key}").into()).global());
    match (value_of("issuer"), value_of("issuers"), files_first_issuer) {
        // The files' list named the realms of the issuer being replaced.
        (Some((_, issuer)), None, Some(first)) if issuer != first => {
            figment.merge(("oidc.issuers", [issuer]))
        }
        _ => figment,
    }
}

#[cfg(test)]
// figment's `Jail` closures return figment's own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    const FILES: &str = r#"
        [default.oidc]
        issuer = "http://localhost:8080/realms/demo"
        issuers = ["http://localhost:8080/realms/demo", "http://localhost:8080/realms/partner"]
        client_id = "demo-app"
    "#;

    #[test]
    fn oidc_issuer_alone_points_the_app_at_another_keycloak() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("Rocket.toml", FILES)?;
            let files = OidcConfig::from_figment(&figment()).expect("the files' two realms");
            assert_eq!(files.realms.len(), 2);
            jail.set_env("OIDC_ISSUER", "https://kc.example/realms/other");
            let config = OidcConfig::from_figment(&figment()).expect("one variable is enough");
            assert_eq!(config.issuer, "https://kc.example/realms/other");
            let issuers: Vec<_> = config.realms.iter().map(|r| r.issuer.as_str()).collect();
            assert_eq!(issuers, ["https://kc.example/realms/other"]);
            // The files' own issuer again (as scripts/dev sets it): both realms stay.
            jail.set_env("OIDC_ISSUER", "http://localhost:8080/realms/demo");
            let same = OidcConfig::from_figment(&figment()).expect("the same issuer");
            assert_eq!(same.realms.len(), 2);
            Ok(())
        });
    }

    #[test]
    fn oidc_issuer_and_oidc_issuers_that_disagree_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("Rocket.toml", FILES)?;
            jail.set_env("OIDC_ISSUER", "https://kc.example/realms/other");
            jail.set_env("OIDC_ISSUERS", r#"["https://kc.example/realms/third"]"#);
            let error = OidcConfig::from_figment(&figment()).expect_err("they disagree");
            assert_eq!(error.key, "oidc.issuers");
            jail.set_env("OIDC_ISSUERS", r#"["https://kc.example/realms/other"]"#);
            assert!(OidcConfig::from_figment(&figment()).is_ok(), "they agree");
            Ok(())
        });
    }
}
