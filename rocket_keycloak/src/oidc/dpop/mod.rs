//! DPoP proofs (RFC 9449): the checks a resource server makes on the `DPoP` header of a
//! request that presents a DPoP-bound access token, without I/O, and the in-process cache
//! that makes each proof single-use.
//!
//! The checks of §4.3, in order of cost (cheap refusals first, the signature last), mirrored
//! by [`ProofRules::check`]:
//! 1. at most [`MAX_PROOF_BYTES`], a JWS in compact form (three base64url parts);
//! 2. header `typ` is `dpop+jwt`; no `jku`, `x5u`, `x5c`, `kid` or `crit` (the key is the
//!    `jwk`, nothing else);
//! 3. header `jwk` is a public key (`kty` `RSA`, `EC` (P-256, P-384) or `OKP` (Ed25519), no
//!    private member (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`), every member a base64url
//!    string) whose RFC 7638 thumbprint equals the token's `cnf.jkt`: a proof by any other
//!    key costs no signature check;
//! 4. header `alg` is in the configured allow-list (asymmetric only, like access tokens) and
//!    fits the key's type: the proof never signs with `none` or `HS*`;
//! 5. `htm` equals the request's method, `htu` the request's URL (`app_url` plus the path),
//!    both compared without query and fragment, scheme and host case-insensitively, default
//!    ports dropped;
//! 6. `iat` at most [`PROOF_MAX_AGE`] seconds ago and at most [`PROOF_MAX_FUTURE`] ahead;
//!    `jti` present, at most [`MAX_JTI_BYTES`];
//! 7. `ath` is the base64url SHA-256 of the access token;
//! 8. the signature verifies with that key. The claims of 5–7 were read before it, but
//!    nothing is accepted until it passes.
//!
//! The caller then spends the `jti` (a replay is refused): in a shared session store when the
//! app has one that several instances share, else in [`ReplayCache`].
//!
//! Decisions:
//! - **Server nonces (§8) are not supported**: the `iat` window and the single-use `jti` bound
//!   a stolen proof to one use within a minute, and a nonce round trip would cost every
//!   client an extra request. A proof carrying a `nonce` is accepted like any other.
//! - **The replay cache fails closed.** It holds at most [`MAX_REMEMBERED_PROOFS`] live
//!   proofs; when it is full of live ones, a new proof is refused (the request gets a 503
//!   with `Retry-After`) rather than forgetting one that could then be replayed.
//! - The thumbprint is computed here, from the members as JSON strings (RFC 7638 §3), not by
//!   formatting untrusted values into a template.
//!
//! | file | holds | feature |
//! |---|---|---|
//! | `mod.rs` | [`DpopError`], the limits | always (a build without DPoP still names its refusals) |
//! | `proof.rs` | `ProofRules`, the checks 1–8 | `dpop` |
//! | `replay.rs` | `ReplayCache`, the in-process single use | `dpop` |
//!
//! Without the `dpop` feature no proof is ever checked: a DPoP-bound token is refused
//! (`TokenError::DpopBound`), and so is the `DPoP` scheme.

#[cfg(feature = "dpop")]
mod proof;
#[cfg(feature = "dpop")]
mod replay;

#[cfg(all(feature = "dpop", feature = "testing"))]
pub use proof::thumbprint;
#[cfg(feature = "dpop")]
pub use proof::{CheckedProof, ProofRules, ProofTarget};
#[cfg(feature = "dpop")]
pub(crate) use replay::{FirstUse, ReplayCache};

/// Proofs longer than this are refused before parsing (a proof with an RSA-4096 key is
/// about 1.5 KiB).
#[cfg(feature = "dpop")]
pub(crate) const MAX_PROOF_BYTES: usize = 8 * 1024;
/// The oldest `iat` accepted, in seconds before now.
#[cfg(feature = "dpop")]
pub(crate) const PROOF_MAX_AGE: u64 = 60;
/// The latest `iat` accepted, in seconds after now (clock skew).
#[cfg(feature = "dpop")]
pub(crate) const PROOF_MAX_FUTURE: u64 = 5;
/// The longest `jti` accepted.
#[cfg(feature = "dpop")]
pub(crate) const MAX_JTI_BYTES: usize = 256;
/// Live proofs the in-process replay cache holds at most (about 40 MiB when full).
#[cfg(feature = "dpop")]
pub(crate) const MAX_REMEMBERED_PROOFS: usize = 1_000_000;

/// Why a DPoP proof was refused. The `Display` text is the public `error_description`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DpopError {
    /// `Authorization: DPoP` without a `DPoP` header, or with several.
    MissingProof,
    /// Not a compact JWS within the size limit, or unreadable.
    Malformed,
    /// The header's `typ` is not `dpop+jwt`, or it names its key another way.
    Header,
    /// The `jwk` is missing, private, symmetric or of an unsupported type.
    Key,
    /// `alg` is not allowed or does not fit the key.
    Algorithm,
    /// The signature does not verify with the `jwk`.
    Signature,
    /// `htm` is not this request's method.
    Method,
    /// `htu` is not this request's URL.
    Uri,
    /// `iat` is missing, too old or in the future.
    Time,
    /// `jti` is missing or too long.
    Id,
    /// `ath` is missing or not the hash of the access token.
    AccessTokenHash,
    /// The key is not the one the access token is bound to.
    KeyBinding,
    /// This proof was used before.
    Replayed,
}

impl std::fmt::Display for DpopError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::MissingProof => "Send exactly one DPoP proof header",
            Self::Malformed => "The DPoP proof is malformed",
            Self::Header => "The DPoP proof header is not acceptable",
            Self::Key => "The DPoP proof key is not an acceptable public key",
            Self::Algorithm => "The DPoP proof algorithm is not allowed",
            Self::Signature => "The DPoP proof signature is invalid",
            Self::Method => "The DPoP proof is for another method",
            Self::Uri => "The DPoP proof is for another URL",
            Self::Time => "The DPoP proof is too old or not valid yet",
            Self::Id => "The DPoP proof has no usable jti",
            Self::AccessTokenHash => "The DPoP proof does not match the access token",
            Self::KeyBinding => "The DPoP proof key is not the one the token is bound to",
            Self::Replayed => "The DPoP proof was already used",
        })
    }
}

impl std::error::Error for DpopError {}

impl DpopError {
    /// The `reason` label of `rocket_keycloak_dpop_rejections_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MissingProof | Self::Malformed | Self::Header => "malformed",
            Self::Key | Self::Algorithm => "key",
            Self::Signature => "signature",
            Self::Method | Self::Uri => "target",
            Self::Time | Self::Id => "time",
            Self::AccessTokenHash | Self::KeyBinding => "binding",
            Self::Replayed => "replayed",
        }
    }
}
