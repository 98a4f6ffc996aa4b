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
//! Cross-site request forgery (decisions): the session cookie is `SameSite=Lax`, which a
//! *same-site* attacker (a sibling subdomain, a user-content host) passes, and Rocket's
//! `Json<T>` accepts any content type. So a request with a method other than `GET`, `HEAD`
//! or `OPTIONS` that the session authenticates must prove it comes from the app itself:
//! - `Sec-Fetch-Site: same-origin` (`same-site`, `cross-site` and `none` are refused: only
//!   the first says the app's own page sent it), and/or an `Origin` equal to `app_url`'s
//!   origin byte for byte; every signal present must agree, one header of each at most;
//! - or `X-CSRF-Token` equal to the session's CSRF token (constant-time comparison), for
//!   clients that send neither header.
//!
//! With no signal at all the request is refused (safer than trusting an old browser).
//! The refusal is a 403 ([`AuthError::CrossSiteRequest`]) that leaves the session alone:
//! a forged request must not be able to sign the victim out. Bearer calls are unaffected;
//! a browser does not attach that header by itself.

use std::ops::Deref;
use std::sync::Arc;

use rocket::Request;
use rocket::http::Method;
use rocket::request::{FromRequest, Outcome};

use crate::clock::unix_now;
use crate::config::DpopPolicy;
use crate::error::{AuthError, Refusal};
use crate::identity::Identity;
use crate::oidc::dpop::{FirstUse, ProofTarget};
use crate::oidc::{DpopError, Oidc, TokenError};
use crate::security::constant_time_eq;
use crate::session::{self, SessionError, Sessions};
use crate::telemetry;

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
    if dpop_required || matches!(presented, Ok(Some((Scheme::Dpop, _)))) {
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
        Some((Scheme::Dpop, token)) => return Box::pin(dpop_identity(request, oidc, token)).await,
        None => {}
    }
    // Boxed: the session path (with its refresh) is a large future the bearer path should
    // not carry around.
    Box::pin(session_identity(request, oidc)).await
}

/// The caller of a request with `Authorization: DPoP <token>`: the token must be bound to a
/// key, and the request's one `DPoP` header a fresh, first-used proof of that key for this
/// request (`oidc/dpop.rs`). Proofs are spent in the shared session store when there is
/// one, so a proof replayed to another instance is refused too.
async fn dpop_identity(
    request: &Request<'_>,
    oidc: &Oidc,
    token: &str,
) -> Result<Arc<Identity>, AuthError> {
    let identity = oidc.validate_access_token(token).await?;
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
    let checked = oidc.check_dpop_proof(proof, token, jkt, target).map_err(refused)?;
    let shared = match request.rocket().state::<Sessions>() {
        Some(sessions) => {
            sessions.first_use_of_proof(&checked.replay_id, checked.accepted_until).await?
        }
        None => None,
    };
    let first = match shared {
        Some(first) => first,
        None => match oidc.proofs_seen().first_use(&checked, unix_now()) {
            FirstUse::Yes => true,
            FirstUse::Replayed => false,
            FirstUse::Full => return Err(AuthError::ProofsUnavailable),
        },
    };
    if !first {
        return Err(refused(DpopError::Replayed));
    }
    telemetry::dpop_proof("ok");
    Ok(identity)
}

async fn session_identity(request: &Request<'_>, oidc: &Oidc) -> Result<Arc<Identity>, AuthError> {
    let cookies = request.cookies();
    let (Some(id), Some(sessions)) =
        (session::session_id(cookies), request.rocket().state::<Sessions>())
    else {
        return Err(AuthError::MissingCredentials);
    };
    if !is_safe(request.method()) && !same_origin(request, &oidc.config().app_url) {
        // The token is compared with the stored session without refreshing it: a forged
        // request costs no call to Keycloak and changes nothing.
        let token = only_header(request, CSRF_HEADER).ok().flatten();
        let stored = match token {
            Some(_) => sessions.get(&id).await?,
            None => None,
        };
        let proven = token.zip(stored).is_some_and(|(token, session)| {
            constant_time_eq(token.as_bytes(), session.csrf_token.as_bytes())
        });
        if !proven {
            return Err(AuthError::CrossSiteRequest);
        }
    }
    match sessions.current(oidc, &id).await {
        Ok(session) => {
            let identity = session.identity.clone();
            request.local_cache(|| SessionCsrf(Some(session.csrf_token)));
            Ok(identity)
        }
        Err(error) => {
            if error == SessionError::Ended {
                session::clear_session_cookie(cookies);
            }
            Err(error.into())
        }
    }
}

/// Methods that change nothing (RFC 9110 §9.2.1); every other method needs a same-origin
/// proof when a session authenticates it.
fn is_safe(method: Method) -> bool {
    matches!(method, Method::Get | Method::Head | Method::Options)
}

/// Whether the browser says the request comes from the app's own origin: at least one of
/// `Sec-Fetch-Site` and `Origin`, and each one present says so.
fn same_origin(request: &Request<'_>, app_url: &url::Url) -> bool {
    let (Ok(site), Ok(origin)) =
        (only_header(request, "Sec-Fetch-Site"), only_header(request, "Origin"))
    else {
        return false;
    };
    if site.is_none() && origin.is_none() {
        return false;
    }
    site.is_none_or(|site| site == "same-origin")
        && origin.is_none_or(|origin| origin == app_url.origin().ascii_serialization())
}

/// The value of header `name` if it appears at most once; `Err` if repeated.
fn only_header<'r>(request: &'r Request<'_>, name: &str) -> Result<Option<&'r str>, ()> {
    let mut values = request.headers().get(name);
    let first = values.next();
    if values.next().is_some() { Err(()) } else { Ok(first) }
}

