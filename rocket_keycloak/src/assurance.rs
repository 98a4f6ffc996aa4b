//! Levels of assurance: how strongly, and how recently, a user authenticated (the `acr` and
//! `auth_time` claims), and whether that meets what a route asks for. The pure rules behind
//! the step-up guards ([`RequireAcr`](crate::RequireAcr), [`PageAcr`](crate::PageAcr)) and
//! the sign-in callback's check.
//!
//! Decisions:
//! - **The order of levels is configuration** (`oidc.acr_levels`, lowest first, e.g.
//!   `["silver", "gold"]`): a higher level satisfies a lower requirement. Keycloak's own
//!   numbers (its ACR-to-LoA map) stay in Keycloak; the app names levels as tokens carry
//!   them.
//! - **No `acr`, or a value not in the list, satisfies nothing.** So does a requirement
//!   that names a level missing from the list: that is a configuration mistake, and the
//!   safe answer to it is "no" (the guards log it at `error`).
//! - **Levels belong to a realm**, as roles do. Each realm's administrator decides what its
//!   tokens' `acr` says (a partner realm can map `acr` to `gold` for a password alone), so
//!   a requirement is a realm's: a level marker names its realm (`Level::REALM`, the
//!   sign-in realm by default, mirroring `Role::REALM`), and an authentication by any other
//!   realm satisfies nothing there (`guards/level.rs` checks it with no `acr`). An
//!   [`AcrLevels`] is one realm's list: the sign-in realm's is `oidc.acr_levels`, another
//!   realm's the `acr_levels` of its `oidc.issuers` entry, empty when the entry sets none
//!   (never borrowed from the sign-in realm, whose names mean something else there).
//!   Sessions all come from the sign-in realm; bearer tokens from any accepted realm.
//! - **Age** (`max_age`): the authentication must have happened at most that many seconds
//!   ago by `auth_time`; a token without `auth_time` fails an age requirement. No leeway is
//!   added: a clock that runs ahead makes the app ask again sooner, never later.
//! - A session's level is that of its latest authentication (the ID token of its sign-in);
//!   a refresh never raises it (`session/mod.rs`).

use serde::{Deserialize, Serialize};

/// One realm's levels of assurance, lowest first (`oidc.acr_levels` for the sign-in realm).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AcrLevels(Vec<String>);

impl AcrLevels {
    /// The levels, lowest first.
    pub fn names(&self) -> &[String] {
        &self.0
    }

    /// The rank of `acr` (0 is the lowest), if it is a configured level.
    pub fn rank(&self, acr: &str) -> Option<usize> {
        self.0.iter().position(|level| level == acr)
    }

    /// Checks an `oidc.acr_levels` list: distinct names that can travel in a
    /// `WWW-Authenticate` quoted-string and an `acr_values` parameter as they are. The error
    /// says what is wrong (the config layer adds the key).
    pub(crate) fn parse(raw: Option<Vec<String>>) -> Result<Self, String> {
        let levels = raw.unwrap_or_default();
        for (i, level) in levels.iter().enumerate() {
            let printable = level.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
            if level.is_empty() || !printable {
                return Err(format!(
                    "`{level}` is not a usable acr value (printable ASCII, no space or quote)"
                ));
            }
            if levels[..i].contains(level) {
                return Err(format!("`{level}` is listed twice"));
            }
        }
        Ok(Self(levels))
    }

    /// Whether an authentication at `acr`, at `auth_time`, meets `need` at `now`.
    pub fn check(
        &self,
        need: &Assurance,
        acr: Option<&str>,
        auth_time: Option<u64>,
        now: u64,
    ) -> Result<(), Shortfall> {
        let needed = self.rank(&need.acr).ok_or(Shortfall::Level)?;
        let have = acr.and_then(|acr| self.rank(acr)).ok_or(Shortfall::Level)?;
        if have < needed {
            return Err(Shortfall::Level);
        }
        match (need.max_age, auth_time) {
            (None, _) => Ok(()),
            (Some(max_age), Some(at)) if now.saturating_sub(at) <= max_age => Ok(()),
            (Some(_), _) => Err(Shortfall::Age),
        }
    }
}

/// What a route or a sign-in asks for: at least level `acr`, and optionally an
/// authentication at most `max_age` seconds old.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assurance {
    /// The lowest acceptable `acr` value.
    pub acr: String,
    /// The oldest acceptable authentication, in seconds.
    pub max_age: Option<u64>,
}

/// Why an authentication falls short of an [`Assurance`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shortfall {
    /// The level is too low, unknown or absent.
    Level,
    /// The level is enough, but the authentication is too old (or its time unknown).
    Age,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels() -> AcrLevels {
        AcrLevels::parse(Some(vec!["silver".into(), "gold".into()])).unwrap()
    }

    fn need(acr: &str, max_age: Option<u64>) -> Assurance {
        Assurance { acr: acr.into(), max_age }
    }

    #[test]
    fn a_higher_level_satisfies_a_lower_one_and_nothing_else_does() {
        let levels = levels();
        assert_eq!(levels.check(&need("silver", None), Some("gold"), None, 0), Ok(()));
        assert_eq!(levels.check(&need("gold", None), Some("gold"), None, 0), Ok(()));
        for acr in [Some("silver"), Some("1"), Some("GOLD"), Some(""), None] {
            assert_eq!(levels.check(&need("gold", None), acr, None, 0), Err(Shortfall::Level));
        }
    }

    #[test]
    fn a_requirement_outside_the_list_is_never_met() {
        assert_eq!(
            levels().check(&need("platinum", None), Some("gold"), None, 0),
            Err(Shortfall::Level)
        );
        assert_eq!(
            AcrLevels::default().check(&need("gold", None), Some("gold"), None, 0),
            Err(Shortfall::Level)
        );
    }

    #[test]
    fn age_counts_from_auth_time_without_leeway() {
        let levels = levels();
        let recent = need("gold", Some(300));
        assert_eq!(levels.check(&recent, Some("gold"), Some(1000), 1300), Ok(()));
        assert_eq!(levels.check(&recent, Some("gold"), Some(1000), 1301), Err(Shortfall::Age));
        assert_eq!(levels.check(&recent, Some("gold"), None, 1000), Err(Shortfall::Age));
        // The level is checked first: a low level is a level shortfall, however recent.
        assert_eq!(levels.check(&recent, Some("silver"), Some(1000), 1000), Err(Shortfall::Level));
    }

    #[test]
    fn the_list_must_be_usable_in_headers_and_distinct() {
        for bad in [
            vec!["gold".to_owned(), "gold".into()],
            vec!["".into()],
            vec!["a b".into()],
            vec!["a\"".into()],
        ] {
            assert!(AcrLevels::parse(Some(bad.clone())).is_err(), "{bad:?}");
        }
        assert_eq!(AcrLevels::parse(None).unwrap(), AcrLevels::default());
    }
}
