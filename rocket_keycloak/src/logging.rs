//! A logger that keeps credentials out of the log.
//!
//! Rocket logs every request line with its query string, and Keycloak's callback carries
//! the authorization `code` and `state` there (`GET /authorize?state=..&code=..`). This
//! crate itself never logs a token, secret or cookie value; [`RedactingLogger`] also scrubs
//! the values of credential-carrying parameters from everything else that is logged, so
//! no level shows them.
//!
//! Decisions (safe by default, or no launch):
//! - The app installs it before building the rocket, at the configured level, unless a
//!   logger is already installed (the demo's `rocket_with` does; [`RedactingLogger::filter_for`]
//!   maps Rocket's `log_level`).
//! - An app that builds its own rocket gets Rocket's logger from `rocket::custom`/`build`,
//!   before any fairing of ours runs, and a process has one logger for good. So the
//!   sign-in fairing (which brings the callback) refuses to launch when Rocket would log at
//!   all (`log_level` not `off`) and this logger is not the installed one; the error says
//!   to call [`RedactingLogger::install`] before building the rocket. An app whose own
//!   logger already keeps these values out says so with
//!   [`RedactingLogger::trust_installed_logger`].

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};

use log::{LevelFilter, Log, Metadata, Record};

/// Query and form parameters whose values are credentials.
pub(crate) const SENSITIVE_PARAMS: [&str; 10] = [
    "code",
    "state",
    "session_state",
    "access_token",
    "id_token",
    "refresh_token",
    "id_token_hint",
    "logout_token",
    "client_secret",
    "csrf",
];

/// Replaces the values of [`SENSITIVE_PARAMS`] (`name=value` up to `&`, space or quote).
pub(crate) fn redact(text: &str) -> Cow<'_, str> {
    // Rocket's form parser traces every field with its value (the CSRF token, the
    // back-channel logout token): keep the line, drop the value.
    if let Some(field) = text.strip_prefix("url-encoded field: ") {
        let name = field.split('"').nth(1).unwrap_or("?");
        return Cow::Owned(format!("url-encoded field: {name} = [redacted]"));
    }
    if !SENSITIVE_PARAMS.iter().any(|p| text.contains(&format!("{p}="))) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((i, name)) = SENSITIVE_PARAMS
        .iter()
        .filter_map(|p| find_param(rest, p).map(|i| (i, *p)))
        .min_by_key(|(i, _)| *i)
    {
        let value_start = i + name.len() + 1;
        out.push_str(&rest[..value_start]);
        out.push_str("[redacted]");
        let tail = &rest[value_start..];
        let end = tail.find(['&', ' ', '"', '\'', '\n', ':', ',']).unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The index of `name=` in `text` where `name` starts a parameter (after `?`, `&`, a space
/// or the start).
fn find_param(text: &str, name: &str) -> Option<usize> {
    let needle = format!("{name}=");
    let mut from = 0;
    while let Some(found) = text[from..].find(&needle) {
        let i = from + found;
        if i == 0 || matches!(text.as_bytes()[i - 1], b'?' | b'&' | b' ' | b'"' | b'(') {
            return Some(i);
        }
        from = i + needle.len();
    }
    None
}

/// Whether the process logger keeps credentials out: ours is installed, or the app vouched
/// for its own.
static REDACTED: AtomicBool = AtomicBool::new(false);

/// Whether log records of this process are redacted (see the module decisions).
#[cfg(feature = "sign-in")]
pub(crate) fn is_redacted() -> bool {
    REDACTED.load(Ordering::Acquire)
}

/// Logs a configuration mistake at `error` the first time `(topic, name)` is seen, and never
/// again: a guard that refuses every request because of it would otherwise log on each one.
pub(crate) fn error_once(
    topic: &'static str,
    name: &'static str,
    message: impl FnOnce() -> String,
) {
    use std::collections::HashSet;
    use std::sync::{LazyLock, Mutex, PoisonError};
    static REPORTED: LazyLock<Mutex<HashSet<(&'static str, &'static str)>>> =
        LazyLock::new(Default::default);
    let first = REPORTED.lock().unwrap_or_else(PoisonError::into_inner).insert((topic, name));
    if first {
        log::error!("rocket_keycloak: {}", message());
    }
}

/// Writes `LEVEL target: message` to stderr (or a sink), credentials redacted.
pub struct RedactingLogger {
    level: LevelFilter,
    sink: fn(&str),
}

fn stderr_sink(line: &str) {
    eprintln!("{line}");
}

impl RedactingLogger {
    /// A logger at `level` writing to stderr.
    pub fn new(level: LevelFilter) -> Self {
        Self { level, sink: stderr_sink }
    }

    /// A logger at `level` writing each line to `sink` (tests).
    pub fn with_sink(level: LevelFilter, sink: fn(&str)) -> Self {
        Self { level, sink }
    }

    /// Installs this logger process-wide (before launch: Rocket then keeps it instead of
    /// its own); false if a logger was installed before.
    pub fn install(self) -> bool {
        let level =
            if self.level == LevelFilter::Off { LevelFilter::Off } else { LevelFilter::Trace };
        let installed = log::set_boxed_logger(Box::new(self)).is_ok();
        if installed {
            // `enabled` does the filtering (it lets the launch banner through).
            log::set_max_level(level);
            REDACTED.store(true, Ordering::Release);
        }
        installed
    }

    /// The filter that shows what Rocket's `log_level` shows (`normal` is `Info`).
    pub fn filter_for(rocket_level: rocket::config::LogLevel) -> LevelFilter {
        level_for(rocket_level)
    }

    /// Declares that the logger this process installed itself keeps the values of
    /// credential-carrying parameters (`code`, `state`, ..., see [`RedactingLogger`]) out of
    /// the log, so `SignIn` launches without this one.
    ///
    /// # Security Warning
    /// Rocket logs every request line with its query string, and the sign-in callback
    /// carries the authorization `code` and `state` there. Call this only if your logger
    /// removes them; otherwise install this logger instead.
    pub fn trust_installed_logger() {
        REDACTED.store(true, Ordering::Release);
    }
}

impl Log for RedactingLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        // Rocket's launch banner ("Rocket has launched from ...") shows at every level but
        // off, as with Rocket's own logger.
        metadata.level() <= self.level
            || (self.level != LevelFilter::Off && metadata.target().starts_with("rocket::launch"))
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            let message = record.args().to_string();
            if self.level < LevelFilter::Debug && is_per_refusal_noise(&message) {
                return;
            }
            (self.sink)(&format!("{} {}: {}", record.level(), record.target(), redact(&message)));
        }
    }

    fn flush(&self) {}
}

