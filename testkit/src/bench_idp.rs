//! The static identity provider of `scripts/bench` and `scripts/soak`: a blocking server on
//! 127.0.0.1 that serves a discovery document and a JWKS (no Keycloak needed), and the token
//! files the load runs replay. The `bench_idp` example is its command line:
//!
//! ```text
//! bench_idp <port> <out-dir> <distinct-tokens> [serve-only]
//! ```
//!
//! Three RSA keys (the fixtures `rsa1`, `rsa2`, `rsa3`) under kids `k1`, `k2`, `k3`. Unless
//! `serve-only`, it writes to `<out-dir>`: `one.txt` (one valid `k1` token), `valid.txt`
//! (distinct valid `k1` tokens, one per line), `valid-k2.txt`, `valid-k3.txt` (1000 each),
//! `invalid.txt` (forged: kid `k1`, signed with another key), `unknown-kid.txt` (1000 tokens
//! naming kids nobody publishes, without `iat`, so the app cannot rule their key out: the
//! soak's flood), `dpop-token.txt` (one `k1` token bound to the fixture key `ec1`),
//! `jwk-k<N>.json` (each public key), `jwks.json` (`k1` only), and `light.txt` (one
//! lightweight `k1` token, shaped as Keycloak's: no `sub` and no role claims) with
//! `light-distinct.txt` (1000 of them). Every other token carries [`bench_user_claims`]. `bench_idp proofs <out-dir> <count> <url>` writes `proofs.txt`:
//! fresh single-use DPoP proofs for that token ([`BenchIdp::write_proofs`]).
//!
//! It also answers the token endpoint for a sign-in, so `scripts/bench` can measure requests
//! authenticated by a session: for `grant_type=authorization_code`, the `code` is taken as
//! the nonce to put into the ID token (the bench sends the browser's nonce as the code), and
//! the answer carries a fresh `k1` access token and ID token of `user-0`, valid for an hour.
//! And it answers the introspection endpoint (RFC 7662), as Keycloak does for a lightweight
//! token: `active`, the token's own claims, and `user-0`'s `sub` and roles; a token it cannot
//! read is `{"active":false}`. The client credentials are not checked.
//!
//! Decisions:
//! - Blocking std networking, one request per connection: the app fetches discovery and the
//!   JWKS a handful of times per run, and a server this small cannot be what a benchmark
//!   measures.
//! - The JWKS is read from `jwks.json` on every request, so a script rotates keys by
//!   rewriting that file (`scripts/soak` does, once a minute).
//! - The scripts wait for the `ready` line on stdout and read the files by these names: both
//!   are a contract, not a detail.

use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpListener;
use std::ops::RangeInclusive;
use std::path::PathBuf;

use serde_json::json;

use crate::dpop::{jkt, proof_claims, proof_header};
use crate::keys::TestKey;
use crate::tokens::{bench_user_claims, mint, mint_with_header};

/// What the bench IdP serves and where it writes its files.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchIdp {
    /// The port on 127.0.0.1 (default 18080).
    pub port: u16,
    /// Where the token and key files go (default `target/bench`).
    pub out_dir: PathBuf,
    /// How many distinct valid `k1` tokens `valid.txt` holds (default 10 000).
    pub distinct_tokens: usize,
    /// Serve the files an earlier run wrote; write nothing.
    pub serve_only: bool,
}

impl BenchIdp {
    /// Reads `<port> <out-dir> <distinct-tokens> [serve-only]` (the program name already
    /// skipped); a missing or unreadable value takes its default.
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Self {
        let args: Vec<String> = args.into_iter().collect();
        Self {
            port: args.first().and_then(|p| p.parse().ok()).unwrap_or(18080),
            out_dir: PathBuf::from(args.get(1).map_or("target/bench", String::as_str)),
            distinct_tokens: args.get(2).and_then(|n| n.parse().ok()).unwrap_or(10_000),
            serve_only: args.get(3).map(String::as_str) == Some("serve-only"),
        }
    }

