//! DPoP proofs (RFC 9449): the checks a resource server makes on the `DPoP` header of a
//! request that presents a DPoP-bound access token, without I/O, and the in-process cache
//! that makes each proof single-use.
//!
//! The checks of §4.3, in order of cost (cheap refusals first, the signature last), mirrored
//! by [`ProofRules::check`]:
//! 1. at most [`MAX_PROOF_BYTES`], a JWS in compact form (three base64url parts);
//! 2. header `typ` is `dpop+jwt`; no `jku`, `x5u`, `x5c`, `kid` or `crit` (the key is the
//!    `jwk`, nothing else);
//! 3. header `jwk` is a public key (`kty` `RSA`, `EC` (P-256, P-384) or `OKP` (Ed25519), no
//!    private member (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`), every member a base64url
//!    string) whose RFC 7638 thumbprint equals the token's `cnf.jkt`: a proof by any other
//!    key costs no signature check;
//! 4. header `alg` is in the configured allow-list (asymmetric only, like access tokens) and
//!    fits the key's type: the proof never signs with `none` or `HS*`;
//! 5. `htm` equals the request's method, `htu` the request's URL (`app_url` plus the path),
//!    both compared without query and fragment, scheme and host case-insensitively, default
//!    ports dropped;
//! 6. `iat` at most [`PROOF_MAX_AGE`] seconds ago and at most [`PROOF_MAX_FUTURE`] ahead;
//!    `jti` present, at most [`MAX_JTI_BYTES`];
//! 7. `ath` is the base64url SHA-256 of the access token;
//! 8. the signature verifies with that key. The claims of 5–7 were read before it, but
//!    nothing is accepted until it passes.
//!
//! The caller then spends the `jti` (a replay is refused): in a shared session store when the
//! app has one that several instances share, else in [`ReplayCache`].
//!
//! Decisions:
//! - **Server nonces (§8) are not supported**: the `iat` window and the single-use `jti` bound
//!   a stolen proof to one use within a minute, and a nonce round trip would cost every
//!   client an extra request. A proof carrying a `nonce` is accepted like any other.
//! - **The replay cache fails closed.** It holds at most [`MAX_REMEMBERED_PROOFS`] live
//!   proofs; when it is full of live ones, a new proof is refused (the request gets a 503
//!   with `Retry-After`) rather than forgetting one that could then be replayed.
//! - The thumbprint is computed here, from the members as JSON strings (RFC 7638 §3), not by
//!   formatting untrusted values into a template.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use url::Url;

/// Proofs longer than this are refused before parsing (a proof with an RSA-4096 key is
/// about 1.5 KiB).
pub(crate) const MAX_PROOF_BYTES: usize = 8 * 1024;
/// The oldest `iat` accepted, in seconds before now.
pub(crate) const PROOF_MAX_AGE: u64 = 60;
/// The latest `iat` accepted, in seconds after now (clock skew).
pub(crate) const PROOF_MAX_FUTURE: u64 = 5;
/// The longest `jti` accepted.
pub(crate) const MAX_JTI_BYTES: usize = 256;
/// Live proofs the in-process replay cache holds at most (about 40 MiB when full).
pub(crate) const MAX_REMEMBERED_PROOFS: usize = 1_000_000;

/// Why a DPoP proof was refused. The `Display` text is the public `error_description`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DpopError {
    /// `Authorization: DPoP` without a `DPoP` header, or with several.
    MissingProof,
    /// Not a compact JWS within the size limit, or unreadable.
    Malformed,
    /// The header's `typ` is not `dpop+jwt`, or it names its key another way.
    Header,
    /// The `jwk` is missing, private, symmetric or of an unsupported type.
    Key,
    /// `alg` is not allowed or does not fit the key.
    Algorithm,
    /// The signature does not verify with the `jwk`.
    Signature,
    /// `htm` is not this request's method.
    Method,
    /// `htu` is not this request's URL.
    Uri,
    /// `iat` is missing, too old or in the future.
    Time,
    /// `jti` is missing or too long.
    Id,
    /// `ath` is missing or not the hash of the access token.
    AccessTokenHash,
    /// The key is not the one the access token is bound to.
    KeyBinding,
    /// This proof was used before.
    Replayed,
}

