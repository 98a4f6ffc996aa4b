//! The sign-in client: the browser flow's calls to Keycloak (the authorization URL with
//! state, nonce and PKCE S256, the code exchange, the refresh) and the checks of what comes
//! back.
//!
//! openidconnect builds the requests; every token that comes back is checked by
//! [`Oidc::verify`] and [`Oidc::validate_access_token`], against the same key store as
//! bearer tokens, so there is one set of rules and one JWKS cache.
//!
//! ID token (OIDC Core 3.1.3.7): signature, `iss`, `aud` contains the client id, `typ` ID,
//! `exp`/`iat` with leeway, `azp` (if present) equal to the client id, `nonce` equal to the
//! one sent. The access token of the response is validated as an access token too; its
//! claims become the session's identity.
//!
//! Decisions:
//! - The only audience this client trusts is its own client id: an ID token that lists any
//!   other audience is refused, with or without `azp` (3.1.3.7 step 3). `aud` is read from
//!   the already verified token's payload here, because nothing else needs it.
//! - The session's level of assurance (`acr`, `auth_time`) comes from the sign-in's ID token,
//!   which describes the authentication (OIDC Core 2); the callback checks it against what
//!   the sign-in asked for. A refresh keeps it (`session/mod.rs`).
//! - The ID token and the access token of one response must name the same `sub`, at sign-in
//!   and at every refresh that returns an ID token (Core 12.2): a response that mixes two
//!   users makes no session. (That a refresh keeps the session's user is the session
//!   layer's check.)
//!
//! The redirect URI is a parameter, not configuration: it is the URL of the callback
//! route, which only the routes layer knows.

use std::sync::Arc;

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreErrorResponseType};
use openidconnect::{
    AuthUrl, AuthenticationContextClass, AuthorizationCode, ClientId, CsrfToken, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, RefreshToken, RequestTokenError, Scope, TokenResponse, TokenUrl,
};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use super::tokens::{TokenError, TokenKind};
use super::verify::{Oidc, VerifyError};
use crate::assurance::Assurance;
use crate::identity::{Claims, Identity};

type FlowClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
    EndpointNotSet,
>;

/// A boxed cause, kept for `source()`.
type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Everything needed to send the browser to Keycloak and check the answer later.
#[derive(Debug)]
pub(crate) struct LoginRequest {
    /// Where to send the browser.
    pub url: url::Url,
    /// The `state` parameter.
    pub state: CsrfToken,
    /// The `nonce` parameter.
    pub nonce: Nonce,
    /// The PKCE verifier.
    pub pkce_verifier: PkceCodeVerifier,
}

/// Tokens from the token endpoint, checked. The access token itself is not kept: its
/// verified identity is, and the next refresh replaces both.
#[derive(Debug)]
pub(crate) struct Tokens {
    /// The identity from the access token (it expires at `identity.expires_at`).
    pub identity: Arc<Identity>,
    /// The ID token, if the response had one (a refresh may not).
    pub id_token: Option<String>,
    /// The refresh token, if any.
    pub refresh_token: Option<RefreshToken>,
}

/// Why a step of the browser flow failed.
#[derive(Debug)]
#[non_exhaustive]
pub(crate) enum FlowError {
    /// Metadata not discovered yet (Keycloak unreachable since start).
    NotDiscovered,
    /// Keycloak could not be reached.
    Unreachable(Cause),
    /// `oidc.client_secret` is not configured.
    NoClientSecret,
    /// A configured URL is not usable by the client (the configuration checks prevent it).
    BadUrl(url::ParseError),
    /// Keycloak refused the grant (`invalid_grant`: code reused, session ended).
    InvalidGrant,
    /// Another error from the token endpoint, or an answer it could not read.
    TokenEndpoint(Cause),
    /// A returned token failed validation.
    BadToken(TokenKind, VerifyError),
    /// The ID token's nonce is not ours.
    NonceMismatch,
    /// The ID token's `azp` is another client.
    AzpMismatch,
}

impl FlowError {
    /// Whether Keycloak (not the browser or the token) is the problem, so trying again
    /// later may work.
    pub(crate) fn is_unavailable(&self) -> bool {
        matches!(self, Self::NotDiscovered | Self::Unreachable(_))
    }

