//! The boundary error of the guards and its one response shape (RFC 6750).
//!
//! A failing guard records its [`AuthError`] in the request's local cache; the
//! [`catchers()`] turn it into the response, so the status, the `WWW-Authenticate` header
//! and the JSON body always agree:
//!
//! | error | status | `WWW-Authenticate` |
//! |---|---|---|
//! | no credentials | 401 | `Bearer realm="<realm>"` (no error code, RFC 6750 §3.1) |
//! | malformed request | 400 | `Bearer realm=.., error="invalid_request", error_description=..` |
//! | bad token | 401 | `Bearer realm=.., error="invalid_token", error_description=..` |
//! | missing role | 403 | `Bearer realm=.., error="insufficient_scope", error_description=..` |
//! | level of assurance too low or too old | 401 | `Bearer realm=.., error="insufficient_user_authentication", error_description=.., acr_values=..` (and `max_age=..` when the age failed; RFC 9470) |
//! | session request from another site | 403 | `Bearer realm=.., error="invalid_request", error_description=..` |
//! | DPoP proof refused (RFC 9449 §7.1) | 401 | `DPoP realm=.., error="invalid_dpop_proof", error_description=.., algs=..` |
//! | keys not loaded | 503 | none; `Retry-After` instead |
//! | unknown key, refetch pending and busy | 503 | none; `Retry-After` (when the refetch runs) |
//!
//! The challenge's scheme is `DPoP` (with the proof algorithms in `algs`) when the request
//! used the DPoP scheme or the app requires DPoP ([`Refusal::challenge_dpop`]); `Bearer`
//! otherwise.
//!
//! The precise reason is logged at debug level; the token itself never is.
//!
//! Decisions:
//! - The layers below return their own errors ([`VerifyError`], [`SessionError`]); this is
//!   the one place that maps them to statuses (`From`).
//! - Every JSON error body is an [`ErrorBody`], whoever answers (the catchers, an
//!   [`ErrorPage`] for an API client, the back-channel logout route).
//! - A page that needs a signed-in browser marks its request
//!   ([`Refusal::redirect_to_login`]); its 401 then becomes a redirect to the sign-in route,
//!   if the app mounted one ([`LoginPage`], managed by `SignIn`, which knows the route).
//!   Without one it stays a 401. A page that needs a level of assurance also says which
//!   ([`Refusal::step_up_to`]); the redirect then asks the sign-in for it.
//! - What the guards leave for the catchers (the error and those hints) is one local-cache
//!   entry per request, a [`Refusal`]: a refused request is the cheap path a flood of forged
//!   tokens takes, and each entry of Rocket's local cache is an allocation and a map insert.

use std::io::Cursor;
use std::sync::OnceLock;

use rocket::http::uri::Origin;
use rocket::http::{ContentType, Header, Status};
use rocket::response::{self, Redirect, Responder, Response};
use rocket::{Catcher, Request, catch, catchers};
use serde::Serialize;

use crate::assurance::{Assurance, Shortfall};
use crate::oidc::{DpopError, Oidc, TokenError, VerifyError};
use crate::session::SessionError;

/// Seconds a client should wait when keys are not loaded yet.
pub(crate) const RETRY_AFTER_SECS: u32 = 5;

/// Why a request was not authenticated or authorized.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// No credentials at all.
    MissingCredentials,
    /// The request itself is malformed (two tokens, unknown scheme with a token, ...).
    InvalidRequest(&'static str),
    /// The token was refused.
    InvalidToken(TokenError),
    /// Authenticated, but without the required role (named, when known).
    InsufficientScope(Option<String>),
    /// Authenticated, but not at the required level of assurance, or not recently enough
    /// (RFC 9470): the client must authenticate again as `required` says.
    InsufficientUserAuthentication {
        /// What the route needs.
        required: Assurance,
        /// What fell short.
        shortfall: Shortfall,
    },
    /// An unsafe method authenticated by the session cookie without a same-origin signal
    /// or the CSRF header (see the guards). 403: the session itself is fine and stays.
    CrossSiteRequest,
    /// The DPoP proof of a request with a DPoP-bound token was refused.
    InvalidDpopProof(DpopError),
    /// Too many live DPoP proofs to remember one more: retry in a moment (the replay cache
    /// fails closed).
    ProofsUnavailable,
    /// Keys are not loaded yet (Keycloak unreachable since start).
    Unavailable,
    /// The session store (Redis) is not reachable: the session may be fine.
    SessionsUnavailable,
    /// The token's key is unknown and its refetch is pending: retry after these seconds.
    KeyPending(u64),
}

