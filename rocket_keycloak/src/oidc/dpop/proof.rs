//! The checks of one DPoP proof (RFC 9449 §4.3), numbered as in the module doc of `dpop`,
//! without I/O: [`ProofRules::check_hashed`].

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;
use url::Url;

use super::error::DpopError;
use super::spend::{SKEW_MARGIN, SpentProof};

/// Proofs longer than this are refused before parsing (a proof with an RSA-4096 key is
/// about 1.5 KiB).
pub(crate) const MAX_PROOF_BYTES: usize = 8 * 1024;
/// The oldest `iat` accepted, in seconds before now.
pub(crate) const PROOF_MAX_AGE: u64 = 60;
/// The latest `iat` accepted, in seconds after now (clock skew).
pub(crate) const PROOF_MAX_FUTURE: u64 = 5;
/// The longest `jti` accepted.
pub(crate) const MAX_JTI_BYTES: usize = 256;
/// A proof that passed every check but the replay check, which its `jti` is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedProof {
    /// A fixed-size id of the proof for the replay check (SHA-256 of `jkt` and `jti`).
    pub replay_id: [u8; 32],
    /// A fixed-size id of its key (SHA-256 of `jkt`), for the per-key quota.
    pub key_id: [u8; 32],
    /// Until when the proof would be accepted, Unix seconds: remember it that long.
    pub accepted_until: u64,
}

impl CheckedProof {
    /// The proof as a replay record keeps it, at `now`: remembered for as long as it could
    /// still be accepted, plus the skew margin (`spend.rs`), its key allowed `key_quota`.
    pub fn to_spend(&self, now: u64, key_quota: usize) -> SpentProof {
        let live = self.accepted_until.saturating_sub(now);
        SpentProof {
            id: self.replay_id,
            key: self.key_id,
            remember_for: Duration::from_secs(live + SKEW_MARGIN),
            key_quota,
        }
    }
}

/// The request a proof must be for.
#[derive(Debug, Clone, Copy)]
pub struct ProofTarget<'a> {
    /// The HTTP method, upper case.
    pub method: &'a str,
    /// The request's path as received (percent-encoded, without the query).
    pub path: &'a str,
}

/// A base64url JSON segment of a JWS, if it reads as `T`.
fn decode_json<T: serde::de::DeserializeOwned>(segment: &str) -> Option<T> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).ok()?).ok()
}

/// The claims of a proof.
#[derive(Deserialize)]
struct ProofClaims {
    jti: Option<String>,
    htm: Option<String>,
    htu: Option<String>,
    iat: Option<f64>,
    ath: Option<String>,
}

/// The proof checks, built once from the configuration.
#[derive(Debug, Clone)]
pub struct ProofRules {
    algorithms: Vec<Algorithm>,
    app_url: Url,
}

impl ProofRules {
    /// Rules for proofs signed with one of `algorithms` (asymmetric: the configuration checks
    /// it), for requests to the app at `app_url`.
    pub fn new(algorithms: &[Algorithm], app_url: &Url) -> Self {
        Self { algorithms: algorithms.to_vec(), app_url: app_url.clone() }
    }

    /// The algorithms a proof may use, for the `algs` of the `DPoP` challenge.
    pub fn algorithm_names(&self) -> String {
        let names: Vec<String> = self.algorithms.iter().map(|a| format!("{a:?}")).collect();
        names.join(" ")
    }

    /// Checks 1–9 of the module doc for a proof sent with `access_token`, which is bound to
    /// the key with thumbprint `jkt`, on the request `target`, at `now` (Unix seconds).
    /// (The guard uses [`Self::check_hashed`]; this form is for tests, benches and fuzzing.)
    #[cfg(any(test, feature = "testing"))]
    pub fn check(
        &self,
        proof: &str,
        access_token: &str,
        jkt: &str,
        target: ProofTarget<'_>,
        now: u64,
    ) -> Result<CheckedProof, DpopError> {
        let token_hash = Sha256::digest(access_token.as_bytes()).into();
        self.check_hashed(proof, &token_hash, jkt, target, now)
    }

