//! Typed OIDC configuration, read once from Rocket's figment and checked before launch.
//!
//! The `oidc` table of `Rocket.toml` (`[default.oidc]`) is the source; [`crate::figment()`]
//! lets `OIDC_<KEY>` environment variables override it. Everything is parsed and checked
//! here, so a typo fails launch with a message naming the key instead of surfacing as a
//! 401 at the first request.
//!
//! Decisions:
//! - The client secret is a [`ClientSecret`]: its `Debug` prints `[redacted]` and there is no
//!   `Display`, so it cannot reach a log by accident.
//! - `algorithms` may only name asymmetric JWS algorithms. `HS*` is refused at load time,
//!   because a shared-secret algorithm next to published public keys is the classic
//!   key-confusion hole; `none` is not even representable.
//! - `audience` defaults to `client_id`: Keycloak only puts the API into `aud` through an
//!   Audience mapper, and checking some audience is always safer than checking none.
//! - `issuer` and `discovery_url` must be https, except for loopback hosts (`localhost`,
//!   127.0.0.0/8, `::1`: nobody else is on that path) or with `allow_insecure_http = true`:
//!   the keys come from there, and whoever can change them in transit can sign tokens. The
//!   opt-in is for a trusted private network (docker-compose's `keycloak` service), and
//!   `app_url` is not concerned (an http app only loses `Secure` cookies).
//! - A plain `redis://` session store must be on a loopback host too, unless
//!   `allow_insecure_redis = true`: whoever answers for Redis can call a replayed proof or
//!   logout token new and drop logouts. `rediss://` is always accepted.
//! - `dpop_proofs_per_key` bounds the live DPoP proofs of one client key (10 000 by default):
//!   one key's flood refuses that key, never everyone (`oidc/dpop/`).
//! - Each further realm of `issuers` has its own `allowed_azp` and `acr_levels`, never the
//!   sign-in realm's (client ids and level names mean what that realm's administrator made
//!   them). If `allowed_azp` restricts the sign-in realm, a further realm without its own
//!   list fails launch; with no list anywhere, no realm restricts `azp`. A further realm
//!   without `acr_levels` has none: its tokens meet no level (`realms.rs`).
//! - `metrics` is `off` unless set: the numbers behind `/metrics` (active sessions, sign-in
//!   and refresh rates, Keycloak outages) are not for everyone, and a default listener would
//!   take a port nobody chose. An address (`127.0.0.1:9100`, or the container's network
//!   address) serves them on a listener of their own; `on`, on the app's port
//!   ([`MetricsConfig`], `policies.rs`).
//!
//! | file | holds |
//! |---|---|
//! | `raw.rs` | the keys as written in `Rocket.toml` or `OIDC_*`, and the list of known keys |
//! | `load.rs` | [`OidcConfig`]: `from_figment`, the cross-key checks, `app_path`, `realm` |
//! | `realms.rs` | [`RealmConfig`], the entries of `oidc.issuers` and their own settings, the realm name rule |
//! | `checks.rs` | the shared value checks: required, absolute http(s) URL, https or loopback |
//! | `policies.rs` | metrics, DPoP policy and the algorithm allow-list |
//! | `session_store.rs` | where sessions live, and the loopback rule for plain Redis |
//! | `redis_target.rs` | the three Redis URL forms: one server, Sentinel, Cluster |
//! | `introspection.rs` | [`IntrospectionConfig`]: `introspection` (off, fallback, always) and the cache's age |
//! | `deployment.rs` | [`DeploymentConfig`]: `log_format` ([`LogFormat`]) and the certificates trusted for Keycloak |
//! | `resource.rs` | [`ResourceMetadata`], the RFC 9728 document's settings and URL |
//! | `secret.rs` | [`ClientSecret`], redacted in `Debug` |
//! | `error.rs` | [`ConfigError`], the message that names the key and its variable |
//!
//! Child files name each other by sibling path (`super::raw::RawConfig`), never through
//! the re-exports below, so the module graph stays free of cycles.

mod checks;
mod deployment;
mod error;
mod introspection;
mod load;
mod policies;
mod raw;
mod realms;
mod redis_target;
mod resource;
mod secret;
mod session_store;

pub use deployment::{DeploymentConfig, LogFormat, TlsRoots, TlsTrust};
pub use error::ConfigError;
pub use introspection::{IntrospectionConfig, IntrospectionMode};
pub use load::OidcConfig;
pub use policies::{DEFAULT_ALGORITHMS, DpopPolicy, MetricsConfig};
pub use realms::RealmConfig;
pub(crate) use realms::realm_name;
#[cfg(feature = "redis")]
pub(crate) use redis_target::{Credentials, RedisTarget};
pub use resource::ResourceMetadata;
#[cfg(test)]
pub(crate) use resource::WELL_KNOWN;
pub use secret::ClientSecret;
pub use session_store::SessionStoreConfig;
