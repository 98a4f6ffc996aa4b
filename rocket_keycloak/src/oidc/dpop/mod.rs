//! DPoP proofs (RFC 9449): the checks a resource server makes on the `DPoP` header of a
//! request that presents a DPoP-bound access token, without I/O, and the in-process cache
//! that makes each proof single-use.
//!
//! The checks of §4.3, in order of cost (cheap refusals first, the signature last), mirrored
//! by [`ProofRules::check_hashed`]:
//! 1. at most `MAX_PROOF_BYTES`, a JWS in compact form (three base64url parts);
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
//! 6. `iat` at most `PROOF_MAX_AGE` seconds ago and at most `PROOF_MAX_FUTURE` ahead;
//!    `jti` present, at most `MAX_JTI_BYTES`;
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
//! - **Spending a proof fails closed, one key at a time.** A record of spent proofs (the
//!   shared store's or the in-process [`ReplayCache`]) gives each key a quota
//!   ([`MAX_PROOFS_PER_KEY`] live proofs) and has a total bound; past either, a new proof
//!   is refused (the request gets a 503 with `Retry-After`) rather than forgetting one that
//!   could then be replayed. A flood by one key refuses that key only.
//! - The thumbprint is computed here, from the members as JSON strings (RFC 7638 §3), not by
//!   formatting untrusted values into a template.
//!
//! | file | holds | feature |
//! |---|---|---|
//! | `error.rs` | [`DpopError`] | always (a build without DPoP still names its refusals) |
//! | `proof.rs` | `ProofRules`, the checks 1–8, their limits | `dpop` |
//! | `spend.rs` | [`SpentProof`], [`ProofUse`]: what a replay record keeps and finds | always |
//! | `replay.rs` | `ReplayCache`, the in-process single use | `dpop` |
//!
//! Without the `dpop` feature no proof is ever checked: a DPoP-bound token is refused
//! (`TokenError::DpopBound`), and so is the `DPoP` scheme.

mod error;
#[cfg(feature = "dpop")]
mod proof;
#[cfg(feature = "dpop")]
mod replay;
// Named directly by the configuration (its default quota), below every layer that uses it.
pub(crate) mod spend;

pub use error::DpopError;
#[cfg(all(feature = "dpop", feature = "testing"))]
pub use proof::thumbprint;
#[cfg(feature = "dpop")]
pub use proof::{CheckedProof, ProofRules, ProofTarget};
#[cfg(feature = "dpop")]
pub use replay::ReplayCache;
pub use spend::{MAX_PROOFS_PER_KEY, ProofUse, SpentProof};
