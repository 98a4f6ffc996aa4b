//! The JWKS: which of the provider's published keys may verify an access token.
//!
//! Pure parsing, no I/O: [`KeySet::from_json`] turns the `jwks_uri` document into a map from
//! `kid` to a [`VerifyingKey`] whose algorithm is fixed by the key itself.
//!
//! Decisions:
//! - Only signature keys are kept: `use` must be `sig` or absent, and the key type must be
//!   asymmetric (RSA, EC, OKP). Keycloak's `use: enc` RSA-OAEP key and any `oct` key are
//!   dropped, as are keys without a `kid` (Keycloak always sets one, and a token must name
//!   the key it was signed with).
//! - The algorithm comes from the key's `alg`, or for EC/OKP keys from the curve. An RSA key
//!   without `alg` is bound to RS256, the only algorithm OIDC requires. A key whose
//!   algorithm is outside the configured allow-list is dropped.
//! - One bad key does not poison the set: it is skipped with a reason, which the fairing logs.

use std::collections::HashMap;
use std::sync::Arc;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde::Deserialize;

/// A public key allowed to verify tokens, with the one algorithm it may be used with.
pub struct VerifyingKey {
    /// The key id tokens refer to in their `kid` header.
    pub kid: String,
    /// The algorithm bound to this key.
    pub algorithm: Algorithm,
    /// The key material.
    pub key: DecodingKey,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// The usable signature keys of one JWKS document, indexed by `kid`.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: HashMap<String, Arc<VerifyingKey>>,
}

/// Why a JWKS document could not be used at all.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwksError {
    /// Not JSON, or no `keys` array.
    Malformed(String),
    /// The document parsed but no key is usable for signatures.
    NoUsableKeys,
}

impl std::fmt::Display for JwksError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed(why) => write!(f, "malformed JWKS: {why}"),
            Self::NoUsableKeys => f.write_str("JWKS has no usable signature key"),
        }
    }
}

impl std::error::Error for JwksError {}

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<serde_json::Value>,
}

impl KeySet {
    /// Parses a JWKS document, keeping only keys usable under `allowed`.
    ///
    /// Returns the set and, for logging, one line per skipped key.
    pub fn from_json(
        bytes: &[u8],
        allowed: &[Algorithm],
    ) -> Result<(Self, Vec<String>), JwksError> {
        let raw: RawSet =
            serde_json::from_slice(bytes).map_err(|e| JwksError::Malformed(e.to_string()))?;
        let mut keys = HashMap::new();
        let mut duplicated = Vec::new();
        let mut skipped = Vec::new();
        for (index, value) in raw.keys.into_iter().enumerate() {
            match parse_key(value, allowed) {
                Ok(key) => {
                    if keys.contains_key(&key.kid) {
                        skipped.push(format!("key #{index} (kid {:?}): duplicate kid", key.kid));
                        duplicated.push(key.kid);
                    } else {
                        keys.insert(key.kid.clone(), Arc::new(key));
                    }
                }
                Err(why) => skipped.push(format!("key #{index}: {why}")),
            }
        }
        // Two keys under one kid would make the choice ambiguous: keep neither.
        for kid in duplicated {
            keys.remove(&kid);
        }
        if keys.is_empty() {
            return Err(JwksError::NoUsableKeys);
        }
        Ok((Self { keys }, skipped))
    }

    /// The key with this id, if the set has it.
    pub fn get(&self, kid: &str) -> Option<&Arc<VerifyingKey>> {
        self.keys.get(kid)
    }

    /// Whether the set contains this key id.
    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    /// The key ids, for logs.
    pub fn kids(&self) -> Vec<&str> {
        let mut kids: Vec<&str> = self.keys.keys().map(String::as_str).collect();
        kids.sort_unstable();
        kids
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

fn parse_key(value: serde_json::Value, allowed: &[Algorithm]) -> Result<VerifyingKey, String> {
    let jwk: Jwk = serde_json::from_value(value).map_err(|e| format!("unreadable: {e}"))?;
    let kid = jwk.common.key_id.clone().ok_or("no kid")?;
    match &jwk.common.public_key_use {
        None | Some(PublicKeyUse::Signature) => {}
        Some(other) => return Err(format!("kid {kid:?}: use {other:?} is not a signature key")),
    }
    let algorithm = key_algorithm(&jwk).map_err(|why| format!("kid {kid:?}: {why}"))?;
    if !allowed.contains(&algorithm) {
        return Err(format!("kid {kid:?}: algorithm {algorithm:?} is not allowed"));
    }
    let key = DecodingKey::from_jwk(&jwk).map_err(|e| format!("kid {kid:?}: bad key: {e}"))?;
    Ok(VerifyingKey { kid, algorithm, key })
}

/// The algorithm a key is bound to; errors for symmetric, encryption or unknown keys.
fn key_algorithm(jwk: &Jwk) -> Result<Algorithm, String> {
    let declared = match jwk.common.key_algorithm {
        None => None,
        Some(alg @ (KeyAlgorithm::HS256 | KeyAlgorithm::HS384 | KeyAlgorithm::HS512)) => {
            return Err(format!("symmetric algorithm {alg:?}"));
        }
        Some(alg) => Some(Algorithm::try_from(alg).map_err(|_| format!("algorithm {alg:?}"))?),
    };
    let implied = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => {
            let alg = declared.unwrap_or(Algorithm::RS256);
            return if alg.family() == AlgorithmFamily::Rsa {
                Ok(alg)
            } else {
                Err(format!("{alg:?} on RSA key"))
            };
        }
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => Algorithm::ES256,
            EllipticCurve::P384 => Algorithm::ES384,
            ref other => return Err(format!("unsupported curve {other:?}")),
        },
        AlgorithmParameters::OctetKeyPair(okp) => match okp.curve {
            EllipticCurve::Ed25519 => Algorithm::EdDSA,
            ref other => return Err(format!("unsupported curve {other:?}")),
        },
        AlgorithmParameters::OctetKey(_) => return Err("symmetric (oct) key".into()),
        _ => return Err("unsupported key type".into()),
    };
    match declared {
        Some(alg) if alg != implied => Err(format!("alg {alg:?} does not fit the key's curve")),
        _ => Ok(implied),
    }
}

