//! Browser security headers, set in one place for every response.
//!
//! - Every response: `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`
//!   (the callback URL carries a code and state; no page should leak its URL onward).
//! - HTML responses: a strict `Content-Security-Policy` (no scripts at all, no external
//!   assets, no framing, forms may post only to this app and to the Keycloak origin,
//!   because Chromium applies `form-action` to the logout redirect), and
//!   `Cache-Control: no-store` so pages with personal data are not cached.
//! - JSON answers that carry identity data (`/me`, `/admin-data`, the notes) and every
//!   back-channel logout answer (OIDC Back-Channel Logout §2.8) are wrapped in [`NoStore`]
//!   by their routes, so they are `no-store` even in an app that does not attach
//!   [`SecurityHeaders`].

use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::{ContentType, Header};
use rocket::response::{self, Responder};
use rocket::{Request, Response};

use crate::oidc::Oidc;

/// The fairing that sets the headers.
#[derive(Debug, Default, Clone, Copy)]
pub struct SecurityHeaders;

/// The Content-Security-Policy for HTML pages; `idp_origin` is Keycloak's origin.
pub(crate) fn content_security_policy(idp_origin: &str) -> String {
    format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; \
         form-action 'self' {idp_origin}; frame-ancestors 'none'"
    )
}

#[rocket::async_trait]
impl Fairing for SecurityHeaders {
    fn info(&self) -> Info {
        Info { name: "Security headers", kind: Kind::Response | Kind::Singleton }
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, response: &mut Response<'r>) {
        response.set_header(Header::new("X-Content-Type-Options", "nosniff"));
        response.set_header(Header::new("Referrer-Policy", "no-referrer"));
        if response.content_type().is_some_and(|t| t == ContentType::HTML) {
            let origin = request
                .rocket()
                .state::<Oidc>()
                .and_then(|o| url::Url::parse(&o.config().issuer).ok())
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_default();
            response.set_header(Header::new(
                "Content-Security-Policy",
                content_security_policy(&origin),
            ));
            response.set_header(Header::new("Cache-Control", "no-store"));
        }
    }
}

/// A response no cache may store (`Cache-Control: no-store`): for answers with identity
/// data.
#[derive(Debug)]
pub struct NoStore<R>(pub R);

impl<'r, 'o: 'r, R: Responder<'r, 'o>> Responder<'r, 'o> for NoStore<R> {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'o> {
        let mut response = self.0.respond_to(request)?;
        response.set_header(Header::new("Cache-Control", "no-store"));
        Ok(response)
    }
}

/// Compares two secrets in time that depends only on their lengths.
#[cfg(feature = "sign-in")]
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(all(test, feature = "sign-in"))]
mod tests {
    use super::*;

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