    /// Whether a refresh that failed this way ends the session for good: Keycloak refused
    /// the grant, or a returned token is wrong and will stay wrong (forged, for another
    /// client or audience, ...). Everything else may pass on a retry (Keycloak or its keys
    /// unreachable, a key not yet published, clock skew on the new token), so the session
    /// is kept.
    pub(crate) fn ends_session(&self) -> bool {
        match self {
            Self::InvalidGrant | Self::NonceMismatch | Self::AzpMismatch => true,
            // A fresh token refused as expired means our clock or Keycloak's is off.
            Self::BadToken(_, VerifyError::Rejected(e)) => {
                e.is_permanent() && *e != TokenError::Expired
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for FlowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotDiscovered => f.write_str("identity provider unavailable: not discovered yet"),
            Self::Unreachable(why) => write!(f, "identity provider unavailable: {why}"),
            Self::NoClientSecret => f.write_str("oidc.client_secret is not configured"),
            Self::BadUrl(e) => write!(f, "unusable URL: {e}"),
            Self::InvalidGrant => f.write_str("the identity provider refused the grant"),
            Self::TokenEndpoint(why) => write!(f, "token endpoint error: {why}"),
            Self::BadToken(kind, why) => write!(f, "{kind} token refused: {why:?}"),
            Self::NonceMismatch => f.write_str("ID token nonce mismatch"),
            Self::AzpMismatch => f.write_str("ID token azp is another client"),
        }
    }
}

impl std::error::Error for FlowError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Unreachable(e) | Self::TokenEndpoint(e) => Some(e.as_ref()),
            Self::BadUrl(e) => Some(e),
            Self::BadToken(_, e) => Some(e),
            _ => None,
        }
    }
}

/// The browser flow against one provider: borrow it from [`Oidc`] per operation.
pub(crate) struct SignInClient<'a> {
    oidc: &'a Oidc,
    client: FlowClient,
}

impl<'a> SignInClient<'a> {
    /// A client for `oidc`; fails while the provider is not discovered or without a secret.
    pub(crate) fn new(oidc: &'a Oidc) -> Result<Self, FlowError> {
        let config = oidc.config();
        let metadata = oidc.metadata().ok_or(FlowError::NotDiscovered)?;
        let secret = config.client_secret.as_ref().ok_or(FlowError::NoClientSecret)?;
        let client = CoreClient::new(
            ClientId::new(config.client_id.to_string()),
            IssuerUrl::new(config.issuer.to_string()).map_err(FlowError::BadUrl)?,
            Default::default(),
        )
        .set_client_secret(openidconnect::ClientSecret::new(secret.expose().to_owned()))
        .set_auth_uri(AuthUrl::from_url(metadata.authorization_endpoint.clone()))
        .set_token_uri(TokenUrl::from_url(metadata.token_endpoint.clone()));
        Ok(Self { oidc, client })
    }