/// The anti-CSRF token of the browser session that authenticated this request, if any.
struct SessionCsrf(Option<String>);

/// The CSRF token of the session behind this request's authentication; `None` when the
/// request came with a bearer token (or not authenticated).
pub(crate) fn session_csrf_token<'r>(request: &'r Request<'_>) -> Option<&'r str> {
    request.local_cache(|| SessionCsrf(None)).0.as_deref()
}

/// A signed-in user on an HTML page. When the browser is not signed in, the 401 catcher
/// redirects it to `/login?next=<this path>` instead of answering JSON.
#[derive(Debug, Clone)]
pub struct PageUser {
    user: AuthenticatedUser,
    csrf_token: Option<String>,
}

impl PageUser {
    fn of(request: &Request<'_>, user: &AuthenticatedUser) -> Self {
        Self { user: user.clone(), csrf_token: session_csrf_token(request).map(str::to_owned) }
    }

    /// The user.
    pub fn user(&self) -> &AuthenticatedUser {
        &self.user
    }

    /// What templates show of the user.
    pub fn identity_view(&self) -> serde_json::Value {
        let identity: &Identity = self;
        let mut client_roles: Vec<String> = identity
            .client_roles
            .iter()
            .flat_map(|(client, roles)| roles.iter().map(move |r| format!("{client}: {r}")))
            .collect();
        client_roles.sort();
        serde_json::json!({
            "name": identity.display_name(),
            "username": identity.preferred_username,
            "email": identity.email,
            "realm_roles": identity.realm_roles,
            "client_roles": client_roles,
        })
    }

    /// The session's anti-CSRF token for forms (absent for bearer-token callers).
    pub fn csrf_token(&self) -> Option<&str> {
        self.csrf_token.as_deref()
    }
}

impl Deref for PageUser {
    type Target = Identity;
    fn deref(&self) -> &Identity {
        &self.user
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for PageUser {
    type Error = AuthError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, AuthError> {
        match <&AuthenticatedUser>::from_request(request).await {
            Outcome::Success(user) => Outcome::Success(Self::of(request, user)),
            Outcome::Error((status, error)) => {
                let api_client = request.headers().contains("Authorization");
                if status == rocket::http::Status::Unauthorized && !api_client {
                    Refusal::of(request).redirect_to_login();
                }
                Outcome::Error((status, error))
            }
            Outcome::Forward(status) => Outcome::Forward(status),
        }
    }
}

/// The signed-in user if there is one, else anonymous: for pages that show either.
/// Invalid credentials count as anonymous here; use [`PageUser`] to require a user.
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<PageUser>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for MaybeUser {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        match <&AuthenticatedUser>::from_request(request).await {
            Outcome::Success(user) => {
                Outcome::Success(MaybeUser(Some(PageUser::of(request, user))))
            }
            _ => Outcome::Success(MaybeUser(None)),
        }
    }
}

/// The `Authorization` schemes this crate takes an access token from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Bearer` (RFC 6750).
    Bearer,
    /// `DPoP` (RFC 9449): the token is bound to a key, proven by the `DPoP` header.
    Dpop,
}

/// Extracts the scheme and the access token from the `Authorization` header values.
///
/// `Ok(None)`: no header. Errors: several headers, another scheme, no token, or more than
/// one token (`invalid_request`).
pub fn authorization_token<'a>(
    mut values: impl Iterator<Item = &'a str>,
) -> Result<Option<(Scheme, &'a str)>, AuthError> {
    let Some(value) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(AuthError::InvalidRequest("Send exactly one Authorization header"));
    }
    let value = value.trim_matches(' ');
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Scheme::Dpop
    } else {
        return Err(AuthError::InvalidRequest("Only the Bearer and DPoP schemes are supported"));
    };
    let token = rest.trim_start_matches(' ');
    if token.is_empty() {
        return Err(AuthError::InvalidRequest("The access token is missing"));
    }
    // A branch-free scan (it vectorizes); tokens are long and this runs on every request.
    if token.bytes().fold(false, |seen, b| seen | b.is_ascii_whitespace()) {
        return Err(AuthError::InvalidRequest("Send exactly one bearer token"));
    }
    // The token's characters are checked with its format, after the verified-token cache
    // lookup, so the common path does not scan the token twice.
    Ok(Some((scheme, token)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(values: &[&'static str]) -> Result<Option<&'static str>, AuthError> {
        authorization_token(values.iter().copied()).map(|found| found.map(|(_, token)| token))
    }

    #[test]
    fn scheme_is_case_insensitive() {
        assert_eq!(parse(&["Bearer abc"]), Ok(Some("abc")));
        assert_eq!(parse(&["bEaReR abc"]), Ok(Some("abc")));
        assert_eq!(parse(&["Bearer   abc.def-_~+/=="]), Ok(Some("abc.def-_~+/==")));
        let dpop = authorization_token(["dpop abc"].into_iter());
        assert_eq!(dpop, Ok(Some((Scheme::Dpop, "abc"))));
    }

    #[test]
    fn no_header_is_no_credentials() {
        assert_eq!(parse(&[]), Ok(None));
    }

    #[test]
    fn malformed_requests_are_invalid_request() {
        for values in [
            &["Bearer a", "Bearer b"][..],
            &["Bearer a b"],
            &["Basic dXNlcjpwYXNz"],
            &["Bearer"],
            &["Bearer "],
            &[""],
        ] {
            let error = parse(values).unwrap_err();
            assert_eq!(error.code(), Some("invalid_request"), "{values:?}");
        }
    }
}
