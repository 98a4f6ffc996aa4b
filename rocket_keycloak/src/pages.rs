//! What a person or an API client sees when something fails: an [`ErrorPage`] is HTML for
//! browsers (`Accept: text/html` preferred) and an [`ErrorBody`] (JSON) for everyone else.
//!
//! Decisions:
//! - **The HTML needs nothing from the app.** It is built in: a small, self-contained page
//!   with the status, the message (HTML-escaped) and, when [`SignIn`](crate::SignIn) is
//!   attached, its links ([`PageLinks`]). A missing template can never turn a 401 into a 500
//!   and lose its `WWW-Authenticate` header.
//! - **An app that wants its own look opts in** with [`ErrorPages`], managed state holding a
//!   renderer ([`ErrorPages::tera`] with the `tera` feature). When the renderer gives nothing
//!   (the template is missing, say), the built-in page is used, and the headers are the same
//!   either way: the status, `WWW-Authenticate` and `Retry-After` are set by the caller.
//! - The built-in page has no inline style or script, so it passes a strict
//!   Content-Security-Policy (`SecurityHeaders`).
//! - **A page knows who is signed in** ([`SignedIn`]) when the catcher could tell without
//!   refusing anyone: the 403 and 404 catchers look for a session or a token the request
//!   already carries, so an app's page can show the user and a log-out control rather than
//!   "Log in" to someone who is signed in. A 401 has no user, by definition.

use std::io::Cursor;

use rocket::Request;
use rocket::http::{ContentType, Header, Status};
use rocket::response::{self, Responder, Response};
use serde::Serialize;

/// Seconds a client should wait when a dependency (keys, the session store) is not there.
pub(crate) const RETRY_AFTER_SECS: u32 = 5;

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
    pub(crate) fn respond(&self, status: Status) -> response::Result<'static> {
        let body = serde_json::to_string(self).unwrap_or_default();
        Response::build()
            .status(status)
            .header(ContentType::JSON)
            .sized_body(body.len(), Cursor::new(body))
            .ok()
    }
}

/// A failure shown to a person: an HTML error page for browsers, JSON for API clients.
#[derive(Debug, Clone)]
pub struct ErrorPage {
    /// The status.
    pub status: Status,
    /// A friendly sentence.
    pub message: String,
    signed_in: Option<SignedIn>,
}

/// Who an error page is shown to, when the request carried a valid session or token.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// What templates show of the user (`name`, `username`, `email`, roles), as
    /// `PageUser::identity_view` gives it.
    pub user: serde_json::Value,
    /// The session's anti-CSRF token for a log-out form (absent for bearer-token callers).
    pub csrf: Option<String>,
}

impl ErrorPage {
    /// A page with this status and message.
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), signed_in: None }
    }

    /// The same page, shown to `signed_in`.
    pub fn shown_to(mut self, signed_in: Option<SignedIn>) -> Self {
        self.signed_in = signed_in;
        self
    }

    /// Who the page is shown to, if the request carried a valid session or token.
    pub fn signed_in(&self) -> Option<&SignedIn> {
        self.signed_in.as_ref()
    }

    /// The page (browsers) or the JSON body (everyone else), with the status only.
    pub(crate) fn page_or_json(&self, request: &Request<'_>) -> response::Result<'static> {
        if !wants_html(request) {
            let code = match self.status.code {
                400 => "invalid_request",
                401 => "unauthorized",
                403 => "forbidden",
                404 => "not_found",
                503 => "temporarily_unavailable",
                _ => "server_error",
            };
            return ErrorBody::new(code, self.message.clone()).respond(self.status);
        }
        let custom =
            request.rocket().state::<ErrorPages>().and_then(|pages| (pages.0)(request, self));
        let html = custom.unwrap_or_else(|| self.built_in(request.rocket().state::<PageLinks>()));
        Response::build()
            .status(self.status)
            .header(ContentType::HTML)
            .sized_body(html.len(), Cursor::new(html))
            .ok()
    }

    /// The built-in HTML page.
    fn built_in(&self, links: Option<&PageLinks>) -> String {
        let title = format!("{} · {}", self.status.code, self.status.reason().unwrap_or("Error"));
        let mut actions = String::new();
        if let Some(links) = links {
            actions.push_str(&format!("<a href=\"{}\">Back</a>", escape(&links.home)));
            if matches!(self.status.code, 400 | 401 | 403) && self.signed_in.is_none() {
                actions.push_str(&format!(" · <a href=\"{}\">Sign in</a>", escape(&links.login)));
            }
        }
        format!(
            "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{title}</title>\n</head>\n<body>\n<main>\n<h1>{title}</h1>\n\
             <p role=\"alert\">{}</p>\n<p>{actions}</p>\n</main>\n</body>\n</html>\n",
            escape(&self.message)
        )
    }
}

