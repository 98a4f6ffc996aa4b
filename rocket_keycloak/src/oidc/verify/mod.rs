//! Verification: [`Oidc`], the provider state (configuration, key store, the rules of each
//! token kind, the verified-token cache), and the checks of access and logout tokens.
//!
//! Every token this crate accepts passes through [`Oidc::verify`]: format, key lookup by
//! `kid`, then the rules of its [`TokenKind`](crate::oidc::tokens::TokenKind). Access tokens also go through the
//! verified-token cache ([`super::cache`]), so a token's signature is checked once.
//!
//! Several realms (`oidc.issuers`): each [`Realm`](realm::Realm) has its own keys, access-token rules and
//! verified-token cache. An access token goes to the realm its unverified `iss` names,
//! before any cache lookup or network call, so a token naming an unlisted issuer costs
//! nothing but its refusal (`WrongIssuer`), and one realm's key rotation never touches
//! another's cache. With one realm nothing is routed: the hot path reads no payload. ID and
//! logout tokens, and the browser sign-in, belong to the first realm.
//!
//! | file | holds | feature |
//! |---|---|---|
//! | `error.rs` | [`VerifyError`] | always |
//! | `provider.rs` | [`Oidc`]: the provider state, access tokens, DPoP proofs | always |
//! | `introspected.rs` | which access tokens go to introspection, and its verdict (`oidc/introspect/`) | always |
//! | `realm.rs` | one accepted realm: its keys, rules and cache | always |
//! | `sign_in.rs` | ID and logout tokens, the metadata the sign-in needs | `sign-in` |
//!
//! The errors are this layer's own ([`VerifyError`]): whether a refusal becomes a 401, a
//! 503 or a failed sign-in is for the layers above to say.

mod error;
mod introspected;
mod provider;
mod realm;
#[cfg(feature = "sign-in")]
mod sign_in;

pub use error::VerifyError;
pub use provider::Oidc;
#[cfg(feature = "sign-in")]
pub(crate) use sign_in::LogoutTarget;
