//! The JWKS: which of the provider's published keys may verify an access token.
//!
//! Pure parsing, no I/O: [`KeySet::from_json`] turns the `jwks_uri` document into a map from
//! `kid` to a [`VerifyingKey`] whose algorithm is fixed by the key itself.
//!
//! Decisions:
//! - Only signature keys are kept: `use` must be `sig` or absent, and the key type must be
//!   asymmetric (RSA, EC, OKP). Keycloak's `use: enc` RSA-OAEP key and any `oct` key are
//!   dropped.
//! - A token without `kid` is verified only by the one key of the set suitable for its
//!   header `alg` ([`KeySet::only_key_for`]; rule 4 in `tokens.rs`); with several candidates
//!   none is tried. A key without `kid` (Keycloak always sets one; other providers and the
//!   OIDC certification's "kid absent, single JWKS" case do not) is kept only for that role:
//!   no `kid` in a token can name it. Its [`KeyId::Unnamed`] is the SHA-256 of its key
//!   material, so it is stable across refetches (the verified-token cache keeps entries
//!   while their key is published) and is not a string, so it cannot collide with a real
//!   `kid`.
//! - The algorithm comes from the key's `alg`, or for EC/OKP keys from the curve. An RSA key
//!   without `alg` is bound to RS256, the only algorithm OIDC requires. A key whose
//!   algorithm is outside the configured allow-list is dropped.
//! - One bad key does not poison the set: it is skipped with a reason, which the fairing logs.

use std::collections::HashMap;
use std::sync::Arc;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Which published key verified a token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyId {
    /// The key's `kid`.
    Named(String),
    /// A key published without `kid`: the SHA-256 of its key material.
    Unnamed([u8; 32]),
}

impl From<&str> for KeyId {
    fn from(kid: &str) -> Self {
        Self::Named(kid.to_owned())
    }
}

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Named(kid) => write!(f, "{kid:?}"),
            Self::Unnamed(hash) => {
                f.write_str("no kid, sha256 ")?;
                hash[..6].iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
    }
}

