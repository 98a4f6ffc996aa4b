//! The browser flow's calls to Keycloak: the authorization URL (state, nonce, PKCE S256),
//! the code exchange, the refresh, and the checks of the ID and logout tokens.
//!
//! openidconnect builds the requests; every token that comes back is checked with this
//! crate's own [`TokenRules`](super::tokens::TokenRules) against the same key cache as bearer tokens, so there is
//! one set of rules and one JWKS cache.
//!
//! ID token (OIDC Core 3.1.3.7): signature, `iss`, `aud` contains the client id, `typ` ID,
//! `exp`/`iat` with leeway, `azp` (if present) equal to the client id, `nonce` equal to the
//! one sent. The access token of the response is validated as an access token too; its
//! claims become the session's identity.

use std::sync::Arc;

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreErrorResponseType};
use openidconnect::{
    AuthUrl, AuthorizationCode, ClientId, CsrfToken, EndpointNotSet, EndpointSet, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken,
    RequestTokenError, Scope, TokenResponse,
};

use super::Oidc;
use super::tokens::TokenError;
use crate::error::AuthError;
use crate::identity::{Claims, Identity};

type FlowClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
    EndpointNotSet,
>;

/// Everything needed to send the browser to Keycloak and check the answer later.
pub struct LoginRequest {
    /// Where to send the browser.
    pub url: url::Url,
    /// The `state` parameter.
    pub state: String,
    /// The `nonce` parameter.
    pub nonce: String,
    /// The PKCE verifier.
    pub pkce_verifier: String,
}

/// Tokens from the token endpoint, checked.
pub struct Tokens {
    /// The identity from the access token.
    pub identity: Arc<Identity>,
    /// The access token (it expires at `identity.expires_at`).
    pub access_token: String,
    /// The ID token, if the response had one (a refresh may not).
    pub id_token: Option<String>,
    /// The refresh token, if any.
    pub refresh_token: Option<String>,
}

/// Why a step of the browser flow failed.
#[derive(Debug)]
pub enum FlowError {
    /// Metadata or keys not loaded, or Keycloak unreachable.
    Unavailable(String),
    /// `oidc.client_secret` is not configured.
    NoClientSecret,
    /// Keycloak refused the grant (`invalid_grant`: code reused, session ended).
    InvalidGrant,
    /// Another error from the token endpoint.
    TokenEndpoint(String),
    /// A returned token failed validation.
    BadToken(&'static str, AuthError),
    /// The ID token's nonce is not ours.
    NonceMismatch,
    /// The ID token's `azp` is another client.
    AzpMismatch,
}

impl std::fmt::Display for FlowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unavailable(why) => write!(f, "identity provider unavailable: {why}"),
            Self::NoClientSecret => f.write_str("oidc.client_secret is not configured"),
            Self::InvalidGrant => f.write_str("the identity provider refused the grant"),
            Self::TokenEndpoint(why) => write!(f, "token endpoint error: {why}"),
            Self::BadToken(kind, why) => write!(f, "{kind} token refused: {why:?}"),
            Self::NonceMismatch => f.write_str("ID token nonce mismatch"),
            Self::AzpMismatch => f.write_str("ID token azp is another client"),
        }
    }
}

impl std::error::Error for FlowError {}

impl Oidc {
    fn flow_client(&self) -> Result<FlowClient, FlowError> {
        let config = self.config();
        let metadata =
            self.metadata().ok_or_else(|| FlowError::Unavailable("not discovered yet".into()))?;
        let secret = config.client_secret.as_ref().ok_or(FlowError::NoClientSecret)?;
        let bad = |e: url::ParseError| FlowError::Unavailable(e.to_string());
        Ok(CoreClient::new(
            ClientId::new(config.client_id.clone()),
            IssuerUrl::new(config.issuer.clone()).map_err(bad)?,
            Default::default(),
        )
        .set_client_secret(openidconnect::ClientSecret::new(secret.expose().to_owned()))
        .set_auth_uri(AuthUrl::from_url(metadata.authorization_endpoint.clone()))
        .set_token_uri(openidconnect::TokenUrl::from_url(metadata.token_endpoint.clone()))
        .set_redirect_uri(RedirectUrl::new(config.app_path("/authorize")).map_err(bad)?))
    }

    /// Starts a sign-in: a fresh `state`, `nonce` and PKCE S256 challenge.
    pub fn begin_login(&self) -> Result<LoginRequest, FlowError> {
        let client = self.flow_client()?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("profile".into()))
            .add_scope(Scope::new("email".into()))
            .set_pkce_challenge(challenge)
            .url();
        Ok(LoginRequest {
            url,
            state: state.into_secret(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.into_secret(),
        })
    }

