//! The call itself: one POST to the introspection endpoint with the app's client
//! credentials, limited in time ([`CALL_TIMEOUT`]) and size ([`MAX_ANSWER_BYTES`]).

use std::time::Duration;

use url::Url;

use crate::config::ClientSecret;
use crate::protocol::ClientId;

/// Longest answer accepted: Keycloak's answer is a token's claims, a few KiB.
pub(crate) const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// Longest wait for an answer (and for a turn to ask, see `introspector.rs`).
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// Why no answer could be read; each is an outage for the caller (503).
#[derive(Debug)]
pub(super) enum CallError {
    /// Connection, timeout or an unreadable body.
    Request(reqwest::Error),
    /// Not 200 (bad client credentials answer 401).
    Status(reqwest::StatusCode),
    /// Over [`MAX_ANSWER_BYTES`].
    TooLarge,
    /// No whole answer within [`CALL_TIMEOUT`].
    Timeout,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Request(e) => write!(f, "introspection request failed: {e}"),
            Self::Status(status) => write!(f, "introspection answered {status}"),
            Self::TooLarge => write!(f, "introspection answer over {MAX_ANSWER_BYTES} bytes"),
            Self::Timeout => write!(f, "no introspection answer within {CALL_TIMEOUT:?}"),
        }
    }
}

/// Asks `endpoint` about `token`, as `client_id` with `secret`: the answer's bytes.
pub(super) async fn introspect(
    http: &reqwest::Client,
    endpoint: &Url,
    client_id: &ClientId,
    secret: &ClientSecret,
    token: &str,
) -> Result<Vec<u8>, CallError> {
    let form = [
        ("token", token),
        ("token_type_hint", "access_token"),
        ("client_id", client_id.as_str()),
        ("client_secret", secret.expose()),
    ];
    let request = http.post(endpoint.clone()).header("accept", "application/json").form(&form);
    // The whole exchange, body included, within the limit (the client's own timeout is
    // longer, for documents).
    let read = async {
        let mut response = request.send().await.map_err(CallError::Request)?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(CallError::Status(response.status()));
        }
        if response.content_length().is_some_and(|n| n > MAX_ANSWER_BYTES as u64) {
            return Err(CallError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(CallError::Request)? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(CallError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    rocket::tokio::time::timeout(CALL_TIMEOUT, read).await.unwrap_or(Err(CallError::Timeout))
}