/// A public key allowed to verify tokens, with the one algorithm it may be used with.
pub struct VerifyingKey {
    /// The key's id: its `kid`, or a hash for a key published without one.
    pub kid: KeyId,
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
    /// Keys published without `kid`: only for tokens without one.
    unnamed: Vec<Arc<VerifyingKey>>,
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
        let mut unnamed: Vec<Arc<VerifyingKey>> = Vec::new();
        let mut duplicated = Vec::new();
        let mut skipped = Vec::new();
        for (index, value) in raw.keys.into_iter().enumerate() {
            match parse_key(value, allowed) {
                Ok(key) => match &key.kid {
                    KeyId::Named(kid) if keys.contains_key(kid) => {
                        skipped.push(format!("key #{index} (kid {kid:?}): duplicate kid"));
                        duplicated.push(kid.clone());
                    }
                    KeyId::Named(kid) => {
                        keys.insert(kid.clone(), Arc::new(key));
                    }
                    // The same material twice is the same key: keep one.
                    KeyId::Unnamed(_) if unnamed.iter().any(|k| k.kid == key.kid) => {}
                    KeyId::Unnamed(_) => unnamed.push(Arc::new(key)),
                },
                Err(why) => skipped.push(format!("key #{index}: {why}")),
            }
        }
        // Two keys under one kid would make the choice ambiguous: keep neither.
        for kid in duplicated {
            keys.remove(&kid);
        }
        if keys.is_empty() && unnamed.is_empty() {
            return Err(JwksError::NoUsableKeys);
        }
        Ok((Self { keys, unnamed }, skipped))
    }

    /// The key with this `kid`, if the set has it (never a key published without `kid`).
    pub fn get(&self, kid: &str) -> Option<&Arc<VerifyingKey>> {
        self.keys.get(kid)
    }

    /// For a token without `kid`: the one key suitable for the header's `alg`, if exactly
    /// one is; with none or several, none (a token must not make us try keys in turn).
    pub fn only_key_for(&self, alg: &str) -> Option<&Arc<VerifyingKey>> {
        let alg = alg.parse::<Algorithm>().ok()?;
        let mut candidates =
            self.keys.values().chain(&self.unnamed).filter(|key| key.algorithm == alg);
        let only = candidates.next()?;
        candidates.next().is_none().then_some(only)
    }

    /// Whether the set contains this key.
    pub fn contains(&self, id: &KeyId) -> bool {
        match id {
            KeyId::Named(kid) => self.keys.contains_key(kid),
            KeyId::Unnamed(_) => self.unnamed.iter().any(|key| key.kid == *id),
        }
    }

    /// The kids of the keys published with one.
    pub fn named_kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// The key ids, for logs.
    pub fn kids(&self) -> Vec<String> {
        let mut kids: Vec<String> = self.keys.keys().map(|kid| format!("{kid:?}")).collect();
        kids.sort_unstable();
        kids.extend(self.unnamed.iter().map(|key| key.kid.to_string()));
        kids
    }

    /// Number of usable keys.
    #[cfg(any(test, feature = "testing"))]
    pub fn len(&self) -> usize {
        self.keys.len() + self.unnamed.len()
    }

    /// Whether the set is empty.
    #[cfg(feature = "testing")]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn parse_key(value: serde_json::Value, allowed: &[Algorithm]) -> Result<VerifyingKey, String> {
    let jwk: Jwk = serde_json::from_value(value).map_err(|e| format!("unreadable: {e}"))?;
    let kid = match &jwk.common.key_id {
        Some(kid) => KeyId::Named(kid.clone()),
        None => {
            let material = serde_json::to_vec(&jwk.algorithm).map_err(|e| e.to_string())?;
            KeyId::Unnamed(Sha256::digest(material).into())
        }
    };
    match &jwk.common.public_key_use {
        None | Some(PublicKeyUse::Signature) => {}
        Some(other) => return Err(format!("kid {kid}: use {other:?} is not a signature key")),
    }
    let algorithm = key_algorithm(&jwk).map_err(|why| format!("kid {kid}: {why}"))?;
    if !allowed.contains(&algorithm) {
        return Err(format!("kid {kid}: algorithm {algorithm:?} is not allowed"));
    }
    let key = DecodingKey::from_jwk(&jwk).map_err(|e| format!("kid {kid}: bad key: {e}"))?;
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
        assert_eq!(set.kids(), ["\"sig1\""]);
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
        assert_eq!(set.kids(), ["\"ec\""]);
        assert_eq!(set.get("ec").unwrap().algorithm, Algorithm::ES256);
    }

    #[test]
    fn keys_outside_the_allow_list_are_dropped() {
        let json = serde_json::json!({"keys": [
            {"kty": "RSA", "alg": "PS256", "n": N, "e": "AQAB"},
            {"kid": "ps", "kty": "RSA", "alg": "PS256", "n": N, "e": "AQAB"},
            {"kid": "rs", "kty": "RSA", "n": N, "e": "AQAB"},
        ]});
        let (set, skipped) =
            KeySet::from_json(json.to_string().as_bytes(), &[Algorithm::RS256]).unwrap();
        assert_eq!(set.kids(), ["\"rs\""]);
        assert_eq!(skipped.len(), 2);
    }

    #[test]
    fn a_key_without_kid_serves_only_tokens_without_kid() {
        let unnamed = serde_json::json!({"kty": "RSA", "alg": "RS256", "n": N, "e": "AQAB"});
        let (set, skipped) = parse(serde_json::json!({"keys": [unnamed]})).unwrap();
        assert!(skipped.is_empty());
        let key = set.only_key_for("RS256").expect("the single key");
        assert!(matches!(key.kid, KeyId::Unnamed(_)));
        assert!(set.contains(&key.kid));
        assert!(set.only_key_for("ES256").is_none(), "not suitable for another alg");
        assert!(set.only_key_for("none").is_none());
        // No kid names it, not even its own id's text.
        assert!(set.get("").is_none() && set.get(&key.kid.to_string()).is_none());
        // Refetched, it keeps its id, so cached tokens it verified stay valid.
        let (again, _) = parse(serde_json::json!({"keys": [unnamed]})).unwrap();
        assert!(again.contains(&key.kid));
    }

    #[test]
    fn a_token_without_kid_gets_no_key_when_several_could_verify_it() {
        let (set, _) = parse(serde_json::json!({"keys": [
            {"kid": "a", "kty": "RSA", "alg": "RS256", "n": N, "e": "AQAB"},
            {"kty": "RSA", "alg": "RS256", "n": N, "e": "AQAB"},
            {"kid": "ec", "kty": "EC", "crv": "P-256", "x": P256_X, "y": P256_Y},
        ]}))
        .unwrap();
        assert!(set.only_key_for("RS256").is_none(), "two RS256 candidates: none is tried");
        assert_eq!(set.only_key_for("ES256").unwrap().kid, KeyId::from("ec"));
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