/// Key sets for the unit tests of the modules that select and schedule keys.
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// RFC 7517 A.1's modulus: selection and scheduling need keys, not secure ones.
    pub(crate) const N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";

    /// A set of RSA keys under these kids (all with the modulus [`N`]).
    pub(crate) fn key_set(kids: &[&str]) -> Result<KeySet, JwksError> {
        let keys: Vec<_> = kids
            .iter()
            .map(|kid| serde_json::json!({"kid": kid, "kty": "RSA", "n": N, "e": "AQAB"}))
            .collect();
        let json = serde_json::json!({ "keys": keys }).to_string();
        KeySet::from_json(json.as_bytes(), &crate::config::DEFAULT_ALGORITHMS).map(|(set, _)| set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_ALGORITHMS;

    use super::test_support::N;
    const P256_X: &str = "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4";
    const P256_Y: &str = "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM";

    fn parse(json: serde_json::Value) -> Result<(KeySet, Vec<String>), JwksError> {
        KeySet::from_json(json.to_string().as_bytes(), &DEFAULT_ALGORITHMS)
    }

    #[test]
    fn keycloak_shaped_set_keeps_only_the_signature_key() {
        let (set, skipped) = parse(serde_json::json!({"keys": [
            {"kid": "sig1", "kty": "RSA", "alg": "RS256", "use": "sig", "n": N, "e": "AQAB"},
            {"kid": "enc1", "kty": "RSA", "alg": "RSA-OAEP", "use": "enc", "n": N, "e": "AQAB"},
        ]}))
        .unwrap();
        assert_eq!(set.kids(), ["sig1"]);
        assert_eq!(set.get("sig1").unwrap().algorithm, Algorithm::RS256);
        assert_eq!(skipped.len(), 1);
    }

    #[test]
    fn oct_and_hmac_keys_are_dropped() {
        let result = parse(serde_json::json!({"keys": [
            {"kid": "h", "kty": "oct", "alg": "HS256", "k": "c2VjcmV0"},
            {"kid": "o", "kty": "oct", "k": "c2VjcmV0"},
        ]}));
        assert_eq!(result.unwrap_err(), JwksError::NoUsableKeys);
    }

    #[test]
    fn ec_algorithm_follows_the_curve() {
        let (set, _) = parse(serde_json::json!({"keys": [
            {"kid": "ec", "kty": "EC", "crv": "P-256", "x": P256_X, "y": P256_Y},
            {"kid": "bad", "kty": "EC", "crv": "P-256", "alg": "ES384", "x": P256_X, "y": P256_Y},
        ]}))
        .unwrap();
        assert_eq!(set.kids(), ["ec"]);
        assert_eq!(set.get("ec").unwrap().algorithm, Algorithm::ES256);
    }

    #[test]
    fn keys_without_kid_or_outside_the_allow_list_are_dropped() {
        let json = serde_json::json!({"keys": [
            {"kty": "RSA", "alg": "RS256", "n": N, "e": "AQAB"},
            {"kid": "ps", "kty": "RSA", "alg": "PS256", "n": N, "e": "AQAB"},
            {"kid": "rs", "kty": "RSA", "n": N, "e": "AQAB"},
        ]});
        let (set, skipped) =
            KeySet::from_json(json.to_string().as_bytes(), &[Algorithm::RS256]).unwrap();
        assert_eq!(set.kids(), ["rs"]);
        assert_eq!(skipped.len(), 2);
    }

    #[test]
    fn duplicate_kids_are_both_dropped() {
        let result = parse(serde_json::json!({"keys": [
            {"kid": "k", "kty": "RSA", "alg": "RS256", "n": N, "e": "AQAB"},
            {"kid": "k", "kty": "RSA", "alg": "RS256", "n": N, "e": "AQAB"},
        ]}));
        assert_eq!(result.unwrap_err(), JwksError::NoUsableKeys);
    }

    #[test]
    fn garbage_is_malformed() {
        assert!(matches!(
            KeySet::from_json(b"<html>", &DEFAULT_ALGORITHMS),
            Err(JwksError::Malformed(_))
        ));
        assert!(matches!(parse(serde_json::json!({"nokeys": 1})), Err(JwksError::Malformed(_))));
    }
}
