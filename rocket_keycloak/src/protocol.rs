//! Typed protocol values: the strings that mean something to OIDC and must not be mixed up.
//!
//! An [`Issuer`] is not a [`ClientId`], a [`Subject`] means nothing without its issuer, and a
//! [`SessionId`] is a bearer secret. Each is a newtype over the string as it came (no
//! normalisation: issuers are compared byte for byte, as OIDC requires), so a function
//! signature says which one it takes, and a `SessionId` cannot reach a log through `Debug`.
//!
//! Decisions:
//! - They dereference to `str` and compare with `str`, so reading them stays cheap and
//!   plain; building one from a string is explicit (`Issuer::new`).
//! - `SessionId` has no `Display`, and its `Debug` prints `[redacted]`: the id is the
//!   browser's whole credential.
//! - They (de)serialize as plain strings: stored records and JSON bodies are unchanged.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

/// A string newtype that reads as `str` (see the module doc).
macro_rules! protocol_string {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The value, as it came.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The value as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.0
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }
    };
}

/// Shown as the plain string (`Debug` too): not a secret.
macro_rules! public_string {
    ($name:ident) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }
    };
}

protocol_string!(
    /// A realm's issuer URL (`iss`), compared byte for byte.
    Issuer
);
public_string!(Issuer);

protocol_string!(
    /// An OAuth client id (`client_id`, `azp`, an audience).
    ClientId
);
public_string!(ClientId);

protocol_string!(
    /// A subject (`sub`): unique within its issuer only, so key user data by
    /// [`Identity::subject_key`](crate::Identity::subject_key).
    Subject
);
public_string!(Subject);

protocol_string!(
    /// A browser session's id: 256 random bits, the session cookie's value. A secret: its
    /// `Debug` is redacted and it has no `Display`.
    SessionId
);

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_and_compare_as_the_strings_they_came_as() {
        let issuer = Issuer::new("https://sso.example/realms/main");
        assert_eq!(issuer, "https://sso.example/realms/main");
        assert_eq!(issuer.as_str(), "https://sso.example/realms/main");
        assert!(issuer.ends_with("/main"), "reads as str");
        assert_ne!(Issuer::new("https://sso.example/realms/Main"), issuer, "byte for byte");
        assert_eq!(format!("{issuer}"), "https://sso.example/realms/main");
        let json = serde_json::to_string(&Subject::new("abc")).unwrap();
        assert_eq!(json, "\"abc\"", "serialized as a plain string");
        assert_eq!(serde_json::from_str::<ClientId>("\"app\"").unwrap(), "app");
    }

    #[test]
    fn a_session_id_never_shows_in_debug() {
        let id = SessionId::new("secret-session-id");
        assert_eq!(format!("{id:?}"), "SessionId([redacted])");
        assert_eq!(format!("{:?}", Some(&id)), "Some(SessionId([redacted]))");
        assert_eq!(id.as_str(), "secret-session-id");
    }
}
