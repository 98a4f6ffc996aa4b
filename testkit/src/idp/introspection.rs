//! The IdP's introspection endpoint (RFC 7662): it answers what a test told it for a token
//! ([`Idp::expect_introspection`]), `{"active": false}` for any other, and can be slow,
//! huge or failing on its own ([`Idp::set_introspection_mode`]) while discovery and keys
//! stay healthy. It counts its calls and the most that were ever in flight at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::{Idp, Mode};

/// The endpoint's state.
pub(super) struct Introspection {
    answers: HashMap<String, Value>,
    mode: Mode,
    last_request: Vec<(String, String)>,
    calls: usize,
}

impl Default for Introspection {
    fn default() -> Self {
        Self { answers: HashMap::new(), mode: Mode::Normal, last_request: Vec::new(), calls: 0 }
    }
}

/// Calls in flight now and at most, shared by every connection.
#[derive(Default)]
pub(super) struct InFlight {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl Idp {
    /// The introspection endpoint will answer `answer` for `token` (until replaced).
    pub fn expect_introspection(&self, token: &str, answer: Value) {
        self.state.lock().unwrap().introspection.answers.insert(token.into(), answer);
    }

    /// Changes how the introspection endpoint alone answers from the next call on.
    pub fn set_introspection_mode(&self, mode: Mode) {
        self.state.lock().unwrap().introspection.mode = mode;
    }

    /// How many introspection calls arrived.
    pub fn introspection_calls(&self) -> usize {
        self.state.lock().unwrap().introspection.calls
    }

    /// The most introspection calls that were in flight at once.
    pub fn introspection_peak(&self) -> usize {
        self.introspections_in_flight.peak.load(Ordering::SeqCst)
    }

    /// The form fields of the last introspection call.
    pub fn last_introspection_request(&self) -> Vec<(String, String)> {
        self.state.lock().unwrap().introspection.last_request.clone()
    }
}

/// Answers one introspection call on `stream`.
pub(super) async fn answer(
    stream: &mut TcpStream,
    state: &Mutex<super::State>,
    in_flight: &Arc<InFlight>,
    form: Vec<(String, String)>,
) {
    let now = in_flight.now.fetch_add(1, Ordering::SeqCst) + 1;
    in_flight.peak.fetch_max(now, Ordering::SeqCst);
    let (mode, answer) = {
        let mut state = state.lock().unwrap();
        let endpoint = &mut state.introspection;
        endpoint.calls += 1;
        let token = form.iter().find(|(k, _)| k == "token").map(|(_, v)| v.clone());
        endpoint.last_request = form;
        let known = token.and_then(|token| endpoint.answers.get(&token).cloned());
        (endpoint.mode.clone(), known.unwrap_or_else(|| json!({"active": false})))
    };
    let (status, body) = match mode {
        Mode::Normal => (200, answer.to_string()),
        Mode::Status(code) => (code, "{\"error\":\"boom\"}".into()),
        Mode::Garbage => (200, "<html>not json".into()),
        Mode::Huge => (200, format!("{{\"active\":true,\"pad\":\"{}\"}}", "x".repeat(2 << 20))),
        Mode::Delay(delay) => {
            tokio::time::sleep(delay).await;
            (200, answer.to_string())
        }
    };
    let response = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
    in_flight.now.fetch_sub(1, Ordering::SeqCst);
}