    /// Checks 1–9 of the module doc for a proof sent with the access token whose SHA-256 is
    /// `token_hash` (the guard has it already: the verified-token cache's key), bound to the
    /// key with thumbprint `jkt`, on the request `target`, at `now` (Unix seconds).
    pub fn check_hashed(
        &self,
        proof: &str,
        token_hash: &[u8; 32],
        jkt: &str,
        target: ProofTarget<'_>,
        now: u64,
    ) -> Result<CheckedProof, DpopError> {
        // 1.
        let mut parts = proof.split('.');
        let (Some(header_part), Some(claims_part), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(DpopError::Malformed);
        };
        if proof.len() > MAX_PROOF_BYTES {
            return Err(DpopError::Malformed);
        }
        let header: Map<String, Value> = decode_json(header_part).ok_or(DpopError::Malformed)?;
        // 2.
        if header.get("typ").and_then(Value::as_str) != Some("dpop+jwt")
            || ["jku", "x5u", "x5c", "kid", "crit"].iter().any(|name| header.contains_key(*name))
        {
            return Err(DpopError::Header);
        }
        // 3. The binding first (both thumbprints are public: the token carries one, the proof
        // the key): a proof by any other key is refused without a signature check.
        let jwk = header.get("jwk").and_then(Value::as_object).ok_or(DpopError::Key)?;
        if thumbprint(jwk).ok_or(DpopError::Key)? != jkt {
            return Err(DpopError::KeyBinding);
        }
        // 4.
        let alg = header.get("alg").and_then(Value::as_str).ok_or(DpopError::Algorithm)?;
        let alg: Algorithm = alg.parse().map_err(|_| DpopError::Algorithm)?;
        if !self.algorithms.contains(&alg) || !fits(alg, jwk) {
            return Err(DpopError::Algorithm);
        }
        // 5.-7. The claims, read before the signature is checked: every refusal here costs
        // no verification, and nothing is accepted before step 8.
        let claims: ProofClaims = decode_json(claims_part).ok_or(DpopError::Malformed)?;
        if claims.htm.as_deref() != Some(target.method) {
            return Err(DpopError::Method);
        }
        let htu = claims.htu.as_deref().ok_or(DpopError::Uri)?;
        if !self.is_this_url(htu, target.path) {
            return Err(DpopError::Uri);
        }
        let iat = claims.iat.filter(|iat| iat.is_finite() && *iat >= 0.0).ok_or(DpopError::Time)?;
        let (earliest, latest) = (now.saturating_sub(PROOF_MAX_AGE), now + PROOF_MAX_FUTURE);
        if iat < earliest as f64 || iat > latest as f64 {
            return Err(DpopError::Time);
        }
        let jti = claims.jti.filter(|j| !j.is_empty() && j.len() <= MAX_JTI_BYTES);
        let jti = jti.ok_or(DpopError::Id)?;
        let ath = URL_SAFE_NO_PAD.encode(token_hash);
        if claims.ath.as_deref() != Some(ath.as_str()) {
            return Err(DpopError::AccessTokenHash);
        }
        // 8.
        let parsed: Jwk =
            serde_json::from_value(Value::Object(jwk.clone())).map_err(|_| DpopError::Key)?;
        let key = DecodingKey::from_jwk(&parsed).map_err(|_| DpopError::Key)?;
        let message = &proof[..header_part.len() + 1 + claims_part.len()];
        match jsonwebtoken::crypto::verify(signature, message.as_bytes(), &key, alg) {
            Ok(true) => {}
            Ok(false) => return Err(DpopError::Signature),
            Err(_) => return Err(DpopError::Malformed),
        }
        let replay_id: [u8; 32] =
            Sha256::new().chain_update(jkt).chain_update([0]).chain_update(&jti).finalize().into();
        let key_id: [u8; 32] = Sha256::digest(jkt).into();
        Ok(CheckedProof { replay_id, key_id, accepted_until: iat as u64 + PROOF_MAX_AGE + 1 })
    }

    /// Whether `htu` names this app's `path`, ignoring query and fragment (§4.3 step 9).
    fn is_this_url(&self, htu: &str, path: &str) -> bool {
        let (Ok(claimed), Ok(mut expected)) = (Url::parse(htu), Url::parse(self.app_url.as_str()))
        else {
            return false;
        };
        let base = self.app_url.path().trim_end_matches('/');
        expected.set_path(&format!("{base}{path}"));
        claimed.scheme() == expected.scheme()
            && claimed.host_str() == expected.host_str()
            && claimed.port_or_known_default() == expected.port_or_known_default()
            && claimed.path() == expected.path()
            && claimed.username().is_empty()
            && claimed.password().is_none()
    }
}

/// Whether `alg` is the algorithm family of the key (step 4): RSA keys sign `RS*`/`PS*`,
/// P-256 `ES256`, P-384 `ES384`, Ed25519 `EdDSA`.
fn fits(alg: Algorithm, jwk: &Map<String, Value>) -> bool {
    let member = |name: &str| jwk.get(name).and_then(Value::as_str);
    match (member("kty"), member("crv")) {
        (Some("RSA"), _) => matches!(
            alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        ),
        (Some("EC"), Some("P-256")) => alg == Algorithm::ES256,
        (Some("EC"), Some("P-384")) => alg == Algorithm::ES384,
        (Some("OKP"), Some("Ed25519")) => alg == Algorithm::EdDSA,
        _ => false,
    }
}

