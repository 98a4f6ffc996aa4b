//! Settings about where the app runs rather than what it checks: the log format
//! (`log_format`) and the certificates trusted for the connections to Keycloak
//! (`tls_roots`, `ca_certificates`).
//!
//! Decisions:
//! - `log_format` is `text` (`LEVEL target: message`) unless set; `json` writes one JSON
//!   object per line (`level`, `target`, `message`) for log collectors. The logger exists
//!   before the rocket does, so the app reads it with [`LogFormat::from_figment`]; a typo
//!   still fails launch through [`super::OidcConfig`], naming the key.
//! - `tls_roots` is `bundled` (the Mozilla roots built in, as before) unless set; `system`
//!   reads the operating system's store once at launch with `rustls-native-certs` (already
//!   in the lock file, the crate reqwest's `rustls-tls-native-roots` would bring, without
//!   turning that on for every user), `both` trusts both. `ca_certificates` adds a PEM file,
//!   or every `.pem`/`.crt` of a folder, to either: an on-premises Keycloak behind an internal
//!   CA. The files are read here, so a bad path, an unreadable file or one without a PEM
//!   certificate fails launch naming the key, not discovery later with a TLS error.

use rocket::figment::Figment;

use super::error::ConfigError;
use super::raw::CONFIG_KEY;

/// How the [`crate::RedactingLogger`] writes a line (`oidc.log_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LogFormat {
    /// `LEVEL target: message`, for people (the default).
    #[default]
    Text,
    /// One JSON object per line with `level`, `target` and `message`, for log collectors.
    Json,
}

impl LogFormat {
    /// Reads `oidc.log_format` (`OIDC_LOG_FORMAT`) from a figment; unset is `text`.
    pub fn from_figment(figment: &Figment) -> Result<Self, ConfigError> {
        let key = format!("{CONFIG_KEY}.log_format");
        match figment.find_value(&key) {
            Err(_) => Ok(Self::Text),
            Ok(value) => Self::parse(value.into_string()),
        }
    }

    fn parse(raw: Option<String>) -> Result<Self, ConfigError> {
        match raw.as_deref().map(str::trim) {
            Some("text") => Ok(Self::Text),
            Some("json") => Ok(Self::Json),
            Some(other) => Err(ConfigError::new(
                "log_format",
                format!("{other:?} is not one of \"text\", \"json\""),
            )),
            None => Err(ConfigError::new("log_format", "must be \"text\" or \"json\"")),
        }
    }
}

/// The settings of this file, checked.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DeploymentConfig {
    /// How log lines are written.
    pub log_format: LogFormat,
    /// The certificates trusted for the connections to Keycloak.
    pub tls: TlsTrust,
}

impl DeploymentConfig {
    /// Parses `log_format`, `tls_roots` and `ca_certificates`.
    pub(super) fn parse(
        log_format: Option<String>,
        tls_roots: Option<String>,
        ca_certificates: Option<String>,
    ) -> Result<Self, ConfigError> {
        let log_format = match log_format {
            None => LogFormat::Text,
            some => LogFormat::parse(some)?,
        };
        Ok(Self { log_format, tls: TlsTrust::parse(tls_roots, ca_certificates)? })
    }
}

/// Which roots the client towards Keycloak trusts (`oidc.tls_roots`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TlsRoots {
    /// The Mozilla roots built into the binary (the default).
    #[default]
    Bundled,
    /// The operating system's trust store only.
    System,
    /// Both.
    Both,
}

/// The certificates the client towards Keycloak trusts: `tls_roots` and `ca_certificates`,
/// read and parsed at launch.
#[derive(Clone, Default)]
pub struct TlsTrust {
    /// Which roots.
    pub roots: TlsRoots,
    /// The system store's certificates (with `system` or `both`) and those of
    /// `ca_certificates`.
    pub extra: Vec<reqwest::Certificate>,
}

impl std::fmt::Debug for TlsTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TlsTrust {{ roots: {:?}, extra: {} certificates }}",
            self.roots,
            self.extra.len()
        )
    }
}

impl TlsTrust {
    /// Parses `tls_roots` and reads `ca_certificates` (a PEM file, or a folder whose `.pem` and
    /// `.crt` files are read); every file must hold at least one certificate.
    pub(super) fn parse(roots: Option<String>, ca: Option<String>) -> Result<Self, ConfigError> {
        let roots = match roots.as_deref().map(str::trim) {
            None | Some("bundled") => TlsRoots::Bundled,
            Some("system") => TlsRoots::System,
            Some("both") => TlsRoots::Both,
            Some(other) => {
                return Err(ConfigError::new(
                    "tls_roots",
                    format!("{other:?} is not one of \"bundled\", \"system\", \"both\""),
                ));
            }
        };
        let mut extra = Vec::new();
        if roots != TlsRoots::Bundled {
            let found = rustls_native_certs::load_native_certs();
            for der in &found.certs {
                // A certificate rustls cannot use is skipped, as reqwest's own loader does.
                if let Ok(cert) = reqwest::Certificate::from_der(der.as_ref()) {
                    extra.push(cert);
                }
            }
            if extra.is_empty() {
                let why = found.errors.first().map(ToString::to_string).unwrap_or_default();
                return Err(ConfigError::new(
                    "tls_roots",
                    format!("no certificate found in the system trust store {why}"),
                ));
            }
        }
        if let Some(path) = ca.as_deref().map(str::trim) {
            extra.extend(read_ca_certificates(std::path::Path::new(path))?);
        }
        Ok(Self { roots, extra })
    }
}

/// The certificates of a PEM file, or of every `.pem` and `.crt` file of a folder.
fn read_ca_certificates(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, ConfigError> {
    let fail =
        |why: String| ConfigError::new("ca_certificates", format!("{}: {why}", path.display()));
    let files = if path.is_dir() {
        let mut files: Vec<_> = std::fs::read_dir(path)
            .map_err(|e| fail(e.to_string()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "pem" || e == "crt"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(fail("no .pem or .crt file in this folder".into()));
        }
        files
    } else {
        vec![path.to_owned()]
    };
    let mut certs = Vec::new();
    for file in files {
        let fail =
            |why: String| ConfigError::new("ca_certificates", format!("{}: {why}", file.display()));
        let pem = std::fs::read(&file).map_err(|e| fail(e.to_string()))?;
        let found = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| fail(format!("not PEM certificates: {e}")))?;
        if found.is_empty() {
            return Err(fail("no PEM certificate (BEGIN CERTIFICATE) in this file".into()));
        }
        certs.extend(found);
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_format_is_text_unless_json_and_a_typo_names_the_key() {
        let figment = |value: Option<&str>| {
            let figment = Figment::from(rocket::Config::debug_default());
            match value {
                Some(value) => figment.merge(("oidc.log_format", value)),
                None => figment,
            }
        };
        assert_eq!(LogFormat::from_figment(&figment(None)), Ok(LogFormat::Text));
        assert_eq!(LogFormat::from_figment(&figment(Some("json"))), Ok(LogFormat::Json));
        let error = LogFormat::from_figment(&figment(Some("jsonl"))).unwrap_err();
        assert_eq!(error.key, "oidc.log_format");
        assert_eq!(DeploymentConfig::parse(None, None, None).unwrap().log_format, LogFormat::Text);
    }
}
