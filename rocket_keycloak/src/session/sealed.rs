//! What a shared store sees of a session: sealed records and hashed names.
//!
//! Decisions:
//! - Two keys are derived from the app's `secret_key` with HKDF-SHA256 (one salt, two
//!   `info` labels): one for AES-256-GCM, one for HMAC-SHA256. Every instance with the same
//!   `secret_key` derives the same keys, and nothing in the store can be read or forged
//!   without it.
//! - A record is `2 || nonce (12 random bytes) || AES-256-GCM(end || id || JSON)`, with the
//!   record's store key as associated data, so a record copied under another key does not
//!   open. Inside the seal: the session's absolute end (8 bytes, big-endian Unix seconds) and
//!   the store's name of its session id (64 hex characters). Whoever can write to the store
//!   (or answer for it on the network) can put back a record captured earlier, and the
//!   associated data still matches: the sealed end stops that once the session's lifetime is
//!   over, whatever TTL the store shows, and the sealed id is checked on open as well.
//! - Format 1 (no sealed end or id) is no longer opened: such a record could be put back
//!   forever. An upgrade signs out the sessions written before it, once (the README says so).
//! - Names in the store (session ids, `sid`, `sub`, logout-token `jti`, DPoP keys and proofs)
//!   are HMACs, never the values: the session id in the cookie cannot be read back from a
//!   dump of the store, and a dump cannot be turned into a cookie.
//! - A record that does not open (another `secret_key`, tampering, format 1), is past its
//!   sealed end or names another session is treated as no session ([`Refused`] says which).

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const SALT: &[u8] = b"rocket_keycloak session store v1";
const FORMAT: u8 = 2;
const NONCE_BYTES: usize = 12;
/// The sealed end's size, ahead of the session id's name.
const END_BYTES: usize = 8;

/// Why a sealed record was not opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Another secret, tampering, or an older format.
    DoesNotOpen,
    /// Past the session's sealed end.
    Ended,
    /// Sealed for another session id.
    OtherSession,
}

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

    /// Seals a session record (`json`) of the session named `member` (its [`Sealer::name`])
    /// that ends at `ends_at` (Unix seconds), bound to the store key `bound_to`.
    pub(crate) fn seal_record(
        &self,
        json: &[u8],
        ends_at: u64,
        member: &str,
        bound_to: &str,
    ) -> Vec<u8> {
        let mut plain = Vec::with_capacity(END_BYTES + member.len() + json.len());
        plain.extend_from_slice(&ends_at.to_be_bytes());
        plain.extend_from_slice(member.as_bytes());
        plain.extend_from_slice(json);
        self.seal(&plain, bound_to)
    }

    /// Opens a record sealed by [`Sealer::seal_record`] for `member` under `bound_to`, at
    /// `now` (Unix seconds): the JSON and the session's end.
    pub(crate) fn open_record(
        &self,
        sealed: &[u8],
        member: &str,
        bound_to: &str,
        now: u64,
    ) -> Result<(Vec<u8>, u64), Refused> {
        let plain = self.open(sealed, bound_to).ok_or(Refused::DoesNotOpen)?;
        let (end, rest) = plain.split_at_checked(END_BYTES).ok_or(Refused::DoesNotOpen)?;
        let (named, json) = rest.split_at_checked(member.len()).ok_or(Refused::OtherSession)?;
        if named != member.as_bytes() {
            return Err(Refused::OtherSession);
        }
        let ends_at = u64::from_be_bytes(end.try_into().map_err(|_| Refused::DoesNotOpen)?);
        if ends_at <= now {
            return Err(Refused::Ended);
        }
        Ok((json.to_vec(), ends_at))
    }

    /// Encrypts `plaintext`, bound to the store key `bound_to`.
    fn seal(&self, plaintext: &[u8], bound_to: &str) -> Vec<u8> {
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
    fn open(&self, sealed: &[u8], bound_to: &str) -> Option<Vec<u8>> {
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
    fn a_record_past_its_sealed_end_or_moved_under_another_session_does_not_open() {
        let sealer = Sealer::new(b"secret one");
        let (alice, mallory) = (sealer.name("session", "alice"), sealer.name("session", "mallory"));
        let sealed = sealer.seal_record(b"{}", 1_000, &alice, "key-a");
        assert_eq!(sealer.open_record(&sealed, &alice, "key-a", 999), Ok((b"{}".to_vec(), 1_000)));
        // Put back after its end, whatever TTL the store gives it.
        assert_eq!(sealer.open_record(&sealed, &alice, "key-a", 1_000), Err(Refused::Ended));
        // Under another session id: refused by the sealed id even where the bound key matches,
        // and by the associated data where it does not.
        assert_eq!(sealer.open_record(&sealed, &mallory, "key-a", 999), Err(Refused::OtherSession));
        assert_eq!(sealer.open_record(&sealed, &mallory, "key-m", 999), Err(Refused::DoesNotOpen));
        // A record of the previous format (no sealed end or id) is not opened.
        let mut old = sealer.seal(b"{}", "key-a");
        old[0] = 1;
        assert_eq!(sealer.open_record(&old, &alice, "key-a", 0), Err(Refused::DoesNotOpen));
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
