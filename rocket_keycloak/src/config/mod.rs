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
//!
//! | file | holds |
//! |---|---|
//! | `raw.rs` | the keys as written in `Rocket.toml` or `OIDC_*`, and the list of known keys |
//! | `load.rs` | [`OidcConfig`]: `from_figment`, the cross-key checks, `app_path`, `realm` |
//! | `realms.rs` | [`RealmConfig`], one entry of `oidc.issuers`, and the realm name rule |
//! | `checks.rs` | the shared value checks: required, absolute http(s) URL, https or loopback |
//! | `policies.rs` | session store, metrics, DPoP policy and the algorithm allow-list |
//! | `secret.rs` | [`ClientSecret`], redacted in `Debug` |
//! | `error.rs` | [`ConfigError`], the message that names the key and its variable |
//!
//! Child files name each other by sibling path (`super::raw::RawConfig`), never through
//! the re-exports below, so the module graph stays free of cycles.

mod checks;
mod error;
mod load;
mod policies;
mod raw;
mod realms;
mod secret;

pub use error::ConfigError;
pub use load::OidcConfig;
pub use policies::{DEFAULT_ALGORITHMS, DpopPolicy, MetricsConfig, SessionStoreConfig};
pub use realms::RealmConfig;
pub(crate) use realms::realm_name;
pub use secret::ClientSecret;
