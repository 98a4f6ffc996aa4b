//! The fixture signing keys: three RSA keys, one P-256 and one Ed25519 key, generated once
//! with openssl (`keys/`, beside this crate's manifest). They sign nothing outside the tests.
//!
//! The PEM files are compiled in (`include_str!` from the manifest directory), so a test,
//! bench or fuzz target finds them whatever its working directory.

use std::sync::Arc;

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

/// A signing key of the test IdP: its private half for minting, its public JWK for the JWKS.
#[derive(Clone)]
pub struct TestKey {
    /// The `kid` it is published and minted under.
    pub kid: String,
    /// The algorithm it signs with.
    pub alg: Algorithm,
    /// The private key.
    pub encoding: Arc<EncodingKey>,
    /// The public key as a JWK (`kid` and `use: sig` set).
    pub jwk: Value,
    /// The public key as PEM (what a key-confusion attacker would use as an HMAC secret).
    pub public_pem: &'static str,
}

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/keys/", $name))
    };
}

impl TestKey {
    fn new(kid: &str, alg: Algorithm, private: &str, public_pem: &'static str) -> Self {
        let encoding = match alg {
            Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(private.as_bytes()),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(private.as_bytes()),
            _ => EncodingKey::from_rsa_pem(private.as_bytes()),
        }
        .expect("fixture key");
        let mut jwk = serde_json::to_value(Jwk::from_encoding_key(&encoding, alg).expect("jwk"))
            .expect("jwk json");
        jwk["kid"] = json!(kid);
        jwk["use"] = json!("sig");
        Self { kid: kid.into(), alg, encoding: Arc::new(encoding), jwk, public_pem }
    }

    /// RSA key 1 (RS256), kid `rsa1`: the standard key of the tests.
    pub fn rsa1() -> Self {
        Self::new("rsa1", Algorithm::RS256, fixture!("rsa1.pem"), fixture!("rsa1.pub.pem"))
    }

    /// RSA key 2 (RS256), kid `rsa2`: a rotation target, or a forger's key.
    pub fn rsa2() -> Self {
        Self::new("rsa2", Algorithm::RS256, fixture!("rsa2.pem"), fixture!("rsa2.pub.pem"))
    }

    /// RSA key 3 (RS256), kid `rsa3`.
    pub fn rsa3() -> Self {
        Self::new("rsa3", Algorithm::RS256, fixture!("rsa3.pem"), fixture!("rsa3.pub.pem"))
    }

    /// P-256 key (ES256), kid `ec1`.
    pub fn ec1() -> Self {
        Self::new("ec1", Algorithm::ES256, fixture!("ec1.pem"), fixture!("ec1.pub.pem"))
    }

    /// Ed25519 key (EdDSA), kid `ed1`.
    pub fn ed1() -> Self {
        Self::new("ed1", Algorithm::EdDSA, fixture!("ed1.pem"), fixture!("ed1.pub.pem"))
    }

    /// The same key material published under another kid.
    pub fn with_kid(&self, kid: &str) -> Self {
        let mut key = self.clone();
        key.kid = kid.into();
        key.jwk["kid"] = json!(kid);
        key
    }
}
