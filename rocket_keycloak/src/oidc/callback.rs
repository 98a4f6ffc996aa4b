//! The sign-in callback's checks, without I/O: whether an authorization response (the query
//! of `/authorize`) may be exchanged for tokens, and whether the tokens meet a step-up.
//!
//! [`check`] applies rules 1–6 and returns the code to exchange or a [`Refusal`], which holds
//! what the browser sees and what is logged; [`check_step_up`] applies rule 7. The route
//! (`routes/auth/login.rs`) keeps the cookies, the session store and the redirects.
//!
//! The rules, in this order (the first that fails is the answer):
//! 1. `state` is present, not empty and at most [`MAX_STATE_BYTES`] ([`usable_state`]): it
//!    names the login cookie, so without it nothing is looked up and nothing is touched;
//! 2. a login state was found for it: else the link is unknown, used or expired. The route
//!    removes that cookie as soon as it is found, before any later rule can fail, so every
//!    answer from here on uses the state up (single use, whatever the outcome);
//! 3. the sign-in started at most [`LOGIN_STATE_SECONDS`] ago ([`sign_in_expired`]): a
//!    stale sign-in is refused whatever the response says;
//! 4. `iss` (RFC 9207), when present, equals the issuer, and it is present when the provider
//!    always sends one ([`IssParameter::Required`], §2.4): a response from another provider
//!    (mix-up) is not believed, not even its `error`, so this comes before rule 5;
//! 5. no `error` parameter: `access_denied` means the user cancelled, anything else is the
//!    provider's refusal. An error response carries no code (RFC 6749 §4.1.2.1), and the
//!    error is the more precise answer, so this comes before rule 6;
//! 6. a non-empty `code`.
//!
//! After the code exchange:
//! 7. a step-up sign-in's required level is met by the ID token's `acr` and `auth_time`
//!    ([`AcrLevels::check`]); a sign-in that asked for none passes.

use std::fmt;

use log::Level;
use openidconnect::AuthorizationCode;

use crate::assurance::{AcrLevels, Assurance, Shortfall};
use crate::identity::Identity;

/// The longest `state` accepted (rule 1); ours are far shorter.
pub(crate) const MAX_STATE_BYTES: usize = 128;

/// How long a started sign-in may take (rule 3); also the login cookie's lifetime.
pub(crate) const LOGIN_STATE_SECONDS: u64 = 600;

/// The authorization response's parameters, as they came.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AuthorizationResponse<'a> {
    /// `state`: names the login cookie.
    pub state: Option<&'a str>,
    /// `code`: what is exchanged for tokens.
    pub code: Option<&'a str>,
    /// `iss` (RFC 9207): the issuer that answered.
    pub iss: Option<&'a str>,
    /// `error`: the provider's refusal.
    pub error: Option<&'a str>,
}

/// Whether a response without `iss` is refused (rule 4): the provider's metadata says
/// `authorization_response_iss_parameter_supported` (Keycloak does) or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IssParameter {
    /// The provider may leave `iss` out; when present it is still checked.
    Optional,
    /// The provider always sends `iss`: a response without it is refused.
    Required,
}

/// Why a sign-in callback is refused: one variant per rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal<'a> {
    /// Rule 1: no usable `state`.
    NoState,
    /// Rule 2: no login state for this `state` (unknown, used, expired or unreadable).
    UnknownState,
    /// Rule 3: the sign-in started too long ago.
    TooSlow,
    /// Rule 4: `iss` names another issuer.
    WrongIssuer(&'a str),
    /// Rule 4: no `iss`, though the provider always sends one.
    MissingIssuer,
    /// Rule 5: `error=access_denied`.
    Cancelled,
    /// Rule 5: any other `error`.
    ProviderError(&'a str),
    /// Rule 6: no `code`, or an empty one.
    NoCode,
    /// Rule 7: the ID token (`sub`, `acr`, `auth_time`) falls short of what the sign-in `asked`.
    TooWeak {
        asked: &'a Assurance,
        sub: &'a str,
        acr: Option<&'a str>,
        auth_time: Option<u64>,
        shortfall: Shortfall,
    },
}

impl Refusal<'_> {
    /// The HTTP status: 401 when the provider refused, 403 for a step-up not met, else 400.
    pub(crate) fn status(&self) -> u16 {
        match self {
            Self::Cancelled | Self::ProviderError(_) => 401,
            Self::TooWeak { .. } => 403,
            _ => 400,
        }
    }

    /// The sentence the browser sees; it never carries what came in the response.
    pub(crate) fn message(&self) -> &'static str {
        match self {
            Self::NoState => "The sign-in response has no state.",
            Self::UnknownState => {
                "This sign-in link is unknown, expired or already used. Please sign in again."
            }
            Self::TooSlow => "The sign-in took too long. Please sign in again.",
            Self::WrongIssuer(_) => {
                "The sign-in response came from an unexpected identity provider."
            }
            Self::MissingIssuer => "The sign-in response did not name its identity provider.",
            Self::Cancelled => "Sign-in was cancelled.",
            Self::ProviderError(_) => "The identity provider could not sign you in.",
            Self::NoCode => "The sign-in response has no code.",
            Self::TooWeak { .. } => {
                "The sign-in did not reach the level of authentication this page needs."
            }
        }
    }

    /// The level to log the refusal (its `Display`) at; `None` for the ones not logged.
    pub(crate) fn log_level(&self) -> Option<Level> {
        match self {
            Self::NoState | Self::TooSlow | Self::NoCode => None,
            Self::UnknownState => Some(Level::Debug),
            Self::Cancelled | Self::ProviderError(_) => Some(Level::Info),
            Self::WrongIssuer(_) | Self::MissingIssuer | Self::TooWeak { .. } => Some(Level::Warn),
        }
    }
}

