//! The test kit of `rocket_keycloak`: fixture signing keys ([`TestKey`]), a minter for
//! Keycloak-shaped tokens ([`mint`], [`access_claims`], ...), an in-process identity provider
//! ([`Idp`]) for the integration tests and benches, the static bench IdP ([`bench_idp`])
//! that `scripts/bench` and `scripts/soak` run, and the end-to-end kit for tests against a
//! real Keycloak ([`keycloak`], [`browser`]), [`prometheus`] to read `/metrics`, and [`child`]
//! to run a test in a process of its own. One copy, used by the tests, the benches, the
//! `bench_idp` example and the fuzz targets.
//!
//! Decisions:
//! - **No dependency on `rocket_keycloak`.** The library dev-depends on this crate; the other
//!   direction would be a cycle. The kit therefore knows Keycloak's wire formats (discovery,
//!   JWKS, token endpoint, claim sets), never the library's types: the library under test is
//!   the only judge of the tokens minted here. The end-to-end kit takes the app factory
//!   (`rocket_keycloak_demo::rocket_with`) as an argument for the same reason.
//! - **No crypto backend of its own.** jsonwebtoken's backend comes from the crate under test
//!   through feature unification (see `Cargo.toml`). Built alone, the kit cannot sign or even
//!   derive a JWK; its own unit tests stay away from both.
//! - **A hand-written HTTP server for the IdP**, not a web framework: it must stop and resume
//!   on the same port (Keycloak going away and coming back), misbehave at the byte level
//!   (garbage, huge bodies, delays), and count its hits; a hundred lines of tokio do that and
//!   keep the kit small.
//! - **Dev-only**: `publish = false`, and nothing in the library's normal dependencies.

pub mod app;
pub mod bench_idp;
pub mod browser;
pub mod child;
pub mod dpop;
pub mod idp;
pub mod keycloak;
pub mod keys;
pub mod prometheus;
pub mod tls_idp;
pub mod tokens;

pub use app::{figment_for, get_with_token};
pub use idp::{Idp, Mode, REALM};
pub use keys::TestKey;
pub use tls_idp::TlsIdp;
pub use tokens::{
    access_claims, alg_name, b64, bench_access_claims, bench_user_claims, id_claims, mint,
    mint_with_header, now, token_response,
};