impl AuthError {
    /// The HTTP status of this error.
    pub fn status(&self) -> Status {
        match self {
            Self::MissingCredentials
            | Self::InvalidToken(_)
            | Self::InvalidDpopProof(_)
            | Self::InsufficientUserAuthentication { .. } => Status::Unauthorized,
            Self::InvalidRequest(_) => Status::BadRequest,
            Self::InsufficientScope(_) | Self::CrossSiteRequest => Status::Forbidden,
            Self::Unavailable
            | Self::SessionsUnavailable
            | Self::KeyPending(_)
            | Self::ProofsUnavailable => Status::ServiceUnavailable,
        }
    }

    /// The RFC 6750 error code, if any.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            Self::MissingCredentials => None,
            Self::InvalidRequest(_) | Self::CrossSiteRequest => Some("invalid_request"),
            Self::InvalidToken(_) => Some("invalid_token"),
            Self::InsufficientScope(_) => Some("insufficient_scope"),
            Self::InsufficientUserAuthentication { .. } => Some("insufficient_user_authentication"),
            Self::InvalidDpopProof(_) => Some("invalid_dpop_proof"),
            Self::Unavailable
            | Self::SessionsUnavailable
            | Self::KeyPending(_)
            | Self::ProofsUnavailable => Some("temporarily_unavailable"),
        }
    }

    /// The `outcome` label of `rocket_keycloak_auth_total`.
    pub(crate) fn outcome(&self) -> &'static str {
        match self {
            Self::MissingCredentials => "missing",
            Self::InvalidRequest(_) | Self::CrossSiteRequest => "invalid_request",
            Self::InvalidToken(_) => "invalid_token",
            Self::InsufficientScope(_) => "insufficient_scope",
            Self::InsufficientUserAuthentication { .. } => "insufficient_user_authentication",
            Self::InvalidDpopProof(_) => "invalid_dpop_proof",
            Self::Unavailable
            | Self::SessionsUnavailable
            | Self::KeyPending(_)
            | Self::ProofsUnavailable => "unavailable",
        }
    }

    /// The public, short `error_description`.
    pub fn description(&self) -> String {
        match self {
            Self::MissingCredentials => "Authentication is required".into(),
            Self::InvalidRequest(why) => (*why).into(),
            Self::InvalidToken(why) => why.to_string(),
            Self::InsufficientScope(None) => "Insufficient permissions".into(),
            Self::InsufficientScope(Some(role)) => format!("The role {role} is required"),
            Self::InsufficientUserAuthentication { required, shortfall: Shortfall::Level } => {
                format!("Authentication at level {} is required", required.acr)
            }
            Self::InsufficientUserAuthentication { shortfall: Shortfall::Age, .. } => {
                "A more recent authentication is required".into()
            }
            Self::CrossSiteRequest => "Cross-site request refused: send it from this app's \
                                       pages or with the X-CSRF-Token header"
                .into(),
            Self::Unavailable => "The identity provider is not reachable yet".into(),
            Self::SessionsUnavailable => "Sessions are temporarily unavailable".into(),
            Self::KeyPending(_) => "The token's signing key is not known yet".into(),
            Self::InvalidDpopProof(why) => why.to_string(),
            Self::ProofsUnavailable => "Too many DPoP proofs right now; retry shortly".into(),
        }
    }

    /// Records this error for the catcher and logs the precise reason.
    pub(crate) fn record(&self, request: &Request<'_>) {
        log::debug!("auth refused {} {}: {self:?}", request.method(), request.uri().path());
        Refusal::of(request).error.get_or_init(|| self.clone());
    }

    /// The error a guard recorded for this request, if any.
    pub fn recorded(request: &Request<'_>) -> Option<AuthError> {
        Refusal::of(request).error.get().cloned()
    }

    /// The challenge: `Bearer`, or `DPoP` with `algs` when `dpop_algs` is given.
    fn www_authenticate(
        &self,
        realm: &str,
        description: &str,
        dpop_algs: Option<&str>,
    ) -> Option<String> {
        if matches!(
            self,
            Self::Unavailable
                | Self::SessionsUnavailable
                | Self::KeyPending(_)
                | Self::ProofsUnavailable
        ) {
            return None;
        }
        // Built in one buffer: this runs for every refused request.
        let mut challenge = String::with_capacity(64 + realm.len() + description.len());
        match dpop_algs {
            Some(algs) => {
                challenge.push_str("DPoP algs=");
                push_quoted(&mut challenge, algs);
                challenge.push_str(", realm=");
            }
            None => challenge.push_str("Bearer realm="),
        }
        push_quoted(&mut challenge, realm);
        let Some(code) = self.code() else { return Some(challenge) };
        challenge.push_str(", error=\"");
        challenge.push_str(code);
        challenge.push_str("\", error_description=");
        push_quoted(&mut challenge, description);
        // RFC 9470 §3: what the next authentication must achieve.
        if let Self::InsufficientUserAuthentication { required, shortfall } = self {
            challenge.push_str(", acr_values=");
            push_quoted(&mut challenge, &required.acr);
            if let (Shortfall::Age, Some(max_age)) = (shortfall, required.max_age) {
                challenge.push_str(&format!(", max_age=\"{max_age}\""));
            }
        }
        Some(challenge)
    }
}

