//! The caller: [`AuthenticatedUser`] (validated once per request, from a bearer token or
//! the session), the page guards [`PageUser`] and [`MaybeUser`], and the bearer header's
//! parsing.
//!
//! Credentials come from `Authorization: Bearer <token>` (scheme case-insensitive,
//! RFC 7235). The lookup is written as "bearer header, else other sources" so that a
//! browser session can be added as a second source without touching the guards' contract.
//! A token in the query string (`?access_token=`) is deliberately ignored (RFC 6750 §2.3
//! leaks tokens into logs and history).
//!
//! | file | holds | feature |
//! |---|---|---|
//! | `mod.rs` | [`AuthenticatedUser`], the order of the credentials | always |
//! | `credentials.rs` | the `Authorization` header's parsing ([`Scheme`]) | always |
//! | `proof.rs` | a DPoP-bound token's proof and its single use | `dpop` |
//! | `session.rs` | the session cookie and the cross-site request rules | `sign-in` |
//! | `page.rs` | [`PageUser`] and [`MaybeUser`], for HTML pages | always |
//!
//! Without `sign-in` there is no session to fall back on: no `Authorization` header is
//! "no credentials". Without `dpop` the `DPoP` scheme is refused as an unsupported one.

mod credentials;
mod page;
#[cfg(feature = "dpop")]
mod proof;
#[cfg(feature = "sign-in")]
mod session;

use std::ops::Deref;
use std::sync::Arc;

use rocket::Request;
use rocket::request::{FromRequest, Outcome};

use crate::config::DpopPolicy;
use crate::error::{AuthError, Refusal};
use crate::identity::Identity;
use crate::oidc::{Oidc, TokenError};
use crate::telemetry;

pub use credentials::{Scheme, authorization_token};
pub use page::{MaybeUser, PageUser};

/// The request header that carries the session's CSRF token.
pub const CSRF_HEADER: &str = "X-CSRF-Token";

/// An authenticated caller. Dereferences to [`Identity`].
#[derive(Debug, Clone)]
pub struct AuthenticatedUser(Arc<Identity>);

impl AuthenticatedUser {
    /// The identity, shared.
    pub fn identity(&self) -> &Arc<Identity> {
        &self.0
    }
}

impl Deref for AuthenticatedUser {
    type Target = Identity;
    fn deref(&self) -> &Identity {
        &self.0
    }
}

/// Records `error` for the catchers and fails the guard with its status.
pub(super) fn fail<T>(request: &Request<'_>, error: AuthError) -> Outcome<T, AuthError> {
    error.record(request);
    Outcome::Error((error.status(), error))
}

/// Fails a guard that checks more than authentication (a role, a level) after the caller
/// was authenticated: the metrics count the request under this refusal, not as `ok`.
pub(super) fn refuse<T>(request: &Request<'_>, error: AuthError) -> Outcome<T, AuthError> {
    telemetry::AuthOutcome::of(request).refine(error.outcome());
    fail(request, error)
}

/// The request's caller for a guard built on [`AuthenticatedUser`]; `Err` is that guard's
/// outcome when authentication failed or forwarded.
pub(super) async fn caller<T>(
    request: &Request<'_>,
) -> Result<AuthenticatedUser, Outcome<T, AuthError>> {
    match <&AuthenticatedUser>::from_request(request).await {
        Outcome::Success(user) => Ok(user.clone()),
        Outcome::Error(e) => Err(Outcome::Error(e)),
        Outcome::Forward(s) => Err(Outcome::Forward(s)),
    }
}

/// The per-request result, cached so the credentials are validated once.
struct Authentication(Result<AuthenticatedUser, AuthError>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for &'r AuthenticatedUser {
    type Error = AuthError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, AuthError> {
        let cached = request
            .local_cache_async(async {
                Authentication(authenticate(request).await.map(AuthenticatedUser))
            })
            .await;
        match &cached.0 {
            Ok(user) => Outcome::Success(user),
            Err(error) => fail(request, error.clone()),
        }
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for AuthenticatedUser {
    type Error = AuthError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, AuthError> {
        <&AuthenticatedUser>::from_request(request).await.map(Clone::clone)
    }
}

/// [`authenticate_once`] with its outcome kept for the metrics (counted as the response
/// leaves, so a later role refusal can still refine it).
async fn authenticate(request: &Request<'_>) -> Result<Arc<Identity>, AuthError> {
    let started = std::time::Instant::now();
    // Looked up once: the metrics' source and the credentials come from the same values.
    let mut authorization = request.headers().get("Authorization").peekable();
    let source = if authorization.peek().is_some() {
        telemetry::Source::Bearer
    } else {
        telemetry::Source::Session
    };
    let result = authenticate_once(request, authorization).await;
    let outcome = match &result {
        Ok(_) => "ok",
        Err(error) => error.outcome(),
    };
    telemetry::AuthOutcome::of(request).authenticated(source, outcome, started.elapsed());
    result
}

async fn authenticate_once<'r>(
    request: &'r Request<'_>,
    authorization: impl Iterator<Item = &'r str>,
) -> Result<Arc<Identity>, AuthError> {
    let Some(oidc) = request.rocket().state::<Oidc>() else {
        log::error!("rocket_keycloak: OidcFairing is not attached; refusing all credentials");
        return Err(AuthError::Unavailable);
    };
    let presented = authorization_token(authorization);
    let dpop_required = oidc.config().dpop == DpopPolicy::Required;
    if cfg!(feature = "dpop") && (dpop_required || matches!(presented, Ok(Some((Scheme::Dpop, _)))))
    {
        Refusal::of(request).challenge_dpop();
    }
    // An Authorization header wins: an API client's explicit credential is never mixed
    // with a browser session that happens to ride along.
    match presented? {
        Some((Scheme::Bearer, token)) => {
            let identity = oidc.validate_access_token(token).await?;
            if identity.dpop_jkt.is_some() {
                // A bound token without its proof: stolen, or a confused client.
                return Err(AuthError::InvalidToken(TokenError::DpopBound));
            }
            if dpop_required {
                return Err(AuthError::InvalidToken(TokenError::NotDpopBound));
            }
            return Ok(identity);
        }
        #[cfg(feature = "dpop")]
        Some((Scheme::Dpop, token)) => {
            return Box::pin(proof::dpop_identity(request, oidc, token)).await;
        }
        #[cfg(not(feature = "dpop"))]
        Some((Scheme::Dpop, _)) => {
            return Err(AuthError::InvalidRequest("Only the Bearer scheme is supported"));
        }
        None => {}
    }
    // Boxed: the session path (with its refresh) is a large future the bearer path should
    // not carry around.
    #[cfg(feature = "sign-in")]
    return Box::pin(session::session_identity(request, oidc)).await;
    #[cfg(not(feature = "sign-in"))]
    Err(AuthError::MissingCredentials)
}

/// The anti-CSRF token of the browser session that authenticated this request, if any.
struct SessionCsrf(Option<String>);

/// The CSRF token of the session behind this request's authentication; `None` when the
/// request came with a bearer token (or not authenticated).
pub(crate) fn session_csrf_token<'r>(request: &'r Request<'_>) -> Option<&'r str> {
    request.local_cache(|| SessionCsrf(None)).0.as_deref()
}
