//! Browser sessions: a server-side store behind [`SessionStore`], an opaque id in a
//! private cookie, and the one-per-session token refresh.
//!
//! | file | holds |
//! |---|---|
//! | `cookie.rs` | the session cookie and random ids ([`SESSION_COOKIE`], [`random_id`]) |
//! | `sessions.rs` | [`Sessions`]: the layer as Rocket state, and the token refresh |
//! | `refresh.rs` | when to refresh, the refresh locks, and how long a refresh may take |
//! | `error.rs` | [`SessionError`], and the rate-limited report of store errors |
//! | `record.rs` | [`Session`], the record a store keeps, and [`StoreError`] |
//! | `store.rs` | the [`SessionStore`] trait: what every store guarantees |
//! | `memory.rs` | [`MemoryStore`], the default in-process store |
//! | `redis/`, `sealed.rs` | `RedisStore`, the shared store, and its sealed records (`redis` feature) |
//!
//! This file holds only this doc and the re-exports; the children name each other by
//! sibling paths (`super::store::SessionStore`), so the module graph has no cycle.
//!
//! Decisions (each stated in full in the file that makes it):
//! - Tokens stay on the server; the cookie holds only a random 256-bit id, encrypted and
//!   authenticated, and a new one at every login (`cookie.rs`).
//! - [`MemoryStore`] is the default (`memory.rs` says how it is bounded and evicts); the
//!   trait is async and keyed by strings so a shared store can replace it (`store.rs`).
//! - Sessions are indexed by Keycloak's `sid` and by `sub`, so a back-channel logout can
//!   end every matching session (`store.rs`).
//! - A session keeps the identity of its latest access token, not the token itself: the
//!   app never sends it anywhere, and a refresh replaces both.
//! - **When to refresh:** with a quarter of the access token's lifetime left, at most the
//!   leeway ([`refresh_margin`]); **what ends a session at refresh:** only a permanent
//!   refusal, and only at the revision it was read at; **a refresh never resurrects a
//!   session** (`sessions.rs`); the cross-instance refresh lock outlives the slowest
//!   refresh (`refresh.rs`).
//! - **Logout-token replay** (`jti`) is remembered as long as the token could be accepted,
//!   bounded by time, never by refusing a logout (`store.rs`).
//! - Errors are this layer's own ([`SessionError`]); the HTTP boundary decides what a
//!   client sees (`error.rs`).
//!
//! [`refresh_margin`]: refresh::refresh_margin

mod cookie;
mod error;
mod memory;
mod record;
#[cfg(feature = "redis")]
mod redis;
mod refresh;
#[cfg(feature = "redis")]
mod sealed;
mod sessions;
mod store;

#[cfg_attr(not(feature = "testing"), allow(unused_imports))] // the `testing` module's path
pub use cookie::random_id;
pub use cookie::{SECURE_SESSION_COOKIE, SESSION_COOKIE, session_cookie_name};
pub(crate) use cookie::{clear_session_cookie, session_id, set_session_cookie};
pub use error::SessionError;
pub use memory::MemoryStore;
pub use record::{Session, StoreError};
#[cfg(feature = "redis")]
pub use redis::RedisStore;
pub use sessions::Sessions;
pub use store::SessionStore;
