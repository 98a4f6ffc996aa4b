//! [`AuthError`]: why a request was refused, with its status, RFC 6750 code, public
//! description and metrics label, and the `From` maps of the layers below.

use rocket::http::Status;

use crate::assurance::{Assurance, Shortfall};
use crate::oidc::{DpopError, TokenError, VerifyError};
#[cfg(feature = "sign-in")]
use crate::session::SessionError;

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
    /// Authenticated, but not a member of the Keycloak organization the route needs (its
    /// alias, when it is a valid one): 403 `insufficient_scope`.
    NotAMember(Option<String>),
    /// A route needs an organization and the token has no `organization` claim at all:
    /// 403 `insufficient_scope`, saying to ask for the `organization` scope.
    NoOrganizationClaim,
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
            Self::InsufficientScope(_)
            | Self::NotAMember(_)
            | Self::NoOrganizationClaim
            | Self::CrossSiteRequest => Status::Forbidden,
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
            Self::InsufficientScope(_) | Self::NotAMember(_) | Self::NoOrganizationClaim => {
                Some("insufficient_scope")
            }
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
            Self::InsufficientScope(_) | Self::NotAMember(_) | Self::NoOrganizationClaim => {
                "insufficient_scope"
            }
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
            Self::NotAMember(None) => "Membership in the organization is required".into(),
            Self::NotAMember(Some(alias)) => {
                format!("Membership in the organization {alias} is required")
            }
            Self::NoOrganizationClaim => {
                "The token has no organization claim: request the organization scope".into()
            }
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

#[cfg(feature = "sign-in")]
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