/// Rocket's lines for every refused request ("Request guard `AuthenticatedUser` failed",
/// "Responding with registered 401 catcher."): one per bad token, so a flood of bad tokens
/// floods the log. Below debug level they are dropped; the crate logs a periodic summary of
/// refusals instead (`telemetry::log_refusals`), and the metrics count every one.
fn is_per_refusal_noise(message: &str) -> bool {
    const GUARDS: [&str; 4] = ["AuthenticatedUser", "RequireRole", "PageUser", "MaybeUser"];
    if let Some(rest) = message.strip_prefix("Request guard `") {
        let guard = rest.split('`').next().unwrap_or_default();
        return GUARDS.iter().any(|g| guard.contains(g));
    }
    // "Responding with registered (unauthorized) 401 catcher."
    message.starts_with("Responding with registered")
        && ["400", "401", "403", "503"]
            .iter()
            .any(|code| message.contains(&format!(" {code} catcher")))
}

/// The `log` level for Rocket's `log_level` setting.
pub(crate) fn level_for(rocket_level: rocket::config::LogLevel) -> LevelFilter {
    match rocket_level {
        rocket::config::LogLevel::Off => LevelFilter::Off,
        rocket::config::LogLevel::Critical => LevelFilter::Error,
        rocket::config::LogLevel::Normal => LevelFilter::Info,
        rocket::config::LogLevel::Debug => LevelFilter::Trace,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_query_is_redacted() {
        let line = "GET /authorize?state=abc&code=secret-code&iss=http://kc/realms/demo:";
        assert_eq!(
            redact(line),
            "GET /authorize?state=[redacted]&code=[redacted]&iss=http://kc/realms/demo:"
        );
    }

    #[test]
    fn per_refusal_lines_of_our_guards_are_noise_and_others_are_not() {
        assert!(is_per_refusal_noise(
            "Request guard `&rocket_keycloak::AuthenticatedUser` failed: InvalidToken(BadSignature)."
        ));
        assert!(is_per_refusal_noise("Request guard `RequireRole<Admin>` failed: x."));
        assert!(is_per_refusal_noise("Responding with registered (unauthorized) 401 catcher."));
        assert!(!is_per_refusal_noise("Request guard `MyOwnGuard` failed: x."));
        assert!(!is_per_refusal_noise("Responding with registered (server_error) 500 catcher."));
    }

    #[test]
    fn other_text_is_untouched() {
        assert!(matches!(redact("GET /hello?next=/me"), Cow::Borrowed(_)));
        assert_eq!(redact("encode=1 barcode=2"), "encode=1 barcode=2");
        assert_eq!(redact("logout_token=x y"), "logout_token=[redacted] y");
        assert_eq!(
            redact("url-encoded field: (\"csrf\", \"abc\")"),
            "url-encoded field: csrf = [redacted]"
        );
    }
}
