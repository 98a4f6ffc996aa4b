//! [`Introspector`]: one realm's introspection, with the answer cache, single flight and
//! the bound on concurrent calls (the decisions are in `introspect/mod.rs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use quick_cache::sync::Cache;
use rocket::tokio::sync::{OnceCell, Semaphore};

use super::answer::{Expected, judge};
use super::call::{CALL_TIMEOUT, introspect};
use crate::clock::unix_now;
use crate::config::{ClientSecret, OidcConfig, RealmConfig};
use crate::identity::Identity;
use crate::oidc::cache::TokenDigest;
use crate::oidc::discovery::ProviderMetadata;
use crate::oidc::tokens::{TokenError, TokenRules};
use crate::protocol::ClientId;

/// How long a refusal (inactive, or an answer that failed a check) is remembered.
pub(crate) const INACTIVE_TTL: Duration = Duration::from_secs(10);
/// Introspection calls in flight at once, per realm.
pub(crate) const MAX_CONCURRENT_CALLS: usize = 16;
/// Answers remembered.
const CAPACITY: usize = 10_000;

/// What became of one token: its identity, its refusal, or no answer (an outage).
#[derive(Debug, Clone)]
pub(crate) enum Verdict {
    /// Active, and every check passed.
    Active(Arc<Identity>),
    /// Refused: inactive, or the answer failed a check.
    Refused(TokenError),
    /// No usable answer (unreachable, slow, too large, busy): the token may be fine.
    Unavailable,
}

/// The calls in flight: each token's shared answer and the number of requests waiting on
/// it.
type Flights = HashMap<TokenDigest, (Arc<OnceCell<Verdict>>, usize)>;

/// One realm's introspection.
pub(crate) struct Introspector {
    http: reqwest::Client,
    client_id: ClientId,
    secret: ClientSecret,
    expected: Expected,
    max_age: Duration,
    /// Answers by token digest, with when they stop counting.
    answers: Cache<TokenDigest, (Instant, Verdict)>,
    /// The calls in flight, by token digest (single flight), with how many requests wait.
    in_flight: Mutex<Flights>,
    permits: Semaphore,
}

/// One request leaving a flight: the last one out removes it (counted under the lock, so
/// two leaving at once cannot both think the other remains).
struct Leave<'a> {
    map: &'a Mutex<Flights>,
    key: TokenDigest,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        let mut in_flight = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, waiting)) = in_flight.get_mut(&self.key) {
            *waiting -= 1;
            if *waiting == 0 {
                in_flight.remove(&self.key);
            }
        }
    }
}

impl Introspector {
    /// The introspection of `realm` with the app's credentials, if configured (`None`
    /// when `introspection` is off or the app has no secret).
    pub(crate) fn new(
        config: &OidcConfig,
        realm: &RealmConfig,
        http: &reqwest::Client,
    ) -> Option<Self> {
        Some(Self {
            http: http.clone(),
            client_id: config.client_id.clone(),
            secret: config.client_secret.clone()?,
            expected: Expected {
                issuer: realm.issuer.as_str().to_owned(),
                audience: realm.audience.clone(),
                allowed_azp: realm.allowed_azp.clone(),
            },
            max_age: config.introspection.cache_max_age,
            answers: Cache::new(CAPACITY),
            in_flight: Mutex::default(),
            permits: Semaphore::new(MAX_CONCURRENT_CALLS),
        })
    }

    /// The verdict on `token`, whose SHA-256 is `key`: remembered, or shared with a call in
    /// flight, or asked.
    pub(crate) async fn check(
        &self,
        token: &str,
        key: TokenDigest,
        metadata: Option<Arc<ProviderMetadata>>,
        rules: &TokenRules,
    ) -> Verdict {
        if let Some(verdict) = self.remembered(&key) {
            metrics::counter!("rocket_keycloak_introspection_cache_total", "result" => "hit")
                .increment(1);
            return verdict;
        }
        metrics::counter!("rocket_keycloak_introspection_cache_total", "result" => "miss")
            .increment(1);
        let flight = {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            let (flight, waiting) = in_flight.entry(key).or_default();
            *waiting += 1;
            flight.clone()
        };
        // Taken out of the map when its last request ends, answered or dropped (a client
        // that hangs up): otherwise each such token would leave an entry for good.
        let _leave = Leave { map: &self.in_flight, key };
        // Whoever comes first asks; the others wait for that answer. If the asking request
        // is dropped, the next waiter asks instead.
        flight.get_or_init(|| self.ask(key, token, metadata.as_deref(), rules)).await.clone()
    }

