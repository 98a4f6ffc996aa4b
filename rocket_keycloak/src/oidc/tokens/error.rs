//! Why a token was refused: [`TokenError`], with its public text, its metric label and
//! whether the refusal is permanent.
//!
//! Decisions:
//! - The `Display` text is the public `error_description`; the `Debug` form is for logs.
//!   Neither ever contains the token.
//! - [`TokenError::reason`] is the metric's `reason` label: a fixed, small set.
//! - [`TokenError::is_permanent`] says whether a refusal may be remembered: unknown keys
//!   may appear after a refresh, a token without `kid` may find its one key after the set
//!   changes, and times move on, so those refusals are not permanent.

/// Why a token was refused. The `Display` text is the public `error_description`; the
/// `Debug` form is for logs. Neither ever contains the token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenError {
    /// Longer than `MAX_TOKEN_BYTES` (16 KiB).
    TooLarge,
    /// Not a JWS in compact form (wrong number of parts, bad base64, bad JSON).
    Malformed(&'static str),
    /// A JWE (five parts).
    Encrypted,
    /// The header has no `kid`, and not exactly one published key suits its `alg`.
    MissingKeyId,
    /// The header carries `jku`, `x5u`, `jwk`, `x5c` or `crit`.
    ForbiddenHeader(&'static str),
    /// No published signature key has this `kid`.
    UnknownKey,
    /// The header `alg` is not the key's algorithm.
    AlgorithmMismatch,
    /// The signature does not verify.
    BadSignature,
    /// A required claim is missing or has the wrong type.
    BadClaim(String),
    /// `iss` is not the configured issuer.
    WrongIssuer,
    /// `aud` does not contain the expected audience.
    WrongAudience,
    /// Keycloak's `typ` is not the expected token kind.
    WrongKind,
    /// `azp` is not in the configured allow-list.
    ForeignClient,
    /// `exp` is past (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    IssuedInFuture,
    /// A DPoP-bound token presented as a plain bearer token (RFC 9449 §7.1): a stolen
    /// token without its key.
    DpopBound,
    /// A plain token where a DPoP-bound one is required (the `DPoP` scheme, or the
    /// `required` policy).
    NotDpopBound,
    /// Keycloak's introspection answered `active: false` (revoked, signed out, or never
    /// issued).
    Inactive,
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::TooLarge => "The token is too large",
            Self::Malformed(_) => "The token is malformed",
            Self::Encrypted => "Encrypted tokens are not supported",
            Self::MissingKeyId | Self::ForbiddenHeader(_) => "The token header is not acceptable",
            Self::UnknownKey => "The token is signed with an unknown key",
            Self::AlgorithmMismatch | Self::BadSignature => "The token signature is invalid",
            Self::BadClaim(_) => "The token claims are invalid",
            Self::WrongIssuer => "The token has the wrong issuer",
            Self::WrongAudience => "The token is not meant for this service",
            Self::WrongKind => "The token is not an access token",
            Self::ForeignClient => "The token was issued to a client that is not allowed",
            Self::Expired => "The token has expired",
            Self::NotYetValid | Self::IssuedInFuture => "The token is not valid yet",
            Self::DpopBound => {
                "The token is DPoP-bound: present it with the DPoP scheme and a proof"
            }
            Self::NotDpopBound => "A DPoP-bound token is required",
            Self::Inactive => "The token is not active",
        })
    }
}

impl std::error::Error for TokenError {}

impl TokenError {
    /// The `reason` label of `rocket_keycloak_token_rejections_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::TooLarge | Self::Malformed(_) | Self::Encrypted => "malformed",
            Self::MissingKeyId | Self::ForbiddenHeader(_) => "header",
            Self::UnknownKey => "unknown_kid",
            Self::AlgorithmMismatch => "algorithm",
            Self::BadSignature => "signature",
            Self::BadClaim(_) => "claims",
            Self::WrongIssuer => "issuer",
            Self::WrongAudience => "audience",
            Self::WrongKind | Self::DpopBound | Self::NotDpopBound => "type",
            Self::ForeignClient => "azp",
            Self::Expired => "expired",
            Self::NotYetValid | Self::IssuedInFuture => "not_yet_valid",
            Self::Inactive => "inactive",
        }
    }

    /// Whether the same token will always fail the same way (so the refusal may be
    /// remembered). Unknown keys may appear after a refresh, a token without `kid` may find
    /// its one key after the set changes, and times move on, so those refusals are not
    /// permanent.
    pub fn is_permanent(&self) -> bool {
        !matches!(
            self,
            Self::UnknownKey | Self::MissingKeyId | Self::NotYetValid | Self::IssuedInFuture
        )
    }
}