    /// Exchanges an authorization code; checks the ID token (with `nonce`) and access token.
    pub async fn exchange_code(
        &self,
        code: String,
        pkce_verifier: String,
        nonce: &str,
    ) -> Result<Tokens, FlowError> {
        let client = self.flow_client()?;
        let response = client
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier))
            .request_async(self.http())
            .await
            .map_err(token_error)?;
        let id_token = response
            .id_token()
            .map(|t| t.to_string())
            .ok_or(FlowError::TokenEndpoint("no ID token in the response".into()))?;
        self.validate_id_token(&id_token, Some(nonce)).await?;
        let refresh_token = response.refresh_token().map(|t| t.secret().clone());
        self.checked_tokens(response.access_token().secret().clone(), Some(id_token), refresh_token)
            .await
    }

    /// Uses a refresh token. [`FlowError::InvalidGrant`] means the Keycloak session ended.
    pub async fn refresh_tokens(&self, refresh_token: &str) -> Result<Tokens, FlowError> {
        let client = self.flow_client()?;
        let response = client
            .exchange_refresh_token(&RefreshToken::new(refresh_token.to_owned()))
            .request_async(self.http())
            .await
            .map_err(token_error)?;
        let id_token = response.id_token().map(|t| t.to_string());
        if let Some(id_token) = &id_token {
            self.validate_id_token(id_token, None).await?;
        }
        let refresh = response.refresh_token().map(|t| t.secret().clone());
        self.checked_tokens(response.access_token().secret().clone(), id_token, refresh).await
    }

    async fn checked_tokens(
        &self,
        access_token: String,
        id_token: Option<String>,
        refresh_token: Option<String>,
    ) -> Result<Tokens, FlowError> {
        let identity = self
            .validate_access_token(&access_token)
            .await
            .map_err(|e| FlowError::BadToken("access", e))?;
        Ok(Tokens { identity, access_token, id_token, refresh_token })
    }

    /// Validates an ID token; `nonce` is required at login and absent on refresh.
    pub async fn validate_id_token(
        &self,
        token: &str,
        nonce: Option<&str>,
    ) -> Result<Claims, FlowError> {
        let claims = self
            .validate_with(&self.inner.id_rules, token)
            .await
            .map_err(|e| FlowError::BadToken("ID", e))?;
        if claims.iat.is_none() {
            return Err(FlowError::BadToken(
                "ID",
                AuthError::InvalidToken(TokenError::BadClaim("missing iat".into())),
            ));
        }
        if claims.azp.as_deref().is_some_and(|azp| azp != self.config().client_id) {
            return Err(FlowError::AzpMismatch);
        }
        if let Some(nonce) = nonce
            && claims.nonce.as_deref() != Some(nonce)
        {
            return Err(FlowError::NonceMismatch);
        }
        Ok(claims)
    }

    /// Validates a back-channel logout token (OIDC Back-Channel Logout 1.0 §2.6) except
    /// for `jti` replay, which the session layer tracks.
    pub async fn validate_logout_token(&self, token: &str) -> Result<Claims, AuthError> {
        let claims = self.validate_with(&self.inner.logout_rules, token).await?;
        let bad = |why: &str| Err(AuthError::InvalidToken(TokenError::BadClaim(why.into())));
        const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
        if !claims.events.as_ref().is_some_and(|e| e.get(EVENT).is_some_and(|v| v.is_object())) {
            return bad("events has no back-channel logout event");
        }
        if claims.nonce.is_some() {
            return bad("logout token carries a nonce");
        }
        if claims.sid.is_none() && claims.sub.is_empty() {
            return bad("neither sid nor sub");
        }
        if claims.iat.is_none() || claims.jti.is_none() {
            return bad("missing iat or jti");
        }
        Ok(claims)
    }
}

fn token_error<E: std::error::Error>(
    error: RequestTokenError<E, openidconnect::StandardErrorResponse<CoreErrorResponseType>>,
) -> FlowError {
    match error {
        RequestTokenError::ServerResponse(response)
            if *response.error() == CoreErrorResponseType::InvalidGrant =>
        {
            FlowError::InvalidGrant
        }
        RequestTokenError::ServerResponse(response) => {
            FlowError::TokenEndpoint(response.error().to_string())
        }
        RequestTokenError::Request(e) => FlowError::Unavailable(e.to_string()),
        RequestTokenError::Parse(e, _) => FlowError::TokenEndpoint(format!("unreadable: {e}")),
        RequestTokenError::Other(e) => FlowError::TokenEndpoint(e),
    }
}
