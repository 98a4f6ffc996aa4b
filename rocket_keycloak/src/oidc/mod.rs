//! The provider: everything between a token and Keycloak.
//!
//! | file | holds | I/O |
//! |---|---|---|
//! | [`tokens`] | the rules every token must pass ([`tokens::TokenRules`], [`tokens::TokenKind`]) | none |
//! | [`jwks`] | which published keys may verify ([`jwks::KeySet`]) | none |
//! | [`discovery`] | the realm's metadata document | none |
//! | [`keystore`] | the current keys and the single-flight, rate-limited refetch | through a [`keystore::KeySource`] |
//! | [`fetch`] | the HTTP client and [`fetch::ProviderDocuments`], the real key source | network |
//! | [`cache`] | the verified-token cache | none |
//! | [`dpop`] | the checks of DPoP proofs and their in-process replay cache | none |
//! | [`verify`] | [`Oidc`]: the provider state and the checks of access and logout tokens | through the key store |
//! | [`introspect`] | the introspection of lightweight or opaque tokens (RFC 7662), its cache and single flight | network |
//! | [`client`] | [`SignInClient`]: the browser flow's calls to Keycloak | network |
//! | [`callback`] | the checks of the sign-in callback and of a step-up's result | none |
//! | [`fairing`] | [`OidcFairing`]: configuration at ignite, the key refresh task | network |
//! | `resource.rs` | `GET /.well-known/oauth-protected-resource` (RFC 9728), mounted by the fairing | none |
//!
//! # Failure policy (decisions)
//! - **Keycloak down at start does not stop the app.** At ignite the fairing checks the
//!   configuration (a bad value fails launch, naming the key) and makes one bounded attempt
//!   to load metadata and keys. If Keycloak is unreachable the app launches anyway: `/health`
//!   works, `/ready` answers 503, and any request that needs a key gets **503 with
//!   `Retry-After`**, not 401, because the token may well be valid. A background task
//!   retries with capped exponential backoff (0.5 s doubling to 30 s).
//! - **Keycloak down later does not take the API down.** A failed refresh keeps the last
//!   good key set; tokens signed with known keys keep validating.
//! - **Unknown `kid`s are rate limited and single-flight.** A token naming a key we do not
//!   have triggers at most one refetch per `jwks_min_refresh_interval`, and every request
//!   waiting for that key waits on the same fetch. A flood of random `kid`s costs Keycloak
//!   at most one request per interval. Inside the interval the next refetch is scheduled
//!   for its end rather than refused: otherwise a flood of bogus `kid`s would keep the slot
//!   busy and a genuinely rotated-in key would be refused (the soak test found this).
//! - **Unknown `kid`s park few requests.** Only a small fixed number of requests wait for
//!   that refetch; the others are answered at once: **401** when the `kid` is certainly
//!   unknown (the token cannot pass anyway, or a load that started after the token was
//!   issued did not have the key), else **503 with `Retry-After`**, because the key may
//!   still appear. A flood of random `kid`s cannot hold hundreds of connections open;
//!   `keystore.rs` says how.
//! - **No lock is held across a network call.** Key sets are swapped atomically
//!   ([`arc_swap`]); the refresh bookkeeping is a mutex held for a few instructions.
//! - The HTTP client has connect and total timeouts, follows no redirects, and documents
//!   are capped at [`fetch::MAX_DOCUMENT_BYTES`].
//! - The errors of this layer are its own ([`VerifyError`], [`FlowError`], [`fetch::FetchError`]);
//!   the HTTP boundary maps them to statuses.

pub(crate) mod cache;
#[cfg(feature = "sign-in")]
pub(crate) mod callback;
#[cfg(feature = "sign-in")]
pub(crate) mod client;
pub(crate) mod discovery;
pub(crate) mod dpop;
pub(crate) mod fairing;
pub(crate) mod fetch;
pub(crate) mod introspect;
pub(crate) mod jwks;
pub(crate) mod keystore;
mod resource;
pub(crate) mod tokens;
pub(crate) mod verify;

#[cfg(feature = "sign-in")]
pub(crate) use callback::{AuthorizationResponse, IssParameter, Refusal};
#[cfg(feature = "sign-in")]
pub(crate) use client::{FlowError, SignInClient, Tokens};
pub use dpop::DpopError;
pub use fairing::OidcFairing;
pub use tokens::TokenError;
#[cfg(feature = "sign-in")]
pub(crate) use verify::LogoutTarget;
pub use verify::{Oidc, VerifyError};