impl<'r> Responder<'r, 'static> for ErrorPage {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        let mut response = self.page_or_json(request)?;
        if self.status == Status::ServiceUnavailable {
            response.set_header(Header::new("Retry-After", RETRY_AFTER_SECS.to_string()));
        }
        Ok(response)
    }
}

/// Whether the client prefers HTML (a browser).
pub(crate) fn wants_html(request: &Request<'_>) -> bool {
    request.accept().is_some_and(|accept| accept.preferred().media_type().is_html())
}

/// The links of the built-in page: back to the app, and to the sign-in. Managed by
/// [`SignIn`](crate::SignIn), which knows where both are.
pub(crate) struct PageLinks {
    /// Where a refused person goes back to.
    pub(crate) home: String,
    /// The sign-in route.
    pub(crate) login: String,
}

/// What renders an error page's HTML: a function of the request and the page.
type Render = dyn Fn(&Request<'_>, &ErrorPage) -> Option<String> + Send + Sync;

/// An app's own look for the error pages: manage one and every HTML [`ErrorPage`] (the
/// catchers' 401/403 pages, the sign-in's refusals) is drawn by it. When it returns `None`,
/// the built-in page is used. The status and the headers are the library's either way.
///
/// ```
/// use rocket_keycloak::{ErrorPage, ErrorPages};
///
/// let pages = ErrorPages::new(|_request, page: &ErrorPage| {
///     Some(format!("<h1>{}</h1><p>{}</p>", page.status.code, "Please sign in."))
/// });
/// let _rocket = rocket::build().manage(pages);
/// ```
///
/// # Security
/// The message is plain text: escape it if you put it into HTML yourself (Tera does).
pub struct ErrorPages(Box<Render>);

impl ErrorPages {
    /// Pages drawn by `render`.
    pub fn new(
        render: impl Fn(&Request<'_>, &ErrorPage) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        Self(Box::new(render))
    }

    /// Pages drawn by the app's Tera template `name` (with `rocket_dyn_templates`'s fairing
    /// attached), which gets `title`, `code` and `message`, and `user` and `csrf` when the
    /// page is shown to someone signed in ([`SignedIn`]). A missing template falls back to
    /// the built-in page (and Rocket logs the error).
    #[cfg(feature = "tera")]
    pub fn tera(name: &'static str) -> Self {
        Self::new(move |request, page| {
            let signed_in = page.signed_in();
            let context = rocket_dyn_templates::context! {
                title: page.status.reason().unwrap_or("Error"),
                code: page.status.code,
                message: &page.message,
                user: signed_in.map(|s| &s.user),
                csrf: signed_in.and_then(|s| s.csrf.as_deref()),
            };
            rocket_dyn_templates::Template::show(request.rocket(), name, context)
        })
    }
}

impl std::fmt::Debug for ErrorPages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ErrorPages(..)")
    }
}

/// `text` with the five HTML-special characters escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_page_escapes_the_message_and_links() {
        let page = ErrorPage::new(Status::Unauthorized, "<script>alert('x')</script> & more");
        let links = PageLinks { home: "/\"><x".into(), login: "/login".into() };
        let html = page.built_in(Some(&links));
        assert!(
            html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more"),
            "{html}"
        );
        assert!(html.contains("<a href=\"/&quot;&gt;&lt;x\">Back</a>"), "{html}");
        assert!(html.contains("<a href=\"/login\">Sign in</a>"), "{html}");
        assert!(html.contains("<title>401 · Unauthorized</title>"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
    }

    #[test]
    fn the_built_in_page_links_nowhere_without_sign_in() {
        let html = ErrorPage::new(Status::Forbidden, "No.").built_in(None);
        assert!(!html.contains("<a "), "{html}");
    }

    #[test]
    fn the_built_in_page_offers_no_sign_in_to_someone_signed_in() {
        let links = PageLinks { home: "/".into(), login: "/login".into() };
        let someone = SignedIn { user: serde_json::json!({"name": "Alice"}), csrf: None };
        let page = ErrorPage::new(Status::Forbidden, "No.").shown_to(Some(someone));
        let html = page.built_in(Some(&links));
        assert!(html.contains("<a href=\"/\">Back</a>"), "{html}");
        assert!(!html.contains("Sign in"), "{html}");
    }
}
