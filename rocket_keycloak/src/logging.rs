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
//! - Below debug it drops Rocket's per-request lines for refusals, so that requests without
//!   valid credentials cannot write one line each (a summary every 60 s and the metrics count
//!   them instead, `telemetry.rs`). Rocket's line for a failed guard names the guard as the
//!   route wrote it (`RequireAcr < Gold >`) and comes from the route's module, so neither
//!   tells this crate's guards from the app's. What does: every refusal of every guard here
//!   goes through `guard_refused` (from `AuthError::record`, which each guard's failure
//!   calls), and Rocket logs its line right after, on the same thread, with the refusal as
//!   `{:?}`. The line that follows a refusal of ours and carries exactly its text is
//!   dropped; a guard added later is covered without being named, and an app's own guard
//!   keeps its line. Rocket's lines about requests to this crate's own routes (a junk form
//!   posted to `/logout`) carry the route's module path, `rocket_keycloak::..::_`, and are
//!   dropped by that path.
//! - Two formats ([`LogFormat`], `oidc.log_format`): `LEVEL target: message`, or one JSON
//!   object per line (`level`, `target`, `message`) for log collectors. The message is
//!   redacted first and then encoded, so JSON lines carry no more than text lines do, and a
//!   newline inside a message cannot start a forged line.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt::{Debug, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};

use log::{LevelFilter, Log, Metadata, Record};

use crate::config::LogFormat;

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

/// The refusal a guard of this crate returned last on this thread, as `{:?}` prints it, until
/// the next log record on the thread (Rocket's line for that guard, when it logs one).
struct LastRefusal {
    pending: bool,
    text: String,
}

thread_local! {
    static LAST_REFUSAL: RefCell<LastRefusal> =
        const { RefCell::new(LastRefusal { pending: false, text: String::new() }) };
}

/// Every refusal of a guard of this crate comes here (`AuthError::record`): its precise reason
/// goes to the log at debug, and Rocket's line for it, which comes next, is recognised as
/// this crate's (see the module decisions).
pub(crate) fn guard_refused(request: &rocket::Request<'_>, error: &dyn Debug) {
    log::debug!("auth refused {} {}: {error:?}", request.method(), request.uri().path());
    // After the debug line, which would consume the mark; and only when someone reads it.
    if DROPS_REFUSALS.load(Ordering::Relaxed) {
        mark_refusal(error);
    }
}

/// Whether this process's logger is a [`RedactingLogger`] that drops Rocket's lines for
/// refusals (it logs, below debug): the refusals need marking only then.
static DROPS_REFUSALS: AtomicBool = AtomicBool::new(false);

/// Marks `error` as the refusal Rocket's next line on this thread is about.
fn mark_refusal(error: &dyn Debug) {
    with_last_refusal(|last| {
        last.text.clear();
        let _ = write!(last.text, "{error:?}");
        last.pending = true;
    });
}

/// Runs `f` on this thread's [`LastRefusal`]; `None` while the thread is being torn down (a
/// logger must not panic).
fn with_last_refusal<T>(f: impl FnOnce(&mut LastRefusal) -> T) -> Option<T> {
    LAST_REFUSAL.try_with(|cell| cell.try_borrow_mut().ok().map(|mut last| f(&mut last))).ok()?
}

/// Whether `message` is Rocket's line for the refusal `guard_refused` marked last on this
/// thread ("Request guard `T` failed: <the refusal>."). Any record consumes the mark.
fn follows_our_refusal(message: Option<&str>) -> bool {
    with_last_refusal(|last| {
        let pending = std::mem::take(&mut last.pending);
        let failure = message
            .and_then(|m| m.strip_prefix("Request guard `"))
            .and_then(|m| m.split_once("` failed: "))
            .and_then(|(_, error)| error.strip_suffix('.'));
        pending && failure == Some(last.text.as_str())
    })
    .unwrap_or(false)
}

/// Writes `LEVEL target: message` (or a JSON object, [`LogFormat`]) to stderr (or a sink),
/// one line per record, credentials redacted.
pub struct RedactingLogger {
    level: LevelFilter,
    sink: fn(&str),
    format: LogFormat,
}

fn stderr_sink(line: &str) {
    eprintln!("{line}");
}

impl RedactingLogger {
    /// A logger at `level` writing to stderr.
    pub fn new(level: LevelFilter) -> Self {
        Self { level, sink: stderr_sink, format: LogFormat::Text }
    }

    /// The same logger writing `format` (`oidc.log_format`, see [`LogFormat::from_figment`]).
    pub fn with_format(self, format: LogFormat) -> Self {
        Self { format, ..self }
    }

    /// A logger at `level` writing each line to `sink` (tests).
    pub fn with_sink(level: LevelFilter, sink: fn(&str)) -> Self {
        Self { level, sink, format: LogFormat::Text }
    }