impl From<VerifyError> for AuthError {
    fn from(error: VerifyError) -> Self {
        match error {
            VerifyError::Unavailable => Self::Unavailable,
            VerifyError::KeyPending { retry_after } => {
                Self::KeyPending(retry_after.as_secs().max(1))
            }
            VerifyError::Rejected(reason) => Self::InvalidToken(reason),
        }
    }
}

impl From<SessionError> for AuthError {
    fn from(error: SessionError) -> Self {
        match error {
            SessionError::Ended => Self::MissingCredentials,
            SessionError::Unavailable => Self::Unavailable,
            SessionError::StoreUnavailable => Self::SessionsUnavailable,
        }
    }
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description())
    }
}

impl std::error::Error for AuthError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidToken(e) => Some(e),
            _ => None,
        }
    }
}

/// What the guards of one request leave for the catchers, in one local-cache entry (one
/// allocation per refused request, not one per hint): the error, and how to answer it. Each
/// field is written at most once; the first guard to write it wins.
#[derive(Default)]
pub(crate) struct Refusal {
    /// The first error a guard recorded ([`AuthError::record`]).
    error: OnceLock<AuthError>,
    /// Set when the request's challenge is `DPoP` (the request used the DPoP scheme, or the
    /// app or the route requires DPoP); its `algs` are the app's proof algorithms.
    dpop_challenge: OnceLock<()>,
    /// Set by the page guards: a 401 becomes a redirect to the sign-in page (API clients
    /// never get it).
    login_redirect: OnceLock<()>,
    /// The level of assurance a page's sign-in redirect asks for (set by the step-up page
    /// guard).
    step_up: OnceLock<Assurance>,
}

impl Refusal {
    /// The request's entry.
    pub(crate) fn of<'r>(request: &'r Request<'_>) -> &'r Self {
        request.local_cache(Self::default)
    }

    /// The challenge is `DPoP`, with the app's proof algorithms.
    pub(crate) fn challenge_dpop(&self) {
        let _ = self.dpop_challenge.set(());
    }

    /// A 401 of this request becomes a redirect to the sign-in page.
    pub(crate) fn redirect_to_login(&self) {
        let _ = self.login_redirect.set(());
    }

    /// The sign-in redirect asks for this level.
    pub(crate) fn step_up_to(&self, required: impl FnOnce() -> Assurance) {
        self.step_up.get_or_init(required);
    }
}

/// The JSON error body of every error answer: `{"error": .., "error_description": ..}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorBody {
    /// The error code (RFC 6750 or OAuth 2.0 style).
    pub error: &'static str,
    /// A short sentence for people; never contains a token.
    pub error_description: String,
}

impl ErrorBody {
    /// A body with this code and description.
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self { error, error_description: description.into() }
    }

    /// The body as a JSON response with `status`.
    fn respond(&self, status: Status) -> response::Result<'static> {
        let body = serde_json::to_string(self).unwrap_or_default();
        Response::build()
            .status(status)
            .header(ContentType::JSON)
            .sized_body(body.len(), Cursor::new(body))
            .ok()
    }
}

