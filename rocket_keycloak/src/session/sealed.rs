//! What a shared store sees of a session: sealed records and hashed names.
//!
//! Decisions:
//! - Two keys are derived from the app's `secret_key` with HKDF-SHA256 (one salt, two
//!   `info` labels): one for AES-256-GCM, one for HMAC-SHA256. Every instance with the same
//!   `secret_key` derives the same keys, and nothing in the store can be read or forged
//!   without it.
//! - A record is `1 || nonce (12 random bytes) || AES-256-GCM(JSON)`, with the record's
//!   store key as associated data, so a record copied under another key does not open.
//! - Names in the store (session ids, `sid`, `sub`, logout-token `jti`) are HMACs, never the
//!   values: the session id in the cookie cannot be read back from a dump of the store, and
//!   a dump cannot be turned into a cookie.
//! - A record that does not open (another `secret_key`, tampering) is treated as no session.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const SALT: &[u8] = b"rocket_keycloak session store v1";
const FORMAT: u8 = 1;
const NONCE_BYTES: usize = 12;

/// The derived keys.
pub(crate) struct Sealer {
    aead: Aes256Gcm,
    names: Hmac<Sha256>,
}

impl Sealer {
    /// Keys derived from `secret` (the app's `secret_key`, as configured).
    pub(crate) fn new(secret: &[u8]) -> Self {
        let hkdf = Hkdf::<Sha256>::new(Some(SALT), secret);
        let mut aead = [0u8; 32];
        let mut names = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's limit of 8160: these cannot fail.
        hkdf.expand(b"record encryption", &mut aead).expect("32 bytes from HKDF");
        hkdf.expand(b"store names", &mut names).expect("32 bytes from HKDF");
        Self {
            aead: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&aead)),
            names: <Hmac<Sha256> as Mac>::new_from_slice(&names).expect("HMAC takes any key"),
        }
    }

    /// The store's name for `value` of `kind` (`"s"` for a session id, `"sid"`, ...):
    /// 64 hex characters.
    pub(crate) fn name(&self, kind: &str, value: &str) -> String {
        let mut mac = self.names.clone();
        mac.update(kind.as_bytes());
        mac.update(b"\0");
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Encrypts `plaintext`, bound to the store key `bound_to`.
    pub(crate) fn seal(&self, plaintext: &[u8], bound_to: &str) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let payload = Payload { msg: plaintext, aad: bound_to.as_bytes() };
        // Encryption fails only for plaintexts beyond 64 GiB.
        let sealed = self.aead.encrypt(&nonce, payload).expect("AES-GCM encrypts a session");
        let mut out = Vec::with_capacity(1 + NONCE_BYTES + sealed.len());
        out.push(FORMAT);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Decrypts a sealed record stored under `bound_to`; `None` if it does not open.
    pub(crate) fn open(&self, sealed: &[u8], bound_to: &str) -> Option<Vec<u8>> {
        let (&format, rest) = sealed.split_first()?;
        if format != FORMAT || rest.len() < NONCE_BYTES {
            return None;
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_BYTES);
        let payload = Payload { msg: ciphertext, aad: bound_to.as_bytes() };
        self.aead.decrypt(Nonce::from_slice(nonce), payload).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_open_only_with_the_same_secret_and_name() {
        let sealer = Sealer::new(b"secret one");
        let sealed = sealer.seal(b"the session", "key-a");
        assert_eq!(sealer.open(&sealed, "key-a").as_deref(), Some(&b"the session"[..]));
        assert_eq!(sealer.open(&sealed, "key-b"), None, "moved to another key");
        assert_eq!(Sealer::new(b"secret two").open(&sealed, "key-a"), None, "another secret");
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(sealer.open(&tampered, "key-a"), None, "tampered");
        assert_eq!(sealer.open(&sealed[..5], "key-a"), None, "truncated");
        assert!(!sealed.windows(7).any(|w| w == b"session"), "ciphertext, not plaintext");
    }

    #[test]
    fn names_are_keyed_hashes_separated_by_kind() {
        let sealer = Sealer::new(b"secret one");
        let name = sealer.name("s", "session-id");
        assert_eq!(name.len(), 64);
        assert!(!name.contains("session-id"));
        assert_eq!(name, sealer.name("s", "session-id"));
        assert_ne!(name, sealer.name("sid", "session-id"));
        assert_ne!(name, Sealer::new(b"secret two").name("s", "session-id"));
    }
}