    /// Installs this logger process-wide (before launch: Rocket then keeps it instead of
    /// its own); false if a logger was installed before.
    pub fn install(self) -> bool {
        let level =
            if self.level == LevelFilter::Off { LevelFilter::Off } else { LevelFilter::Trace };
        let drops_refusals = self.level != LevelFilter::Off && self.level < LevelFilter::Debug;
        let installed = log::set_boxed_logger(Box::new(self)).is_ok();
        if installed {
            // `enabled` does the filtering (it lets the launch banner through).
            log::set_max_level(level);
            REDACTED.store(true, Ordering::Release);
            DROPS_REFUSALS.store(drops_refusals, Ordering::Relaxed);
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
        // The `log` macros call this for every record up to the maximum level (`install`
        // sets trace), so the refusal mark is consumed even by records this level hides.
        if !self.enabled(record.metadata()) {
            follows_our_refusal(None);
            return;
        }
        let message = record.args().to_string();
        let ours =
            follows_our_refusal(Some(&message)) || is_rocket_line_in_our_routes(record.target());
        if self.level < LevelFilter::Debug && (ours || is_refusal_catcher(&message)) {
            return;
        }
        let (level, target, message) = (record.level(), record.target(), redact(&message));
        let line = match self.format {
            LogFormat::Json => serde_json::json!({
                "level": level.as_str(), "target": target, "message": message,
            })
            .to_string(),
            _ => format!("{level} {target}: {message}"),
        };
        (self.sink)(&line);
    }

    fn flush(&self) {}
}

/// Rocket's line for the catcher of a refusal ("Responding with registered (unauthorized) 401
/// catcher.", or "No 422 catcher registered. Using Rocket default."), one per refused request:
/// dropped below debug like the guard's line. Keyed on the statuses of refusals (the guards',
/// and 422 for a form that does not parse), not on a guard.
fn is_refusal_catcher(message: &str) -> bool {
    const REFUSALS: [&str; 5] = ["400", "401", "403", "422", "503"];
    let status = match message.strip_prefix("Responding with registered ") {
        Some(catcher) => catcher.strip_suffix(" catcher.").and_then(|c| c.rsplit(' ').next()),
        None => message
            .strip_prefix("No ")
            .and_then(|m| m.strip_suffix(" catcher registered. Using Rocket default.")),
    };
    status.is_some_and(|status| REFUSALS.contains(&status))
}

/// Whether `target` is that of Rocket's own lines about a request to a route of this crate
/// (`SignIn`'s): the route's module with `::_`, as in
/// `rocket_keycloak::routes::auth::logout::_` ("Data guard `Form<..>` failed" for a junk
/// form). This crate's own records never end in `::_`.
fn is_rocket_line_in_our_routes(target: &str) -> bool {
    target
        .strip_prefix(env!("CARGO_CRATE_NAME"))
        .is_some_and(|rest| rest.starts_with("::") && rest.ends_with("::_"))
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
    fn only_the_line_right_after_a_refusal_of_ours_with_its_text_is_ours() {
        #[derive(Debug)]
        struct MissingCredentials; // prints as the `AuthError` variant does
        let refused = || mark_refusal(&MissingCredentials);
        let line = |guard: &str, error: &str| format!("Request guard `{guard}` failed: {error}.");
        // Whatever the guard's name as the route wrote it (an app's guard that passes a refusal
        // of ours on unchanged is a refusal of ours).
        refused();
        assert!(follows_our_refusal(Some(&line("RequireAcr < Gold >", "MissingCredentials"))));
        refused();
        assert!(follows_our_refusal(Some(&line("MyGuard", "MissingCredentials"))));
        // Once only.
        assert!(!follows_our_refusal(Some(&line("RequireAcr < Gold >", "MissingCredentials"))));
        // An app's own guard failing after ours passed (a `MaybeUser` beside it).
        refused();
        assert!(!follows_our_refusal(Some(&line("ApiKey", "Missing"))));
        // Another record in between: Rocket's next guard line is not the one for ours.
        refused();
        follows_our_refusal(None);
        assert!(!follows_our_refusal(Some(&line("ApiKey", "MissingCredentials"))));
    }

    #[test]
    fn catcher_lines_of_refusals_and_rocket_lines_in_our_routes_are_ours() {
        assert!(is_refusal_catcher("Responding with registered (unauthorized) 401 catcher."));
        assert!(is_refusal_catcher("No 422 catcher registered. Using Rocket default."));
        assert!(!is_refusal_catcher("Responding with registered (server_error) 500 catcher."));
        assert!(!is_refusal_catcher("No 404 catcher registered. Using Rocket default."));
        assert!(is_rocket_line_in_our_routes("rocket_keycloak::routes::auth::logout::_"));
        assert!(!is_rocket_line_in_our_routes("rocket_keycloak::routes::auth::logout"));
        assert!(!is_rocket_line_in_our_routes("rocket_keycloak_demo::routes::notes::_"));
        assert!(!is_rocket_line_in_our_routes("rocket::server::_"));
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
