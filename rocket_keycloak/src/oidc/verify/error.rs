//! [`VerifyError`]: why a token was not accepted, in this layer's own terms (the layers
//! above decide whether it is a 401, a 503 or a failed sign-in).

use crate::oidc::tokens::TokenError;

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// No keys are loaded yet (Keycloak unreachable since start): the token may be fine.
    Unavailable,
    /// The token names a key we do not have, and a refetch that may bring it is pending
    /// but already has all the waiters it takes: the token may be fine, retry later.
    KeyPending {
        /// When the pending refetch should have run.
        retry_after: std::time::Duration,
    },
    /// The token was refused.
    Rejected(TokenError),
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unavailable => f.write_str("the identity provider's keys are not loaded yet"),
            Self::KeyPending { .. } => f.write_str("the token's key is not known yet"),
            Self::Rejected(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for VerifyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Unavailable | Self::KeyPending { .. } => None,
            Self::Rejected(e) => Some(e),
        }
    }
}

impl From<TokenError> for VerifyError {
    fn from(error: TokenError) -> Self {
        Self::Rejected(error)
    }
}
