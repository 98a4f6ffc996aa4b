//! Prints a DPoP proof (RFC 9449) for one request, so curl can send DPoP-bound requests:
//!
//! ```sh
//! openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out dpop.pem
//! cargo run -q --example dpop_proof -- dpop.pem POST http://localhost:8080/realms/demo/protocol/openid-connect/token
//! cargo run -q --example dpop_proof -- dpop.pem GET http://localhost:8000/secure-data "$TOKEN"
//! ```
//!
//! The key is an EC P-256 private key in PEM (PKCS#8, as openssl writes it); the proof
//! carries its public half. With an access token as the last argument the proof also
//! carries `ath`, as a resource server requires. Every run makes a new `jti`: a proof is
//! good for one request.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use sha2::{Digest, Sha256};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [key, method, url, rest @ ..] = args.as_slice() else {
        eprintln!("usage: dpop_proof <p256-key.pem> <METHOD> <URL> [ACCESS_TOKEN]");
        std::process::exit(2);
    };
    let pem = std::fs::read(key).unwrap_or_else(|e| fail(&format!("{key}: {e}")));
    let key = EncodingKey::from_ec_pem(&pem).unwrap_or_else(|e| fail(&format!("{key}: {e}")));
    let jwk =
        Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap_or_else(|e| fail(&e.to_string()));
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some("dpop+jwt".into());
    header.jwk = Some(jwk);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    // 128 random bits from the standard library's per-process random hash keys.
    let jti = format!(
        "{:016x}{:016x}",
        RandomState::new().hash_one(now),
        RandomState::new().hash_one(std::process::id())
    );
    let mut claims = json!({"jti": jti, "htm": method, "htu": url, "iat": now});
    if let Some(token) = rest.first() {
        claims["ath"] = json!(URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes())));
    }
    let proof =
        jsonwebtoken::encode(&header, &claims, &key).unwrap_or_else(|e| fail(&e.to_string()));
    println!("{proof}");
}

fn fail(why: &str) -> ! {
    eprintln!("dpop_proof: {why}");
    std::process::exit(1);
}
