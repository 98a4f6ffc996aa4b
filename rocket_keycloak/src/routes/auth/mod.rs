//! The sign-in routes: `/login`, `/authorize`, `/logout` and `/backchannel-logout`, mounted
//! by [`SignIn`] at `/` or wherever the app says ([`SignIn::mount_at`]).
//!
//! | file | holds |
//! |---|---|
//! | `sign_in.rs` | [`SignIn`]: the fairing and its settings |
//! | `paths.rs` | where the routes are mounted and where browsers land; `next` |
//! | `login.rs` | `/login` and `/authorize`, the login cookie |
//! | `logout.rs` | `/logout` and `/backchannel-logout` |
//!
//!
//! Decisions:
//! - The login state (`state`, `nonce`, PKCE verifier, `next`) lives in a private cookie
//!   named after the state, path `/authorize`, 10 minutes, so several tabs can sign in at
//!   once and each state is usable exactly once (the cookie is removed before the code is
//!   exchanged, whatever the outcome).
//! - `next` is followed only if it is a local path: it must start with a single `/` and
//!   contain no backslash or control character, so `//evil.example`, `/\evil` and
//!   `https://evil` all land on the after-login page ([`SignIn::after_login`]; open-redirect
//!   defence). It must also be a URI
//!   Rocket can redirect to as it is (origin form: no space, quote, `<`, non-ASCII...)
//!   and at most [`MAX_NEXT_BYTES`](paths::MAX_NEXT_BYTES) long (it rides in the login cookie); anything else
//!   lands there too, rather than being repaired. It is checked again at the
//!   callback, and the redirect is built before any session ends, so a bad `next` can
//!   never cost the browser its new session.
//! - At the callback, login cookies that cannot be read (another secret key) or whose
//!   sign-in began too long ago are removed; a fresh one belongs to a sign-in still running
//!   in another tab and stays.
//! - A step-up sign-in (`/login?acr=gold&max_age=300`, where the step-up page guard sends
//!   browsers) passes `acr_values` and `max_age` to Keycloak and remembers them in the login
//!   cookie; the callback refuses (403, the old session untouched) an ID token whose `acr`
//!   or `auth_time` does not meet them. An unknown `acr` or a malformed `max_age` on `/login`
//!   is a 400, never a silently weaker sign-in.
//! - `iss` on the callback (RFC 9207), when present, must equal the issuer (mix-up defence);
//!   when the provider's metadata advertises `authorization_response_iss_parameter_supported`
//!   (Keycloak does), a callback without `iss` is refused (§2.4).
//! - Logout is a POST with the session's CSRF token; it ends the local session first, then
//!   sends the browser to Keycloak's end-session endpoint with `id_token_hint`, so the
//!   Keycloak session ends too.
//! - Back-channel logout answers 200 only for a fully valid, first-seen logout token;
//!   every answer is `no-store` (§2.8), and a refusal's body never carries the internal
//!   reason (that goes to the log).
//! - [`SignIn`] refuses to launch when Rocket's log would show the callback's `code` and
//!   `state` (see `logging.rs`).
//! - [`SignIn`] mounts these routes and manages what they need ([`Sessions`](crate::Sessions), the
//!   [`LoginPage`](crate::catchers::LoginPage) the 401 catcher redirects to), so the key fairing stays free of the
//!   session layer and an API-only app carries none of it.
//! - Every link to another route is built with `uri!` from that route and the mount point,
//!   so a renamed path cannot leave a dangling string behind.
//! - The library knows no page of the app: where a browser lands after sign-in, after logout
//!   and after a refused sign-in is the app's to say ([`SignIn`]'s builder); each is checked
//!   at launch to be a local path, like `next`.

mod login;
mod logout;
mod paths;
mod sign_in;

#[cfg(feature = "testing")]
pub use login::LoginState;
#[cfg(feature = "testing")]
pub use paths::local_path_or_default;
pub use sign_in::SignIn;