    fn remembered(&self, key: &TokenDigest) -> Option<Verdict> {
        let (until, verdict) = self.answers.get(key)?;
        if Instant::now() < until {
            Some(verdict)
        } else {
            self.answers.remove(key);
            None
        }
    }

    /// One call, within the concurrency bound; the answer is remembered before the flight
    /// ends, so a request arriving after it finds it.
    async fn ask(
        &self,
        key: TokenDigest,
        token: &str,
        metadata: Option<&ProviderMetadata>,
        rules: &TokenRules,
    ) -> Verdict {
        let Some(endpoint) = metadata.and_then(|m| m.introspection_endpoint.as_ref()) else {
            if metadata.is_some() {
                log::error!(
                    "introspection is on, but the realm's discovery document names no introspection_endpoint"
                );
            }
            return Verdict::Unavailable;
        };
        let Ok(Ok(_permit)) =
            rocket::tokio::time::timeout(CALL_TIMEOUT, self.permits.acquire()).await
        else {
            metrics::counter!("rocket_keycloak_introspections_total", "result" => "busy")
                .increment(1);
            return Verdict::Unavailable;
        };
        let body = introspect(&self.http, endpoint, &self.client_id, &self.secret, token).await;
        let answer = body.map_err(|e| e.to_string()).and_then(|body| {
            let value = serde_json::from_slice::<serde_json::Value>(&body);
            value
                .ok()
                .filter(|v| v.is_object())
                .ok_or_else(|| "introspection answer is not a JSON object".into())
        });
        let answer = match answer {
            Ok(answer) => answer,
            Err(error) => {
                log::warn!("{error}");
                metrics::counter!("rocket_keycloak_introspections_total", "result" => "error")
                    .increment(1);
                return Verdict::Unavailable;
            }
        };
        let now = unix_now();
        let (verdict, until) = match judge(answer, &self.expected, rules, now) {
            Ok((identity, exp)) => {
                let left = Duration::try_from_secs_f64(exp - now as f64).unwrap_or_default();
                (Verdict::Active(identity), Instant::now() + left.min(self.max_age))
            }
            Err(error) => (Verdict::Refused(error), Instant::now() + INACTIVE_TTL),
        };
        let result = match &verdict {
            Verdict::Active(_) => "active",
            Verdict::Refused(TokenError::Inactive) => "inactive",
            _ => "refused",
        };
        metrics::counter!("rocket_keycloak_introspections_total", "result" => result).increment(1);
        self.answers.insert(key, (until, verdict.clone()));
        verdict
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::task::Poll;

    use super::*;
    use crate::oidc::cache::digest;
    use crate::oidc::tokens::TokenKind;

    #[tokio::test]
    async fn a_request_dropped_while_its_call_is_in_flight_leaves_nothing_behind() {
        // An endpoint that takes the connection and never answers.
        let silent = rocket::tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}/realms/demo", silent.local_addr().unwrap());
        let figment = rocket::figment::Figment::new().merge((
            "oidc",
            serde_json::json!({
                "issuer": issuer, "client_id": "demo-app", "client_secret": "s",
                "introspection": "always",
            }),
        ));
        let config = OidcConfig::from_figment(&figment).unwrap();
        let introspector =
            Introspector::new(&config, &config.realms[0], &reqwest::Client::new()).unwrap();
        let metadata: ProviderMetadata = serde_json::from_value(serde_json::json!({
            "issuer": issuer, "jwks_uri": format!("{issuer}/certs"),
            "authorization_endpoint": format!("{issuer}/auth"),
            "token_endpoint": format!("{issuer}/token"),
            "introspection_endpoint": format!("{issuer}/token/introspect"),
        }))
        .unwrap();
        let rules = TokenRules::new(TokenKind::Access, &issuer, "demo-app", 0, &[]);
        let in_flight = || introspector.in_flight.lock().unwrap().len();
        // A flood of distinct tokens whose clients hang up mid-call (the request's future
        // is dropped) must not leave one entry each.
        for i in 0..3 {
            let token = format!("junk-{i}");
            let metadata = Some(Arc::new(metadata.clone()));
            let mut check = pin!(introspector.check(&token, digest(&token), metadata, &rules));
            std::future::poll_fn(|cx| {
                assert!(check.as_mut().poll(cx).is_pending(), "the call hangs");
                Poll::Ready(())
            })
            .await;
            assert_eq!(in_flight(), 1, "the call is in flight");
        }
        assert_eq!(in_flight(), 0, "every dropped request took its entry with it");
    }
}
