//! [`ConfigError`]: a configuration problem, reported with the key and the environment
//! variable that set it.

use std::fmt;

use super::raw::CONFIG_KEY;

/// A configuration problem, always naming the offending key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigError {
    /// The key, e.g. `oidc.issuer`.
    pub key: String,
    /// What is wrong with it.
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(key: &str, message: impl Into<String>) -> Self {
        Self { key: format!("{CONFIG_KEY}.{key}"), message: message.into() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid configuration `{}` (Rocket.toml [default.{CONFIG_KEY}] or env OIDC_{}): {}",
            self.key,
            self.key.trim_start_matches("oidc.").to_uppercase(),
            self.message
        )
    }
}

impl std::error::Error for ConfigError {}