/// The RFC 7638 SHA-256 thumbprint (base64url) of a public JWK; `None` for a key that is
/// private, symmetric, of an unsupported type, or whose required members are not base64url
/// strings (step 3).
pub fn thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    const PRIVATE: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
    if PRIVATE.iter().any(|name| jwk.contains_key(*name)) {
        return None;
    }
    let required: &[&str] = match jwk.get("kty").and_then(Value::as_str)? {
        "RSA" => &["e", "kty", "n"],
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        _ => return None,
    };
    let mut canonical = String::from("{");
    for (i, name) in required.iter().enumerate() {
        let value = jwk.get(*name).and_then(Value::as_str)?;
        let base64url = value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if value.is_empty() || (!matches!(*name, "kty" | "crv") && !base64url) {
            return None;
        }
        if i > 0 {
            canonical.push(',');
        }
        canonical.push_str(&format!("\"{name}\":{}", Value::String(value.to_owned())));
    }
    canonical.push('}');
    Some(URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn thumbprint_matches_rfc_7638_section_3_1() {
        // The RFC's example key and thumbprint.
        let jwk = object(json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        }));
        assert_eq!(thumbprint(&jwk).unwrap(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn private_symmetric_and_odd_keys_have_no_thumbprint() {
        let ec = json!({"kty": "EC", "crv": "P-256", "x": "abc", "y": "def"});
        assert!(thumbprint(&object(ec.clone())).is_some());
        for (member, value) in [
            ("d", json!("secret")),
            ("x", json!("a\"b")),
            ("x", json!(7)),
            ("x", json!("")),
            ("kty", json!("oct")),
        ] {
            let mut key = object(ec.clone());
            key.insert(member.into(), value.clone());
            assert_eq!(thumbprint(&key), None, "{member}: {value}");
        }
        assert_eq!(thumbprint(&object(json!({"kty": "oct", "k": "abc"}))), None);
    }

    #[test]
    fn refusals_that_need_no_signature_check_come_before_it() {
        use rocket_keycloak_testkit::TestKey;
        use rocket_keycloak_testkit::dpop::{dpop_proof, jkt};
        let (key, other) = (TestKey::ec1(), TestKey::rsa2());
        let rules = ProofRules::new(
            &crate::config::DEFAULT_ALGORITHMS,
            &Url::parse("http://localhost:8000").unwrap(),
        );
        let target = ProofTarget { method: "GET", path: "/secure-data" };
        let url = "http://localhost:8000/secure-data";
        let now = rocket_keycloak_testkit::now();
        let check = |proof: &str| rules.check(proof, "the.token", &jkt(&key), target, now);
        // The signature replaced by garbage: what fails is what comes first.
        let unsigned = |proof: String| format!("{}.AAAA", proof.rsplit_once('.').unwrap().0);
        let by_other = unsigned(dpop_proof(&other, "GET", url, Some("the.token")));
        assert_eq!(check(&by_other), Err(DpopError::KeyBinding), "another key: no verification");
        let wrong_method = unsigned(dpop_proof(&key, "POST", url, Some("the.token")));
        assert_eq!(check(&wrong_method), Err(DpopError::Method));
        let good_but_unsigned = unsigned(dpop_proof(&key, "GET", url, Some("the.token")));
        assert_eq!(
            check(&good_but_unsigned),
            Err(DpopError::Signature),
            "checked last, still checked"
        );
        assert!(check(&dpop_proof(&key, "GET", url, Some("the.token"))).is_ok());
    }

    #[test]
    fn iat_is_accepted_from_60_s_ago_to_5_s_ahead_and_not_a_second_beyond() {
        use rocket_keycloak_testkit::dpop::{jkt, proof_claims, proof_header};
        use rocket_keycloak_testkit::{TestKey, mint_with_header};
        let key = TestKey::ec1();
        let rules = ProofRules::new(
            &crate::config::DEFAULT_ALGORITHMS,
            &Url::parse("http://localhost:8000").unwrap(),
        );
        let target = ProofTarget { method: "GET", path: "/secure-data" };
        // A fixed clock: the window's edges are exact here, which a live clock cannot make
        // them (the integration cases keep well away from the edges).
        let now = 1_800_000_000;
        let check_iat = |iat: u64| {
            let mut claims =
                proof_claims("GET", "http://localhost:8000/secure-data", Some("t.o.k"));
            claims["iat"] = serde_json::json!(iat);
            let proof = mint_with_header(&key, &proof_header(&key), &claims);
            rules.check(&proof, "t.o.k", &jkt(&key), target, now).map(|_| ())
        };
        assert_eq!(check_iat(now - PROOF_MAX_AGE), Ok(()));
        assert_eq!(check_iat(now + PROOF_MAX_FUTURE), Ok(()));
        assert_eq!(check_iat(now - PROOF_MAX_AGE - 1), Err(DpopError::Time));
        assert_eq!(check_iat(now + PROOF_MAX_FUTURE + 1), Err(DpopError::Time));
    }
}
