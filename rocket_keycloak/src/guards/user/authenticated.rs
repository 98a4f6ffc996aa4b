//! [`AuthenticatedUser`]: the caller, validated once per request (the result is kept in the
//! request-local cache, however many guards ask). An `Authorization` header wins over the
//! session cookie: an API client's explicit credential is never mixed with a browser
//! session that happens to ride along.

use std::ops::Deref;
use std::sync::Arc;

use rocket::Request;
use rocket::request::{FromRequest, Outcome};

use super::credentials::{Scheme, authorization_token, authorization_values};
use crate::config::DpopPolicy;
use crate::error::{AuthError, Refusal};
use crate::identity::Identity;
use crate::oidc::{Oidc, TokenError};
use crate::telemetry;

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
fn fail<T>(request: &Request<'_>, error: AuthError) -> Outcome<T, AuthError> {
    error.record(request);
    Outcome::Error((error.status(), error))
}

/// Fails a guard that checks more than authentication (a role, a level) after the caller
/// was authenticated: the metrics count the request under this refusal, not as `ok`.
pub(crate) fn refuse<T>(request: &Request<'_>, error: AuthError) -> Outcome<T, AuthError> {
    telemetry::AuthOutcome::of(request).refine(error.outcome());
    fail(request, error)
}

/// The request's caller for a guard built on [`AuthenticatedUser`]; `Err` is that guard's
/// outcome when authentication failed or forwarded.
pub(crate) async fn caller<T>(
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
    let mut authorization = authorization_values(request).peekable();
    let source = if authorization.peek().is_some() {
        telemetry::Source::Bearer
    } else {
        telemetry::Source::Session
    };
    let oidc = request.rocket().state::<Oidc>();
    let result = match oidc {
        Some(oidc) => authenticate_once(request, oidc, authorization).await,
        None => {
            log::error!("rocket_keycloak: OidcFairing is not attached; refusing all credentials");
            Err(AuthError::Unavailable)
        }
    };
    let outcome = match &result {
        Ok(_) => "ok",
        Err(error) => error.outcome(),
    };
    let meters = oidc.map(|oidc| oidc.meters().clone());
    telemetry::AuthOutcome::of(request).authenticated(source, outcome, started.elapsed(), meters);
    result
}

async fn authenticate_once<'r>(
    request: &'r Request<'_>,
    oidc: &Oidc,
    authorization: impl Iterator<Item = &'r str>,
) -> Result<Arc<Identity>, AuthError> {
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
            return Box::pin(super::proof::dpop_identity(request, oidc, token)).await;
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
    return Box::pin(super::session::session_identity(request, oidc)).await;
    #[cfg(not(feature = "sign-in"))]
    Err(AuthError::MissingCredentials)
}
