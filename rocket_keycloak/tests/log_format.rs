//! `log_format = "json"`: each record is one line holding one JSON object with `level`,
//! `target` and `message`, credentials redacted as in text lines. The logger is called
//! directly (not installed), so this binary's tests do not share a process logger.

use std::sync::Mutex;

use log::{Level, Log, Record};
use rocket_keycloak::{LogFormat, RedactingLogger};

static CAPTURED: Mutex<String> = Mutex::new(String::new());

fn capture(line: &str) {
    let mut captured = CAPTURED.lock().unwrap();
    captured.push_str(line);
    captured.push('\n');
}

#[test]
fn json_lines_are_one_object_per_line_with_level_target_and_message_redacted() {
    let logger =
        RedactingLogger::with_sink(log::LevelFilter::Info, capture).with_format(LogFormat::Json);
    let log = |level: Level, target: &str, message: std::fmt::Arguments<'_>| {
        logger.log(&Record::builder().level(level).target(target).args(message).build());
    };
    log(Level::Info, "rocket_keycloak::oidc", format_args!("OIDC keys of realm demo loaded"));
    log(
        Level::Info,
        "_",
        format_args!("GET /authorize?state=s3cret-state&code=s3cret-code&iss=x \"quoted\""),
    );
    // A newline inside a message must not start a line of its own (a forged record).
    log(Level::Warn, "app", format_args!("first\n{{\"level\":\"ERROR\",\"message\":\"forged\"}}"));
    log(Level::Debug, "app", format_args!("below the level: not written"));

    let captured = CAPTURED.lock().unwrap().clone();
    assert!(!captured.contains("s3cret"), "{captured}");
    let lines: Vec<serde_json::Value> = captured
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert_eq!(lines.len(), 3, "{captured}");
    for line in &lines {
        let object = line.as_object().expect("an object per line");
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["level", "message", "target"], "{line}");
    }
    assert_eq!(lines[0]["level"], "INFO");
    assert_eq!(lines[0]["target"], "rocket_keycloak::oidc");
    assert_eq!(lines[0]["message"], "OIDC keys of realm demo loaded");
    assert_eq!(
        lines[1]["message"],
        "GET /authorize?state=[redacted]&code=[redacted]&iss=x \"quoted\""
    );
    assert_eq!(lines[2]["level"], "WARN");
    assert!(lines[2]["message"].as_str().unwrap().contains("forged"));
}
