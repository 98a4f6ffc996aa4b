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
//! | keys not loaded | 503 | none; `Retry-After` instead |
//!
//! The precise reason is logged at debug level; the token itself never is.

use std::io::Cursor;
use std::sync::Mutex;

use rocket::http::{ContentType, Header, Status};
use rocket::response::{self, Redirect, Responder, Response};
use rocket::{Catcher, Request, catch, catchers};

use crate::guards::LoginRedirect;

use crate::oidc::Oidc;
use crate::oidc::tokens::TokenError;

/// Seconds a client should wait when keys are not loaded yet.
pub const RETRY_AFTER_SECS: u32 = 5;

/// Why a request was not authenticated or authorized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No credentials at all.
    MissingCredentials,
    /// The request itself is malformed (two tokens, unknown scheme with a token, ...).
    InvalidRequest(&'static str),
    /// The token was refused.
    InvalidToken(TokenError),
    /// Authenticated, but without the required role.
    InsufficientScope(String),
    /// Keys are not loaded yet (Keycloak unreachable since start).
    Unavailable,
}

impl AuthError {
    /// The HTTP status of this error.
    pub fn status(&self) -> Status {
        match self {
            Self::MissingCredentials | Self::InvalidToken(_) => Status::Unauthorized,
            Self::InvalidRequest(_) => Status::BadRequest,
            Self::InsufficientScope(_) => Status::Forbidden,
            Self::Unavailable => Status::ServiceUnavailable,
        }
    }

    /// The RFC 6750 error code, if any.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            Self::MissingCredentials => None,
            Self::InvalidRequest(_) => Some("invalid_request"),
            Self::InvalidToken(_) => Some("invalid_token"),
            Self::InsufficientScope(_) => Some("insufficient_scope"),
            Self::Unavailable => Some("temporarily_unavailable"),
        }
    }

    /// The public, short `error_description`.
    pub fn description(&self) -> String {
        match self {
            Self::MissingCredentials => "Authentication is required".into(),
            Self::InvalidRequest(why) => (*why).into(),
            Self::InvalidToken(why) => why.to_string(),
            Self::InsufficientScope(role) if role.is_empty() => "Insufficient permissions".into(),
            Self::InsufficientScope(role) => format!("The role {role} is required"),
            Self::Unavailable => "The identity provider is not reachable yet".into(),
        }
    }

    /// Records this error for the catcher and logs the precise reason.
    pub(crate) fn record(&self, request: &Request<'_>) {
        log::debug!("auth refused {} {}: {self:?}", request.method(), request.uri().path());
        let slot = request.local_cache(|| Recorded(Mutex::new(None)));
        let mut slot = slot.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        slot.get_or_insert_with(|| self.clone());
    }

    /// The error a guard recorded for this request, if any.
    pub fn recorded(request: &Request<'_>) -> Option<AuthError> {
        let slot = request.local_cache(|| Recorded(Mutex::new(None)));
        slot.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn www_authenticate(&self, realm: &str, description: &str) -> Option<String> {
        let realm = quote(realm);
        match (self, self.code()) {
            (Self::Unavailable, _) => None,
            (_, None) => Some(format!("Bearer realm={realm}")),
            (_, Some(code)) => Some(format!(
                "Bearer realm={realm}, error=\"{code}\", error_description={}",
                quote(description)
            )),
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

struct Recorded(Mutex<Option<AuthError>>);

/// The JSON error body `{"error": .., "error_description": ..}`.
fn json_error(error: &str, description: &str) -> String {
    #[derive(serde::Serialize)]
    struct Body<'a> {
        error: &'a str,
        error_description: &'a str,
    }
    serde_json::to_string(&Body { error, error_description: description }).unwrap_or_default()
}

/// A quoted-string for an auth-param; drops characters that cannot appear in one.
fn quote(value: &str) -> String {
    let clean: String =
        value.chars().filter(|c| *c != '"' && *c != '\\' && (' '..='~').contains(c)).collect();
    format!("\"{clean}\"")
}

impl<'r> Responder<'r, 'static> for AuthError {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        let realm = request.rocket().state::<Oidc>().map_or("", |o| o.config().realm());
        let description = self.description();
        let body = json_error(self.code().unwrap_or("unauthorized"), &description);
        let mut response = Response::build();
        response
            .status(self.status())
            .header(ContentType::JSON)
            .sized_body(body.len(), Cursor::new(body));
        if let Some(value) = self.www_authenticate(realm, &description) {
            response.header(Header::new("WWW-Authenticate", value));
        }
        if self == AuthError::Unavailable {
            response.header(Header::new("Retry-After", RETRY_AFTER_SECS.to_string()));
        }
        response.ok()
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
pub fn wants_html(request: &Request<'_>) -> bool {
    request.accept().is_some_and(|accept| accept.preferred().media_type().is_html())
}

impl<'r> Responder<'r, 'static> for ErrorPage {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
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
            let body =
                serde_json::json!({"error": code, "error_description": self.message}).to_string();
            Response::build()
                .status(self.status)
                .header(ContentType::JSON)
                .sized_body(body.len(), Cursor::new(body))
                .ok()
        }
    }
}

/// What a catcher answers: the RFC 6750 error, an HTML page, or a redirect to sign-in.
#[derive(Responder)]
#[allow(clippy::large_enum_variant)] // built once per failed request
enum Caught {
    Auth(AuthError),
    Page(ErrorPage),
    Login(Redirect),
}

/// The catchers that render guard failures (RFC 6750 for API clients, HTML error pages
/// for browsers, a redirect to `/login` for pages that need a signed-in user) and the
/// generic 404/500. Register them at `/`.
pub fn catchers() -> Vec<Catcher> {
    catchers![bad_request, unauthorized, forbidden, not_found, server_error, unavailable]
}

fn caught(request: &Request<'_>, fallback: AuthError) -> Caught {
    let error = AuthError::recorded(request)
        .filter(|e| e.status() == fallback.status())
        .unwrap_or(fallback);
    if error.status() == Status::Unauthorized && request.local_cache(|| LoginRedirect(false)).0 {
        let next = request.uri().to_string();
        let login = format!("/login?next={}", rocket::http::RawStr::new(&next).percent_encode());
        return Caught::Login(Redirect::to(login));
    }
    if wants_html(request) {
        return Caught::Page(ErrorPage::new(error.status(), error.description()));
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
    caught(request, AuthError::InsufficientScope(String::new()))
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
            AuthError::MissingCredentials.www_authenticate("demo", "").unwrap(),
            "Bearer realm=\"demo\""
        );
    }

    #[test]
    fn header_values_cannot_be_broken_out_of() {
        let error = AuthError::InsufficientScope("a\"b\\c\r\nd".into());
        let header = error.www_authenticate("r\"", &error.description()).unwrap();
        assert_eq!(
            header,
            "Bearer realm=\"r\", error=\"insufficient_scope\", error_description=\"The role abcd is required\""
        );
    }
}