    /// Its issuer URL: realm `bench` on its port.
    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}/realms/bench", self.port)
    }

    /// Writes the key and token files (see the module documentation).
    pub fn write_files(&self) -> io::Result<()> {
        let out = &self.out_dir;
        let issuer = self.issuer();
        let keys = [
            TestKey::rsa1().with_kid("k1"),
            TestKey::rsa2().with_kid("k2"),
            TestKey::rsa3().with_kid("k3"),
        ];
        for key in &keys {
            std::fs::write(out.join(format!("jwk-{}.json", key.kid)), key.jwk.to_string())?;
        }
        let first = std::fs::read_to_string(out.join("jwk-k1.json"))?;
        std::fs::write(out.join("jwks.json"), format!("{{\"keys\":[{first}]}}"))?;
        let signer = &keys[0];
        // The forger names the signer's kid but holds another key.
        let forger = TestKey::rsa2().with_kid("k1");
        std::fs::write(out.join("one.txt"), mint(signer, &bench_user_claims(&issuer, 0)) + "\n")?;
        let lines = |key: &TestKey, range: RangeInclusive<usize>| {
            range.map(|n| mint(key, &bench_user_claims(&issuer, n))).collect::<Vec<_>>().join("\n")
                + "\n"
        };
        std::fs::write(out.join("valid.txt"), lines(signer, 1..=self.distinct_tokens))?;
        std::fs::write(out.join("valid-k2.txt"), lines(&keys[1], 1..=1000))?;
        std::fs::write(out.join("valid-k3.txt"), lines(&keys[2], 1..=1000))?;
        std::fs::write(out.join("invalid.txt"), lines(&forger, 1..=1000))?;
        let unknown_kid = (1..=1000).map(|n| {
            let mut claims = bench_user_claims(&issuer, n);
            claims.as_object_mut().map(|claims| claims.remove("iat"));
            mint(&keys[2].with_kid(&format!("flood-{n}")), &claims)
        });
        std::fs::write(
            out.join("unknown-kid.txt"),
            unknown_kid.collect::<Vec<_>>().join("\n") + "\n",
        )?;
        // A DPoP-bound token (to the fixture key `ec1`), as Keycloak shapes them.
        let mut bound = bench_user_claims(&issuer, 0);
        bound["typ"] = json!("DPoP");
        bound["cnf"] = json!({"jkt": jkt(&TestKey::ec1()), "kc-jkt-type": "DPoP"});
        std::fs::write(out.join("dpop-token.txt"), mint(signer, &bound) + "\n")?;
        let light = |n| mint(signer, &lightweight_claims(&issuer, n));
        std::fs::write(out.join("light.txt"), light(0) + "\n")?;
        let distinct: Vec<String> = (1..=1000).map(light).collect();
        std::fs::write(out.join("light-distinct.txt"), distinct.join("\n") + "\n")?;
        Ok(())
    }

    /// Writes `proofs.txt`: `count` distinct DPoP proofs by `ec1` for `GET <url>` with the
    /// token of `dpop-token.txt`, issued now (a proof is good for 60 s and one request, so
    /// `scripts/bench` makes them right before each run).
    pub fn write_proofs(&self, url: &str, count: usize) -> io::Result<()> {
        let token = std::fs::read_to_string(self.out_dir.join("dpop-token.txt"))?;
        let (key, token) = (TestKey::ec1(), token.trim());
        let header = proof_header(&key);
        let proofs: Vec<String> = (0..count)
            .map(|n| {
                let mut claims = proof_claims("GET", url, Some(token));
                claims["jti"] = json!(format!("bench-{}-{n}", crate::tokens::now()));
                mint_with_header(&key, &header, &claims)
            })
            .collect();
        std::fs::write(self.out_dir.join("proofs.txt"), proofs.join("\n") + "\n")
    }

    /// Serves discovery and the JWKS (from `jwks.json`) until the process is killed; prints
    /// the `ready` line once it listens.
    pub fn serve(&self) -> io::Result<()> {
        let issuer = self.issuer();
        let discovery = json!({
            "issuer": issuer,
            "jwks_uri": format!("{issuer}/protocol/openid-connect/certs"),
            "authorization_endpoint": format!("{issuer}/protocol/openid-connect/auth"),
            "token_endpoint": format!("{issuer}/protocol/openid-connect/token"),
            "introspection_endpoint": format!("{issuer}/protocol/openid-connect/token/introspect"),
        })
        .to_string();
        let listener = TcpListener::bind(("127.0.0.1", self.port))?;
        let mut jwks;
        println!("bench_idp: {issuer} ready, tokens in {}", self.out_dir.display());
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(&stream);
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let mut length = 0;
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).map_or(true, |n| n == 0) || header == "\r\n" {
                    break;
                }
                if let Some(value) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse::<usize>().unwrap_or(0).min(64 * 1024);
                }
            }
            let mut form = vec![0; length];
            if std::io::Read::read_exact(&mut reader, &mut form).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/");
            let (tokens, answer);
            let (status, body) = if path.ends_with("/.well-known/openid-configuration") {
                ("200 OK", discovery.as_str())
            } else if path.ends_with("/certs") {
                jwks = std::fs::read_to_string(self.out_dir.join("jwks.json")).unwrap_or_default();
                ("200 OK", jwks.as_str())
            } else if path.ends_with("/token/introspect") {
                answer = self.introspection(&form);
                ("200 OK", answer.as_str())
            } else if path.ends_with("/token") {
                tokens = self.sign_in_tokens(&form);
                match &tokens {
                    Some(tokens) => ("200 OK", tokens.as_str()),
                    None => ("400 Bad Request", r#"{"error":"invalid_grant"}"#),
                }
            } else {
                ("404 Not Found", "{}")
            };
            let mut stream = &stream;
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
        Ok(())
    }
}

