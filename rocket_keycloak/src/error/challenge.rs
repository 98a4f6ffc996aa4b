//! The `WWW-Authenticate` challenge (RFC 6750 §3, RFC 9449 §7.1, RFC 9470 §3) and the
//! responders of [`AuthError`]: JSON for API clients, the page for browsers
//! ([`AuthPage`]), both with the same headers, so a 401 always says how to authenticate.
//!
//! Decision: the challenge is built in one buffer, and every quoted value loses the
//! characters a quoted-string cannot hold, so no description can break out of the header.

use rocket::Request;
use rocket::http::Header;
use rocket::response::{self, Responder, Response};

use super::auth_error::AuthError;
use super::refusal::Refusal;
use crate::assurance::Shortfall;
use crate::oidc::Oidc;
use crate::pages::{ErrorBody, ErrorPage, RETRY_AFTER_SECS, SignedIn};

impl AuthError {
    /// The challenge: `Bearer`, or `DPoP` with `algs` when `dpop_algs` is given, naming the
    /// protected-resource metadata (RFC 9728 §5.1) when `resource_metadata` is given.
    pub(super) fn www_authenticate(
        &self,
        realm: &str,
        description: &str,
        dpop_algs: Option<&str>,
        resource_metadata: Option<&str>,
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
        let Some(code) = self.code() else {
            push_resource_metadata(&mut challenge, resource_metadata);
            return Some(challenge);
        };
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
        push_resource_metadata(&mut challenge, resource_metadata);
        Some(challenge)
    }
}

/// Appends the `resource_metadata` parameter (RFC 9728 §5.1), last, when there is one: where
/// a client finds the authorization servers of this resource.
fn push_resource_metadata(out: &mut String, url: Option<&str>) {
    if let Some(url) = url {
        out.push_str(", resource_metadata=");
        push_quoted(out, url);
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
        let metadata = oidc.and_then(Oidc::resource_metadata_url);
        if let Some(value) = self.www_authenticate(realm, description, dpop, metadata) {
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
pub(crate) struct AuthPage(pub(crate) AuthError, pub(crate) Option<SignedIn>);

impl<'r> Responder<'r, 'static> for AuthPage {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        let page = ErrorPage::new(self.0.status(), self.0.description()).shown_to(self.1);
        let mut response = page.page_or_json(request)?;
        self.0.set_headers(request, &mut response, &page.message);
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use rocket::http::Status;

    use crate::assurance::{Assurance, Shortfall};
    use crate::error::auth_error::AuthError;
    use crate::oidc::DpopError;

    #[test]
    fn missing_credentials_have_no_error_code() {
        assert_eq!(
            AuthError::MissingCredentials.www_authenticate("demo", "", None, None).unwrap(),
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
            low.www_authenticate("demo", &low.description(), None, None).unwrap(),
            "Bearer realm=\"demo\", error=\"insufficient_user_authentication\", \
             error_description=\"Authentication at level gold is required\", acr_values=\"gold\""
        );
        let old = AuthError::InsufficientUserAuthentication { required, shortfall: Shortfall::Age };
        assert_eq!(
            old.www_authenticate("demo", &old.description(), None, None).unwrap(),
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
            error
                .www_authenticate("demo", &error.description(), Some("ES256 RS256"), None)
                .unwrap(),
            "DPoP algs=\"ES256 RS256\", realm=\"demo\", error=\"invalid_dpop_proof\", \
             error_description=\"The DPoP proof was already used\""
        );
        assert_eq!(
            AuthError::MissingCredentials
                .www_authenticate("demo", "", Some("ES256"), None)
                .unwrap(),
            "DPoP algs=\"ES256\", realm=\"demo\""
        );
    }

    #[test]
    fn header_values_cannot_be_broken_out_of() {
        let error = AuthError::InsufficientScope(Some("a\"b\\c\r\nd".into()));
        let header = error.www_authenticate("r\"", &error.description(), None, None).unwrap();
        assert_eq!(
            header,
            "Bearer realm=\"r\", error=\"insufficient_scope\", error_description=\"The role abcd is required\""
        );
    }

    #[test]
    fn every_challenge_names_the_resource_metadata_last() {
        const URL: &str = "https://api.example/.well-known/oauth-protected-resource";
        let with = |error: AuthError, dpop| {
            error.www_authenticate("demo", &error.description(), dpop, Some(URL)).unwrap()
        };
        let param = format!(", resource_metadata=\"{URL}\"");
        assert_eq!(
            with(AuthError::MissingCredentials, None),
            format!("Bearer realm=\"demo\"{param}")
        );
        let cases = [
            (AuthError::InvalidToken(crate::oidc::TokenError::Expired), None),
            (AuthError::InsufficientScope(Some("admin".into())), None),
            (AuthError::InvalidDpopProof(DpopError::Replayed), Some("ES256")),
            (AuthError::MissingCredentials, Some("ES256")),
        ];
        for (error, dpop) in cases {
            let header = with(error, dpop);
            assert!(header.ends_with(&param), "{header}");
            assert_eq!(header.matches("resource_metadata").count(), 1, "{header}");
        }
    }
}