/// The detail for the log (with `Debug` quoting of what came from outside).
impl fmt::Display for Refusal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoState | Self::TooSlow | Self::NoCode => f.write_str(self.message()),
            Self::UnknownState => f.write_str("unknown, used or expired state"),
            Self::WrongIssuer(iss) => {
                write!(f, "iss {iss:?} is not our issuer (mix-up attempt?)")
            }
            Self::MissingIssuer => {
                f.write_str("no iss, but the provider always sends one (mix-up attempt?)")
            }
            Self::Cancelled => write!(f, "identity provider answered error={:?}", "access_denied"),
            Self::ProviderError(error) => write!(f, "identity provider answered error={error:?}"),
            Self::TooWeak { asked, sub, acr, auth_time, shortfall } => write!(
                f,
                "sub {sub} asked for {asked:?}, signed in at acr {acr:?}, auth_time \
                 {auth_time:?}: {shortfall:?}"
            ),
        }
    }
}

/// Rule 1: the `state`, if it can name a login cookie.
pub(crate) fn usable_state(state: Option<&str>) -> Option<&str> {
    state.filter(|s| !s.is_empty() && s.len() <= MAX_STATE_BYTES)
}

/// Rule 3: whether a sign-in that began at `started` is too old at `now` (a clock gone back: no).
pub(crate) fn sign_in_expired(started: u64, now: u64) -> bool {
    now.saturating_sub(started) > LOGIN_STATE_SECONDS
}

/// Rules 1–6: the code to exchange, or why not. `login_started` is when the sign-in named
/// by the `state` began, `None` when no login state was found for it.
pub(crate) fn check<'a>(
    response: AuthorizationResponse<'a>,
    login_started: Option<u64>,
    now: u64,
    issuer: &str,
    iss: IssParameter,
) -> Result<AuthorizationCode, Refusal<'a>> {
    // 1. A usable state.
    usable_state(response.state).ok_or(Refusal::NoState)?;
    // 2. A login state for it (the route has removed its cookie by now).
    let started = login_started.ok_or(Refusal::UnknownState)?;
    // 3. Started recently enough.
    if sign_in_expired(started, now) {
        return Err(Refusal::TooSlow);
    }
    // 4. From our issuer.
    match response.iss {
        Some(iss) if iss != issuer => return Err(Refusal::WrongIssuer(iss)),
        None if iss == IssParameter::Required => return Err(Refusal::MissingIssuer),
        _ => {}
    }
    // 5. No error.
    match response.error {
        Some("access_denied") => return Err(Refusal::Cancelled),
        Some(error) => return Err(Refusal::ProviderError(error)),
        None => {}
    }
    // 6. A code.
    let code = response.code.filter(|c| !c.is_empty()).ok_or(Refusal::NoCode)?;
    Ok(AuthorizationCode::new(code.to_owned()))
}