impl BenchIdp {
    /// The token endpoint's answer to an authorization-code grant whose `code` is the nonce.
    fn sign_in_tokens(&self, form: &[u8]) -> Option<String> {
        let field = |name: &str| {
            url::form_urlencoded::parse(form).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
        };
        if field("grant_type").as_deref() != Some("authorization_code") {
            return None;
        }
        let nonce = field("code")?;
        let issuer = self.issuer();
        let key = TestKey::rsa1().with_kid("k1");
        let access = bench_user_claims(&issuer, 0);
        let now = crate::tokens::now();
        let id = json!({
            "iss": issuer, "sub": access["sub"], "aud": "demo-app", "azp": "demo-app",
            "typ": "ID", "nonce": nonce, "iat": now, "exp": now + 3600, "sid": access["sid"],
        });
        let answer = json!({
            "access_token": mint(&key, &access), "id_token": mint(&key, &id),
            "token_type": "Bearer", "expires_in": 3600,
        });
        Some(answer.to_string())
    }
}

/// A lightweight access token of `light-<n>`, as Keycloak issues them with
/// `client.use.lightweight.access.token.enabled`: no `sub`, no roles, no profile; the audience
/// from a mapper marked `lightweight.claim`.
fn lightweight_claims(issuer: &str, n: usize) -> serde_json::Value {
    let now = crate::tokens::now();
    json!({
        "exp": now + 3600, "iat": now, "jti": format!("light-{n}"), "iss": issuer,
        "aud": "demo-app", "typ": "Bearer", "azp": "demo-app", "sid": format!("sid-{n}"),
        "scope": "openid profile email",
    })
}

impl BenchIdp {
    /// The introspection endpoint's answer: the token's claims (read, not verified: the app
    /// verified it first) over `user-0`'s, marked active.
    fn introspection(&self, form: &[u8]) -> String {
        use base64::Engine as _;
        let token = url::form_urlencoded::parse(form).find(|(k, _)| k == "token").map(|(_, v)| v);
        let payload = token.as_deref().and_then(|t| t.split('.').nth(1)).and_then(|p| {
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).ok()?;
            serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes).ok()
        });
        let Some(payload) = payload else {
            return r#"{"active":false}"#.to_owned();
        };
        let mut answer = bench_user_claims(&self.issuer(), 0);
        if let Some(answer) = answer.as_object_mut() {
            answer.extend(payload);
            answer.insert("active".into(), json!(true));
        }
        answer.to_string()
    }
}

/// The whole bench IdP: creates the output folder, writes the files unless `serve_only`,
/// then serves until killed.
pub fn run(idp: &BenchIdp) -> io::Result<()> {
    std::fs::create_dir_all(&idp.out_dir)?;
    if !idp.serve_only {
        idp.write_files()?;
    }
    idp.serve()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> BenchIdp {
        BenchIdp::from_args(list.iter().map(|a| a.to_string()))
    }

    #[test]
    fn arguments_read_as_the_bench_and_soak_scripts_pass_them() {
        assert_eq!(
            args(&["18081", "target/soak", "2000", "serve-only"]),
            BenchIdp {
                port: 18081,
                out_dir: "target/soak".into(),
                distinct_tokens: 2000,
                serve_only: true
            }
        );
        // `scripts/soak` passes an empty fourth argument on its first start.
        assert!(!args(&["18081", "target/soak", "2000", ""]).serve_only);
        assert_eq!(args(&["18081"]).issuer(), "http://127.0.0.1:18081/realms/bench");
    }

    #[test]
    fn missing_or_unreadable_arguments_take_their_defaults() {
        let defaults = BenchIdp {
            port: 18080,
            out_dir: "target/bench".into(),
            distinct_tokens: 10_000,
            serve_only: false,
        };
        assert_eq!(args(&[]), defaults);
        assert_eq!(args(&["port", "target/bench", "many"]), defaults);
    }
}
