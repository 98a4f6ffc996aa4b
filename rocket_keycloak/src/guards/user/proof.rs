//! The caller of a DPoP request: a bound token and a fresh, first-used proof of its key.

use std::sync::Arc;

use rocket::Request;

use super::credentials::only_header;
use crate::clock::unix_now;
use crate::error::AuthError;
use crate::identity::Identity;
use crate::oidc::dpop::{ProofTarget, ProofUse};
use crate::oidc::{DpopError, Oidc, TokenError};
#[cfg(feature = "sign-in")]
use crate::session::Sessions;
use crate::telemetry;

/// The caller of a request with `Authorization: DPoP <token>`: the token must be bound to a
/// key, and the request's one `DPoP` header a fresh, first-used proof of that key for this
/// request (`oidc/dpop/`). Proofs are spent in the shared session store when there is
/// one, so a proof replayed to another instance is refused too.
pub(super) async fn dpop_identity(
    request: &Request<'_>,
    oidc: &Oidc,
    token: &str,
) -> Result<Arc<Identity>, AuthError> {
    // The token's SHA-256 comes back with it: the proof's `ath` is that same hash.
    let (identity, token_hash) = oidc.validate_keyed(token).await?;
    let Some(jkt) = identity.dpop_jkt.as_deref() else {
        return Err(AuthError::InvalidToken(TokenError::NotDpopBound));
    };
    let refused = |error: DpopError| {
        telemetry::dpop_proof(error.reason());
        AuthError::InvalidDpopProof(error)
    };
    let proof = only_header(request, "DPoP").ok().flatten();
    let proof = proof.ok_or_else(|| refused(DpopError::MissingProof))?;
    let target =
        ProofTarget { method: request.method().as_str(), path: request.uri().path().as_str() };
    let checked = oidc.check_dpop_proof(proof, &token_hash, jkt, target).map_err(refused)?;
    let now = unix_now();
    let spent = checked.to_spend(now, oidc.config().dpop_proofs_per_key);
    // The shared store's record when there is one (several instances), else this process's.
    #[cfg(feature = "sign-in")]
    let shared = match request.rocket().state::<Sessions>() {
        Some(sessions) => sessions.first_use_of_proof(&spent).await?,
        None => None,
    };
    #[cfg(feature = "sign-in")]
    let used = shared.unwrap_or_else(|| oidc.proofs_seen().first_use(&spent, now));
    #[cfg(not(feature = "sign-in"))]
    let used = oidc.proofs_seen().first_use(&spent, now);
    match used {
        ProofUse::First => {}
        ProofUse::Replayed => return Err(refused(DpopError::Replayed)),
        ProofUse::KeyOverQuota => {
            telemetry::dpop_proof("key_over_quota");
            return Err(AuthError::ProofsUnavailable);
        }
        _ => {
            telemetry::dpop_proof("record_full");
            return Err(AuthError::ProofsUnavailable);
        }
    }
    telemetry::dpop_proof("ok");
    Ok(identity)
}