/// Appends `value` to `out` as a quoted-string for an auth-param, without the characters
/// that cannot appear in one.
fn push_quoted(out: &mut String, value: &str) {
    out.push('"');
    out.extend(value.chars().filter(|c| *c != '"' && *c != '\\' && (' '..='~').contains(c)));
    out.push('"');
}

impl AuthError {
    /// Sets the `WWW-Authenticate` and `Retry-After` headers this error calls for
    /// (`description` is [`Self::description`], computed once by the caller for the body too).
    fn set_headers(&self, request: &Request<'_>, response: &mut Response<'_>, description: &str) {
        let oidc = request.rocket().state::<Oidc>();
        let realm = oidc.map_or("", Oidc::realm_name);
        let dpop = Refusal::of(request).dpop_challenge.get().and(oidc).map(Oidc::proof_algorithms);
        if let Some(value) = self.www_authenticate(realm, description, dpop) {
            response.set_header(Header::new("WWW-Authenticate", value));
        }
        let retry_after = match self {
            AuthError::Unavailable | AuthError::SessionsUnavailable => {
                Some(u64::from(RETRY_AFTER_SECS))
            }
            AuthError::ProofsUnavailable => Some(1),
            AuthError::KeyPending(secs) => Some(*secs),
            _ => None,
        };
        if let Some(secs) = retry_after {
            response.set_header(Header::new("Retry-After", secs.to_string()));
        }
    }
}

impl<'r> Responder<'r, 'static> for AuthError {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        let body = ErrorBody::new(self.code().unwrap_or("unauthorized"), self.description());
        let mut response = body.respond(self.status())?;
        self.set_headers(request, &mut response, &body.error_description);
        Ok(response)
    }
}

/// An auth failure shown to a browser: the HTML page, with the same `WWW-Authenticate`
/// (and `Retry-After`) an API client gets, so a 401 always says how to authenticate.
struct AuthPage(AuthError);

impl<'r> Responder<'r, 'static> for AuthPage {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        let page = ErrorPage::new(self.0.status(), self.0.description());
        let mut response = page.respond_as_page_or_json(request)?;
        self.0.set_headers(request, &mut response, &page.message);
        Ok(response)
    }
}

/// A failure shown to a person: an HTML error page for browsers, JSON for API clients.
#[derive(Debug, Clone)]
pub struct ErrorPage {
    /// The status.
    pub status: Status,
    /// A friendly sentence.
    pub message: String,
}

impl ErrorPage {
    /// A page with this status and message.
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }
}

/// Whether the client prefers HTML (a browser).
pub(crate) fn wants_html(request: &Request<'_>) -> bool {
    request.accept().is_some_and(|accept| accept.preferred().media_type().is_html())
}

impl<'r> Responder<'r, 'static> for ErrorPage {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        let mut response = self.respond_as_page_or_json(request)?;
        if self.status == Status::ServiceUnavailable {
            response.set_header(Header::new("Retry-After", RETRY_AFTER_SECS.to_string()));
        }
        Ok(response)
    }
}