impl std::fmt::Display for DpopError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::MissingProof => "Send exactly one DPoP proof header",
            Self::Malformed => "The DPoP proof is malformed",
            Self::Header => "The DPoP proof header is not acceptable",
            Self::Key => "The DPoP proof key is not an acceptable public key",
            Self::Algorithm => "The DPoP proof algorithm is not allowed",
            Self::Signature => "The DPoP proof signature is invalid",
            Self::Method => "The DPoP proof is for another method",
            Self::Uri => "The DPoP proof is for another URL",
            Self::Time => "The DPoP proof is too old or not valid yet",
            Self::Id => "The DPoP proof has no usable jti",
            Self::AccessTokenHash => "The DPoP proof does not match the access token",
            Self::KeyBinding => "The DPoP proof key is not the one the token is bound to",
            Self::Replayed => "The DPoP proof was already used",
        })
    }
}

impl std::error::Error for DpopError {}

impl DpopError {
    /// The `reason` label of `rocket_keycloak_dpop_rejections_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MissingProof | Self::Malformed | Self::Header => "malformed",
            Self::Key | Self::Algorithm => "key",
            Self::Signature => "signature",
            Self::Method | Self::Uri => "target",
            Self::Time | Self::Id => "time",
            Self::AccessTokenHash | Self::KeyBinding => "binding",
            Self::Replayed => "replayed",
        }
    }
}

/// A proof that passed every check but the replay check, which its `jti` is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedProof {
    /// A fixed-size id of the proof for the replay check (SHA-256 of `jkt` and `jti`).
    pub replay_id: [u8; 32],
    /// Until when the proof would be accepted, Unix seconds: remember it that long.
    pub accepted_until: u64,
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
    pub fn check(
        &self,
        proof: &str,
        access_token: &str,
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
        let ath = URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()));
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
        Ok(CheckedProof { replay_id, accepted_until: iat as u64 + PROOF_MAX_AGE + 1 })
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

/// The in-process single-use record of proofs, for apps without a shared session store.
#[derive(Debug, Default)]
pub(crate) struct ReplayCache {
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    until: HashMap<[u8; 32], u64>,
    /// The size at which expired entries are next swept out.
    sweep_at: usize,
}

/// What [`ReplayCache::first_use`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FirstUse {
    /// Not seen before: now remembered.
    Yes,
    /// Seen before.
    Replayed,
    /// The cache is full of live proofs: refused without remembering (fail closed).
    Full,
}

impl ReplayCache {
    /// Records `proof` unless it was seen before, at `now`.
    pub(crate) fn first_use(&self, proof: &CheckedProof, now: u64) -> FirstUse {
        self.first_use_bounded(proof, now, MAX_REMEMBERED_PROOFS)
    }

    fn first_use_bounded(&self, proof: &CheckedProof, now: u64, capacity: usize) -> FirstUse {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.until.get(&proof.replay_id).is_some_and(|until| *until >= now) {
            return FirstUse::Replayed;
        }
        if seen.until.len() >= seen.sweep_at.max(1024).min(capacity) {
            seen.until.retain(|_, until| *until >= now);
            seen.sweep_at = seen.until.len() * 2;
            if seen.until.len() >= capacity {
                return FirstUse::Full;
            }
        }
        seen.until.insert(proof.replay_id, proof.accepted_until);
        FirstUse::Yes
    }
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

    #[test]
    fn the_replay_cache_refuses_a_second_use_and_fails_closed_when_full() {
        let cache = ReplayCache::default();
        let proof = |n: u8, until: u64| CheckedProof { replay_id: [n; 32], accepted_until: until };
        assert_eq!(cache.first_use_bounded(&proof(1, 100), 50, 2), FirstUse::Yes);
        assert_eq!(cache.first_use_bounded(&proof(1, 100), 60, 2), FirstUse::Replayed);
        assert_eq!(cache.first_use_bounded(&proof(2, 100), 60, 2), FirstUse::Yes);
        // Full of live proofs: a new one is refused, not let in by forgetting another.
        assert_eq!(cache.first_use_bounded(&proof(3, 100), 60, 2), FirstUse::Full);
        assert_eq!(cache.first_use_bounded(&proof(1, 100), 60, 2), FirstUse::Replayed);
        // Once they expire, room again.
        assert_eq!(cache.first_use_bounded(&proof(3, 200), 101, 2), FirstUse::Yes);
    }
}
