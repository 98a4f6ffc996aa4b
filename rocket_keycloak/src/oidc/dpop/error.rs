//! [`DpopError`]: why a DPoP proof was refused; its `Display` is the public description.

/// Why a DPoP proof was refused. The `Display` text is the public `error_description`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DpopError {
    /// `Authorization: DPoP` without a `DPoP` header, or with several.
    MissingProof,
    /// Not a compact JWS within the size limit, or unreadable.
    Malformed,
    /// The header's `typ` is not `dpop+jwt`, or it names its key another way.
    Header,
    /// The `jwk` is missing, private, symmetric or of an unsupported type.
    Key,
    /// `alg` is not allowed or does not fit the key.
    Algorithm,
    /// The signature does not verify with the `jwk`.
    Signature,
    /// `htm` is not this request's method.
    Method,
    /// `htu` is not this request's URL.
    Uri,
    /// `iat` is missing, too old or in the future.
    Time,
    /// `jti` is missing or too long.
    Id,
    /// `ath` is missing or not the hash of the access token.
    AccessTokenHash,
    /// The key is not the one the access token is bound to.
    KeyBinding,
    /// This proof was used before.
    Replayed,
}

impl std::fmt::Display for DpopError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::MissingProof => "Send exactly one DPoP proof header",
            Self::Malformed => "The DPoP proof is malformed",
            Self::Header => "The DPoP proof header is not acceptable",
            Self::Key => "The DPoP proof key is not an acceptable public key",
            Self::Algorithm => "The DPoP proof algorithm is not allowed",
            Self::Signature => "The DPoP proof signature is invalid",
            Self::Method => "The DPoP proof is for another method",
            Self::Uri => "The DPoP proof is for another URL",
            Self::Time => "The DPoP proof is too old or not valid yet",
            Self::Id => "The DPoP proof has no usable jti",
            Self::AccessTokenHash => "The DPoP proof does not match the access token",
            Self::KeyBinding => "The DPoP proof key is not the one the token is bound to",
            Self::Replayed => "The DPoP proof was already used",
        })
    }
}

impl std::error::Error for DpopError {}

impl DpopError {
    /// The `reason` label of `rocket_keycloak_dpop_rejections_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MissingProof | Self::Malformed | Self::Header => "malformed",
            Self::Key | Self::Algorithm => "key",
            Self::Signature => "signature",
            Self::Method | Self::Uri => "target",
            Self::Time | Self::Id => "time",
            Self::AccessTokenHash | Self::KeyBinding => "binding",
            Self::Replayed => "replayed",
        }
    }
}
