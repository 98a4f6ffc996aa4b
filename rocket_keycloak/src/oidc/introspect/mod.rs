//! Token introspection (RFC 7662): Keycloak's lightweight access tokens carry no `sub` and
//! no roles, so the caller's identity comes from the realm's introspection endpoint,
//! asked with the app's own confidential client (`client_id`, `client_secret`).
//!
//! | file | holds | I/O |
//! |---|---|---|
//! | `answer.rs` | the checks of an introspection answer and the [`Identity`](crate::identity::Identity) built from it | none |
//! | `call.rs` | the POST to the endpoint, with its time and size limits | network |
//! | `introspector.rs` | `Introspector`: the answer cache, single flight and the bound on concurrent calls | through `call.rs` |
//!
//! # Decisions
//! - **When** (`oidc.introspection`, see `config/introspection.rs`): `off` changes nothing
//!   (one branch on the hot path). `fallback` verifies a JWT locally as before and asks
//!   Keycloak only when the verified token lacks the caller's claims: no `sub`, or neither
//!   `realm_access` nor `resource_access` (a guard's needs are not known when the caller
//!   is authenticated, once per request, so "no role claims" stands for "`RequireRole`
//!   cannot work"). `always` asks for every token. In both, a token without a `.` (not a
//!   JWT: an opaque reference) goes to introspection directly.
//! - **A JWT that fails local verification is never introspected.** A bad signature, an
//!   expired token, a wrong issuer or audience is refused at once: Keycloak is not a second
//!   opinion that a forged token could shop for, and forgeries cost Keycloak nothing.
//!   The other way round, **a token Keycloak calls inactive, or whose answer fails a check,
//!   is refused** (401 `invalid_token`): it never falls back to its local acceptance.
//! - **The answer is checked like a token** (`answer.rs`): `active` must be exactly
//!   `true`; `iss` must be the realm's issuer, `aud` must hold the audience, `typ` and
//!   `cnf` must make an access token, `azp` must be allowed, `sub` must be present, and the
//!   time rules apply. Roles keep the realm/client split of [`Identity`](crate::identity::Identity).
//! - **Only the sign-in realm introspects**: the app's credentials are a client of that
//!   realm. Tokens of further realms (`oidc.issuers`) are verified locally only, and still
//!   need `sub`.
//! - **Cache** (by the SHA-256 of the token, bounded; the same digest that keys the
//!   verified-token cache, computed once per request): an active answer is reused until
//!   the token's `exp` or `introspection_cache_max_age`, whichever comes first, so a
//!   revocation is seen within that age; a refusal for `INACTIVE_TTL` (10 s). An outage is
//!   never cached.
//! - **Single flight**: concurrent requests with one new token share one call. The shared
//!   call leaves the in-flight map with its last request, answered or dropped (a client
//!   that hangs up), so hung-up requests cannot grow the map.
//! - **Bounded calls**: at most `MAX_CONCURRENT_CALLS` (16) calls run at once; a request that
//!   waits longer than `CALL_TIMEOUT` (3 s) for its turn gets 503 + `Retry-After`. A flood of
//!   distinct junk tokens thus costs Keycloak at most that many calls at a time (JWT-shaped
//!   junk costs none: it fails locally), and each refused token is remembered.
//! - **Failures**: unreachable, slow (past `CALL_TIMEOUT` (3 s)), a non-200 status, or an
//!   answer over `MAX_ANSWER_BYTES` (64 KiB) or not JSON: 503 with `Retry-After`, never 200 (the
//!   token may be fine; we cannot tell).
//! - **Metrics**: `rocket_keycloak_introspections_total{result}` (`active`, `inactive`,
//!   `refused`, `error`, `busy`) and `rocket_keycloak_introspection_cache_total{result}`.

mod answer;
mod call;
mod introspector;

pub(crate) use introspector::{Introspector, Verdict};