    /// Starts a sign-in returning to `redirect`: a fresh `state`, `nonce` and PKCE S256
    /// challenge; with `step_up`, also `acr_values` and `max_age` (OIDC Core 3.1.2.1).
    pub(crate) fn begin_login(
        &self,
        redirect: &RedirectUrl,
        step_up: Option<&Assurance>,
    ) -> LoginRequest {
        let (challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = self
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_redirect_uri(std::borrow::Cow::Borrowed(redirect))
            .add_scope(Scope::new("profile".into()))
            .add_scope(Scope::new("email".into()))
            .set_pkce_challenge(challenge);
        if let Some(step_up) = step_up {
            request = request
                .add_auth_context_value(AuthenticationContextClass::new(step_up.acr.clone()));
            if let Some(max_age) = step_up.max_age {
                request = request.set_max_age(std::time::Duration::from_secs(max_age));
            }
        }
        let (url, state, nonce) = request.url();
        LoginRequest { url, state, nonce, pkce_verifier }
    }

    /// Exchanges an authorization code sent to `redirect`; checks the ID token (with
    /// `nonce`) and the access token.
    pub(crate) async fn exchange_code(
        &self,
        code: AuthorizationCode,
        pkce_verifier: PkceCodeVerifier,
        nonce: &Nonce,
        redirect: &RedirectUrl,
    ) -> Result<Tokens, FlowError> {
        let response = self
            .client
            .exchange_code(code)
            .set_redirect_uri(std::borrow::Cow::Borrowed(redirect))
            .set_pkce_verifier(pkce_verifier)
            .request_async(self.oidc.http())
            .await
            .map_err(token_error)?;
        let id_token = response
            .id_token()
            .map(|t| t.to_string())
            .ok_or_else(|| FlowError::TokenEndpoint("no ID token in the response".into()))?;
        let id_claims = self.checked_id_token(&id_token, Some(nonce)).await?;
        let refresh_token = response.refresh_token().cloned();
        let mut tokens = self
            .checked_tokens(response.access_token().secret(), Some(id_token), refresh_token)
            .await?;
        same_subject(&id_claims, &tokens)?;
        // The level of assurance is the authentication's, which the ID token describes.
        let mut identity = Arc::unwrap_or_clone(tokens.identity);
        identity.acr = id_claims.acr;
        identity.auth_time = id_claims.auth_time;
        tokens.identity = Arc::new(identity);
        Ok(tokens)
    }

    /// Uses a refresh token. [`FlowError::InvalidGrant`] means the Keycloak session ended.
    pub(crate) async fn refresh(&self, refresh_token: &RefreshToken) -> Result<Tokens, FlowError> {
        let response = self
            .client
            .exchange_refresh_token(refresh_token)
            .request_async(self.oidc.http())
            .await
            .map_err(token_error)?;
        let id_token = response.id_token().map(|t| t.to_string());
        let id_claims = match &id_token {
            Some(id_token) => Some(self.checked_id_token(id_token, None).await?),
            None => None,
        };
        let refresh_token = response.refresh_token().cloned();
        let tokens =
            self.checked_tokens(response.access_token().secret(), id_token, refresh_token).await?;
        if let Some(id_claims) = &id_claims {
            same_subject(id_claims, &tokens)?;
        }
        Ok(tokens)
    }

    async fn checked_tokens(
        &self,
        access_token: &str,
        id_token: Option<String>,
        refresh_token: Option<RefreshToken>,
    ) -> Result<Tokens, FlowError> {
        let identity = self
            .oidc
            .validate_access_token(access_token)
            .await
            .map_err(|e| FlowError::BadToken(TokenKind::Access, e))?;
        Ok(Tokens { identity, id_token, refresh_token })
    }

    /// Validates an ID token; `nonce` is required at login and absent on refresh.
    async fn checked_id_token(
        &self,
        token: &str,
        nonce: Option<&Nonce>,
    ) -> Result<Claims, FlowError> {
        let bad = |e| FlowError::BadToken(TokenKind::Id, e);
        let claims = self.oidc.verify(TokenKind::Id, token).await.map_err(bad)?;
        if claims.iat.is_none() {
            return Err(bad(TokenError::BadClaim("missing iat".into()).into()));
        }
        let client_id = &self.oidc.config().client_id;
        if audiences(token).is_none_or(|audiences| audiences.iter().any(|a| a != client_id)) {
            return Err(bad(TokenError::WrongAudience.into()));
        }
        if claims.azp.as_deref().is_some_and(|azp| azp != client_id) {
            return Err(FlowError::AzpMismatch);
        }
        if let Some(nonce) = nonce
            && claims.nonce.as_deref() != Some(nonce.secret().as_str())
        {
            return Err(FlowError::NonceMismatch);
        }
        Ok(claims)
    }
}

/// Refuses an ID token and an access token about different users.
fn same_subject(id_claims: &Claims, tokens: &Tokens) -> Result<(), FlowError> {
    if id_claims.sub == tokens.identity.sub {
        return Ok(());
    }
    let why = TokenError::BadClaim("sub differs from the access token's".into());
    Err(FlowError::BadToken(TokenKind::Id, why.into()))
}

/// `aud` of a JWT: a string or a list of strings (RFC 7519 §4.1.3).
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct AudienceClaim {
    aud: Audience,
}

/// The audiences of a token whose signature was verified; `None` if it has no readable
/// `aud` (verification requires one, so that does not happen).
fn audiences(token: &str) -> Option<Vec<String>> {
    let payload = URL_SAFE_NO_PAD.decode(token.split('.').nth(1)?).ok()?;
    match serde_json::from_slice::<AudienceClaim>(&payload).ok()?.aud {
        Audience::One(audience) => Some(vec![audience]),
        Audience::Many(audiences) => Some(audiences),
    }
}

fn token_error<E: std::error::Error + Send + Sync + 'static>(
    error: RequestTokenError<E, openidconnect::StandardErrorResponse<CoreErrorResponseType>>,
) -> FlowError {
    match error {
        RequestTokenError::ServerResponse(response)
            if *response.error() == CoreErrorResponseType::InvalidGrant =>
        {
            FlowError::InvalidGrant
        }
        RequestTokenError::ServerResponse(response) => {
            FlowError::TokenEndpoint(response.error().to_string().into())
        }
        RequestTokenError::Request(e) => FlowError::Unreachable(Box::new(e)),
        RequestTokenError::Parse(e, _) => FlowError::TokenEndpoint(Box::new(e)),
        RequestTokenError::Other(e) => FlowError::TokenEndpoint(e.into()),
    }
}