/// Rule 7: whether the ID token's identity meets the step-up `asked` (if any) at `now`.
pub(crate) fn check_step_up<'a>(
    levels: &AcrLevels,
    asked: Option<&'a Assurance>,
    signed_in: &'a Identity,
    now: u64,
) -> Result<(), Refusal<'a>> {
    let Some(asked) = asked else { return Ok(()) };
    let (acr, auth_time) = (signed_in.acr.as_deref(), signed_in.auth_time);
    let too_weak =
        |shortfall| Refusal::TooWeak { asked, sub: &signed_in.sub, acr, auth_time, shortfall };
    levels.check(asked, acr, auth_time, now).map_err(too_weak)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUER: &str = "http://idp/realms/r";
    const NOW: u64 = 1_000_000;
    const RECENT: Option<u64> = Some(NOW - 60); // a minute ago
    const EVIL: &str = "http://evil";

    /// A response Keycloak would send: state, code and iss.
    fn good() -> AuthorizationResponse<'static> {
        AuthorizationResponse { state: Some("s"), code: Some("c"), iss: Some(ISSUER), error: None }
    }

    /// The code (its secret) or the refusal, with `iss` required.
    fn checked(r: AuthorizationResponse<'_>, started: Option<u64>) -> Result<String, Refusal<'_>> {
        check(r, started, NOW, ISSUER, IssParameter::Required).map(|c| c.secret().clone())
    }

    #[test]
    fn a_well_formed_callback_yields_its_code() {
        assert_eq!(checked(good(), RECENT), Ok("c".to_owned()));
        let without_iss = AuthorizationResponse { iss: None, ..good() };
        let optional = check(without_iss, RECENT, NOW, ISSUER, IssParameter::Optional);
        assert_eq!(optional.map(|c| c.secret().clone()), Ok("c".to_owned()));
    }

    #[test]
    fn a_callback_without_state_is_refused_before_anything_else() {
        let hostile =
            AuthorizationResponse { code: None, iss: Some("x"), error: Some("y"), ..good() };
        for state in [None, Some("")] {
            let response = AuthorizationResponse { state, ..hostile };
            assert_eq!(checked(response, None), Err(Refusal::NoState), "{state:?}");
            assert_eq!(checked(response, Some(0)), Err(Refusal::NoState), "{state:?}");
        }
    }

    #[test]
    fn a_state_of_128_bytes_is_usable_and_one_of_129_is_not() {
        let (longest, too_long) = ("s".repeat(MAX_STATE_BYTES), "s".repeat(MAX_STATE_BYTES + 1));
        assert_eq!(MAX_STATE_BYTES, 128);
        let response = AuthorizationResponse { state: Some(&longest), ..good() };
        assert_eq!(checked(response, RECENT), Ok("c".to_owned()));
        let response = AuthorizationResponse { state: Some(&too_long), ..good() };
        assert_eq!(checked(response, RECENT), Err(Refusal::NoState));
    }

    #[test]
    fn a_state_without_a_login_state_is_unknown_before_any_other_check() {
        let hostile = AuthorizationResponse { iss: Some(EVIL), error: Some("x"), ..good() };
        assert_eq!(checked(hostile, None), Err(Refusal::UnknownState));
    }

    #[test]
    fn a_sign_in_started_too_long_ago_is_refused_as_too_slow() {
        assert_eq!(checked(good(), Some(NOW - 3600)), Err(Refusal::TooSlow));
        assert_eq!(checked(good(), Some(0)), Err(Refusal::TooSlow));
    }

    #[test]
    fn a_sign_in_started_exactly_login_state_seconds_ago_passes_and_a_second_more_does_not() {
        assert_eq!(LOGIN_STATE_SECONDS, 600);
        assert_eq!(checked(good(), Some(NOW - LOGIN_STATE_SECONDS)), Ok("c".to_owned()));
        assert_eq!(checked(good(), Some(NOW - LOGIN_STATE_SECONDS - 1)), Err(Refusal::TooSlow));
        // A clock that went back never makes a sign-in too slow.
        assert_eq!(checked(good(), Some(NOW + 3600)), Ok("c".to_owned()));
    }

    #[test]
    fn an_iss_other_than_the_issuer_is_refused_as_a_mix_up() {
        for iss in [EVIL, "http://idp/realms/r/", "HTTP://idp/realms/r", ""] {
            let response = AuthorizationResponse { iss: Some(iss), ..good() };
            assert_eq!(checked(response, RECENT), Err(Refusal::WrongIssuer(iss)));
            let optional = check(response, RECENT, NOW, ISSUER, IssParameter::Optional);
            assert_eq!(optional.map(|_| ()), Err(Refusal::WrongIssuer(iss)));
        }
    }

    #[test]
    fn a_missing_iss_is_refused_when_the_provider_always_sends_one() {
        let response = AuthorizationResponse { iss: None, ..good() };
        assert_eq!(checked(response, RECENT), Err(Refusal::MissingIssuer));
    }

    #[test]
    fn access_denied_means_the_user_cancelled_even_with_a_code() {
        let response = AuthorizationResponse { error: Some("access_denied"), ..good() };
        assert_eq!(checked(response, RECENT), Err(Refusal::Cancelled));
    }

    #[test]
    fn any_other_error_is_the_providers_refusal_even_with_a_code() {
        for error in ["server_error", "login_required", "ACCESS_DENIED", ""] {
            let response = AuthorizationResponse { error: Some(error), ..good() };
            assert_eq!(checked(response, RECENT), Err(Refusal::ProviderError(error)));
        }
    }

    #[test]
    fn a_callback_without_a_code_is_refused() {
        for code in [None, Some("")] {
            let response = AuthorizationResponse { code, ..good() };
            assert_eq!(checked(response, RECENT), Err(Refusal::NoCode), "{code:?}");
        }
    }

    #[test]
    fn a_wrong_iss_with_an_error_is_refused_for_the_issuer() {
        let response =
            AuthorizationResponse { iss: Some(EVIL), error: Some("access_denied"), ..good() };
        assert_eq!(checked(response, RECENT), Err(Refusal::WrongIssuer(EVIL)));
        let response = AuthorizationResponse { iss: None, error: Some("access_denied"), ..good() };
        assert_eq!(checked(response, RECENT), Err(Refusal::MissingIssuer));
    }

    #[test]
    fn an_expired_sign_in_with_a_provider_error_is_refused_as_too_slow() {
        let response = AuthorizationResponse { iss: Some(EVIL), error: Some("x"), ..good() };
        assert_eq!(checked(response, Some(0)), Err(Refusal::TooSlow));
    }

    #[test]
    fn refusals_answer_400_401_or_403_and_log_what_came_quoted() {
        let asked = Assurance { acr: "gold".into(), max_age: Some(300) };
        let identity = signed_in(Some("silver"), Some(5));
        let too_weak = check_step_up(&levels(), Some(&asked), &identity, NOW).unwrap_err();
        let cases = [
            (Refusal::NoState, 400, None),
            (Refusal::UnknownState, 400, Some(Level::Debug)),
            (Refusal::TooSlow, 400, None),
            (Refusal::WrongIssuer("x"), 400, Some(Level::Warn)),
            (Refusal::MissingIssuer, 400, Some(Level::Warn)),
            (Refusal::Cancelled, 401, Some(Level::Info)),
            (Refusal::ProviderError("x"), 401, Some(Level::Info)),
            (Refusal::NoCode, 400, None),
            (too_weak.clone(), 403, Some(Level::Warn)),
        ];
        for (refusal, status, level) in cases {
            assert_eq!((refusal.status(), refusal.log_level()), (status, level), "{refusal:?}");
        }
        let iss = Refusal::WrongIssuer("http://evil\n");
        assert_eq!(iss.to_string(), r#"iss "http://evil\n" is not our issuer (mix-up attempt?)"#);
        let cancelled = Refusal::Cancelled.to_string();
        assert_eq!(cancelled, r#"identity provider answered error="access_denied""#);
        assert_eq!(
            too_weak.to_string(),
            r#"sub u1 asked for Assurance { acr: "gold", max_age: Some(300) }, signed in at acr Some("silver"), auth_time Some(5): Level"#
        );
    }

    /// An ID token's identity at `acr`, authenticated at `auth_time`.
    fn signed_in(acr: Option<&str>, auth_time: Option<u64>) -> Identity {
        serde_json::from_value(serde_json::json!({
            "sub": "u1", "realm_roles": [], "client_roles": {}, "scopes": [], "expires_at": 0,
            "acr": acr, "auth_time": auth_time,
        }))
        .unwrap()
    }

    fn levels() -> AcrLevels {
        AcrLevels::parse(Some(vec!["silver".into(), "gold".into()])).unwrap()
    }

    #[test]
    fn a_step_up_is_met_by_a_high_enough_recent_authentication_and_none_needs_nothing() {
        assert_eq!(check_step_up(&levels(), None, &signed_in(None, None), NOW), Ok(()));
        let asked = Assurance { acr: "silver".into(), max_age: Some(300) };
        let identity = signed_in(Some("gold"), Some(NOW - 300));
        assert_eq!(check_step_up(&levels(), Some(&asked), &identity, NOW), Ok(()));
    }

    #[test]
    fn a_step_up_not_met_is_refused_naming_the_shortfall() {
        let asked = Assurance { acr: "gold".into(), max_age: Some(300) };
        let (low, old) = (signed_in(Some("silver"), Some(NOW)), signed_in(Some("gold"), Some(0)));
        let refusal = check_step_up(&levels(), Some(&asked), &low, NOW).unwrap_err();
        assert!(matches!(refusal, Refusal::TooWeak { shortfall: Shortfall::Level, sub: "u1", .. }));
        let refusal = check_step_up(&levels(), Some(&asked), &old, NOW).unwrap_err();
        assert!(matches!(refusal, Refusal::TooWeak { shortfall: Shortfall::Age, .. }));
    }
}