impl ErrorPage {
    fn respond_as_page_or_json(&self, request: &Request<'_>) -> response::Result<'static> {
        if wants_html(request) {
            let title = self.status.reason().unwrap_or("Error");
            let page = rocket_dyn_templates::Template::render(
                "error",
                rocket_dyn_templates::context! {
                    title: title,
                    code: self.status.code,
                    message: &self.message,
                },
            );
            Response::build_from(page.respond_to(request)?).status(self.status).ok()
        } else {
            let code = match self.status.code {
                400 => "invalid_request",
                401 => "unauthorized",
                403 => "forbidden",
                404 => "not_found",
                503 => "temporarily_unavailable",
                _ => "server_error",
            };
            ErrorBody::new(code, self.message.clone()).respond(self.status)
        }
    }
}

/// What a catcher answers: the RFC 6750 error, an HTML page, or a redirect to sign-in.
#[derive(Responder)]
#[allow(clippy::large_enum_variant)] // built once per failed request
enum Caught {
    Auth(AuthError),
    Page(AuthPage),
    Login(Redirect),
}

/// The catchers that render guard failures (RFC 6750 for API clients, HTML error pages
/// for browsers, a redirect to `/login` for pages that need a signed-in user) and the
/// generic 404/500. Register them at `/`.
pub fn catchers() -> Vec<Catcher> {
    catchers![bad_request, unauthorized, forbidden, not_found, server_error, unavailable]
}

/// Where a browser goes to sign in: the URI of the sign-in route for a `next` path, asking
/// for a level of assurance when the page needs one. Managed by whatever mounts that route
/// (`SignIn`); absent in API-only apps.
pub struct LoginPage(pub fn(next: &str, step_up: Option<&Assurance>) -> Origin<'static>);

fn caught(request: &Request<'_>, fallback: AuthError) -> Caught {
    let refusal = Refusal::of(request);
    let error = refusal
        .error
        .get()
        .filter(|e| e.status() == fallback.status())
        .cloned()
        .unwrap_or(fallback);
    if error.status() == Status::Unauthorized
        && refusal.login_redirect.get().is_some()
        && let Some(LoginPage(login_uri)) = request.rocket().state::<LoginPage>()
    {
        return Caught::Login(Redirect::to(login_uri(
            &request.uri().to_string(),
            refusal.step_up.get(),
        )));
    }
    if wants_html(request) {
        return Caught::Page(AuthPage(error));
    }
    Caught::Auth(error)
}

#[catch(400)]
fn bad_request(request: &Request<'_>) -> Caught {
    caught(request, AuthError::InvalidRequest("The request is malformed"))
}

#[catch(401)]
fn unauthorized(request: &Request<'_>) -> Caught {
    caught(request, AuthError::MissingCredentials)
}

#[catch(403)]
fn forbidden(request: &Request<'_>) -> Caught {
    caught(request, AuthError::InsufficientScope(None))
}

#[catch(503)]
fn unavailable(request: &Request<'_>) -> Caught {
    caught(request, AuthError::Unavailable)
}

#[catch(404)]
fn not_found() -> ErrorPage {
    ErrorPage::new(Status::NotFound, "There is nothing here.")
}

#[catch(500)]
fn server_error() -> ErrorPage {
    ErrorPage::new(Status::InternalServerError, "Something went wrong on our side.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_credentials_have_no_error_code() {
        assert_eq!(
            AuthError::MissingCredentials.www_authenticate("demo", "", None).unwrap(),
            "Bearer realm=\"demo\""
        );
    }

    #[test]
    fn step_up_challenges_follow_rfc_9470() {
        let required = Assurance { acr: "gold".into(), max_age: Some(300) };
        let low = AuthError::InsufficientUserAuthentication {
            required: required.clone(),
            shortfall: Shortfall::Level,
        };
        assert_eq!(low.status(), Status::Unauthorized);
        assert_eq!(
            low.www_authenticate("demo", &low.description(), None).unwrap(),
            "Bearer realm=\"demo\", error=\"insufficient_user_authentication\", \
             error_description=\"Authentication at level gold is required\", acr_values=\"gold\""
        );
        let old = AuthError::InsufficientUserAuthentication { required, shortfall: Shortfall::Age };
        assert_eq!(
            old.www_authenticate("demo", &old.description(), None).unwrap(),
            "Bearer realm=\"demo\", error=\"insufficient_user_authentication\", \
             error_description=\"A more recent authentication is required\", \
             acr_values=\"gold\", max_age=\"300\""
        );
    }

    #[test]
    fn dpop_challenges_name_the_scheme_and_the_algorithms() {
        let error = AuthError::InvalidDpopProof(DpopError::Replayed);
        assert_eq!(error.status(), Status::Unauthorized);
        assert_eq!(
            error.www_authenticate("demo", &error.description(), Some("ES256 RS256")).unwrap(),
            "DPoP algs=\"ES256 RS256\", realm=\"demo\", error=\"invalid_dpop_proof\", \
             error_description=\"The DPoP proof was already used\""
        );
        assert_eq!(
            AuthError::MissingCredentials.www_authenticate("demo", "", Some("ES256")).unwrap(),
            "DPoP algs=\"ES256\", realm=\"demo\""
        );
    }

    #[test]
    fn header_values_cannot_be_broken_out_of() {
        let error = AuthError::InsufficientScope(Some("a\"b\\c\r\nd".into()));
        let header = error.www_authenticate("r\"", &error.description(), None).unwrap();
        assert_eq!(
            header,
            "Bearer realm=\"r\", error=\"insufficient_scope\", error_description=\"The role abcd is required\""
        );
    }
}
