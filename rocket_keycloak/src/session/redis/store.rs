//! The [`SessionStore`] contract on Redis: each method one script or command.
//!
//! Decisions:
//! - **Sealed end and id checked on every read** (`session/sealed.rs`): a record that does
//!   not open, is past its sealed end or names another session is no session, with a `warn`
//!   (someone put it there).
//! - **Relative lifetimes only.** Redis expires keys on its own clock; the app sends
//!   durations (`PX`), never instants of its own clock (`EXAT`), so a clock difference
//!   between the two cannot shorten how long a logout-token id or a proof is remembered.
//!   A logout-token id is remembered for the time this app would still accept its token plus
//!   [`LOGOUT_TOKEN_SKEW_MARGIN`], for instances whose clocks run behind.
//! - **A logout is honoured even when Redis is full**: if Redis refuses to remember its id,
//!   the logout goes ahead (with a `warn`). A replay of that token could only end the same
//!   sessions again; refusing the logout would keep them alive.

use std::time::Duration;

use redis::{AsyncCommands, SetExpiry, SetOptions};

use super::connection::Conn;
use super::scripts::{LOGOUT_TOKEN_NOT_STORED, PROOF_FIRST, PROOF_OVER_QUOTA, PROOF_REPLAYED};
use super::setup::{RedisStore, millis, store_error};
use crate::clock::unix_now;
use crate::oidc::dpop::{ProofUse, SpentProof};
use crate::protocol::{SessionId, Subject};
use crate::session::record::{Session, StoreError};
use crate::session::sealed::Refused;
use crate::session::store::SessionStore;

/// Seconds a logout-token id is remembered beyond the time this app would accept its
/// token: another instance whose clock runs that much behind still refuses its replay (the
/// same margin as for DPoP proofs).
pub(super) const LOGOUT_TOKEN_SKEW_MARGIN: u64 = 5;

/// The longest a logout-token id is remembered. Keycloak's logout tokens live for minutes;
/// forgetting one sooner than its `exp` can only let a replay end the same sessions again,
/// and Redis refuses expiry times past its range.
const LOGOUT_TOKEN_MAX_TTL: u64 = 24 * 3600;

/// How long to remember a logout-token id accepted until `accepted_until` (this app's
/// clock), at `now` (the same clock): the time left, plus the margin.
pub(super) fn logout_token_ttl(accepted_until: u64, now: u64) -> Duration {
    let left = accepted_until.saturating_sub(now).min(LOGOUT_TOKEN_MAX_TTL);
    Duration::from_secs(left + LOGOUT_TOKEN_SKEW_MARGIN)
}

/// Makes a write that must survive a Sentinel failover (`what`): `$write` (which uses
/// `$conn`) once, and, when `$needs` says its answer is one to keep, waits for a replica. If
/// none acknowledges it in time and the sentinels name another master now, the write went
/// to a demoted master: it is made once more on the new one (every such write is a delete
/// or a marker, the same when made twice; the first answer is the one returned). A macro,
/// not a closure: the trait's futures must be `Send`, which async closures cannot promise.
macro_rules! durably {
    ($store:expr, $what:expr, $needs:expr, |$conn:ident| $write:expr) => {{
        let mut $conn = $store.conn();
        let answer = $write;
        if $needs(&answer) && made_again(&mut $conn, $what).await {
            let mut $conn = $store.conn();
            let _ = $write;
            settle_or_warn(&mut $conn, $what).await;
        }
        answer
    }};
}

/// After a write (`what`) on `conn`: false once a replica holds it (or Sentinel is not in
/// use); true, with a warning, when none does and the master moved meanwhile.
async fn made_again(conn: &mut Conn, what: &str) -> bool {
    if conn.settle().await {
        return false;
    }
    if conn.master_moved().await {
        log::warn!("Redis: {what} went to a master that was just demoted; making it again");
        return true;
    }
    warn_unsettled(what);
    false
}

async fn settle_or_warn(conn: &mut Conn, what: &str) {
    if !conn.settle().await {
        warn_unsettled(what);
    }
}

fn warn_unsettled(what: &str) {
    log::warn!(
        "Redis: {what} is not on a replica yet; a failover in the next moments could forget it"
    );
}

/// Every answer is one to keep.
fn always<T>(_: &T) -> bool {
    true
}

impl RedisStore {
    fn seal(&self, session: &Session, member: &str, key: &str) -> Result<Vec<u8>, StoreError> {
        let json = serde_json::to_vec(session).map_err(StoreError::new)?;
        Ok(self.sealer.seal_record(&json, session.ends_at, member, key))
    }
}

#[rocket::async_trait]
impl SessionStore for RedisStore {
    fn new_id(&self, session: &Session) -> SessionId {
        self.id_for(&session.identity.sub)
    }

    async fn get(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        let Some((member, key, _)) = self.record(id) else { return Ok(None) };
        let found: Option<(Vec<u8>, u64)> = self
            .scripts
            .get
            .key(&key)
            .arg(&member)
            .invoke_async(&mut self.conn())
            .await
            .map_err(store_error)?;
        let Some((sealed, revision)) = found else { return Ok(None) };
        let (json, ends_at) = match self.sealer.open_record(&sealed, &member, &key, unix_now()) {
            Ok(opened) => opened,
            Err(refused) => {
                log::warn!(
                    "a session record in Redis is ignored: {}",
                    match refused {
                        Refused::DoesNotOpen => {
                            "it does not open (another secret_key, tampering, or written before \
                         records sealed their end)"
                        }
                        Refused::Ended => "it is past its sealed end (put back after it ended?)",
                        Refused::OtherSession => "it is sealed for another session (moved?)",
                    }
                );
                return Ok(None);
            }
        };
        match serde_json::from_slice::<Session>(&json) {
            Ok(session) => Ok(Some(Session { revision, ends_at, ..session })),
            Err(error) => {
                log::warn!("a session record in Redis does not parse: ignored ({error})");
                Ok(None)
            }
        }
    }

    async fn put(&self, id: &SessionId, mut session: Session) -> Result<(), StoreError> {
        let sub = &session.identity.sub;
        let Some((member, key, tag)) =
            self.record(id).filter(|(.., tag)| *tag == self.user_tag(sub))
        else {
            // Its record would be outside the user's slot (the trait's `new_id` makes them).
            return Err(StoreError::new("a session id this store did not make for this user"));
        };
        session.ends_at = unix_now() + self.lifetime.as_secs();
        let sealed = self.seal(&session, &member, &key)?;
        let sub_index = self.sub_index(sub);
        let sid = session.identity.sid.as_deref();
        let (sid_index, sid_pointer) = self.sid_keys(&tag, sid.unwrap_or_default());
        let mut conn = self.conn();
        if sid.is_some() {
            // Written first (its own slot): a logout naming only the `sid` finds the user's
            // slot through it; a pointer left behind by a failed put points to no session.
            let options =
                SetOptions::default().with_expiration(SetExpiry::PX(millis(self.lifetime)));
            conn.set_options::<_, _, ()>(&sid_pointer, &tag, options).await.map_err(store_error)?;
        }
        self.scripts
            .put
            .key(&key)
            .key(&sub_index)
            .key(&sid_index)
            .arg(sealed)
            .arg(millis(self.lifetime))
            .arg(&member)
            .arg(self.per_user)
            .arg(self.record_prefix(&tag))
            .arg(if sid.is_some() { "1" } else { "0" })
            .invoke_async::<i64>(&mut conn)
            .await
            .map(drop)
            .map_err(store_error)
    }

    async fn update(&self, id: &SessionId, session: Session) -> Result<bool, StoreError> {
        // Sealed with the end it was read with: an update never extends a session.
        let Some((member, key, _)) = self.record(id) else { return Ok(false) };
        let sealed = self.seal(&session, &member, &key)?;
        let written: i64 = self
            .scripts
            .update
            .key(&key)
            .arg(sealed)
            .arg(session.revision)
            .invoke_async(&mut self.conn())
            .await
            .map_err(store_error)?;
        Ok(written == 1)
    }

    async fn remove(&self, id: &SessionId) -> Result<(), StoreError> {
        let Some((member, key, _)) = self.record(id) else { return Ok(()) };
        durably!(self, "a sign-out", always, |conn| {
            let mut remove = self.scripts.remove.key(&key);
            remove.arg(&member);
            remove.invoke_async::<i64>(&mut conn).await.map_err(store_error)?
        });
        Ok(())
    }

    async fn remove_at_revision(&self, id: &SessionId, revision: u64) -> Result<bool, StoreError> {
        let Some((member, key, _)) = self.record(id) else { return Ok(false) };
        let removed = durably!(self, "the end of a session", |n: &i64| *n == 1, |conn| {
            let mut remove = self.scripts.remove_at_revision.key(&key);
            remove.arg(&member).arg(revision);
            remove.invoke_async::<i64>(&mut conn).await.map_err(store_error)?
        });
        Ok(removed == 1)
    }

    async fn remove_by_sid(&self, sid: &str) -> Result<usize, StoreError> {
        // Two steps, two slots: the pointer names the user's slot, where one script ends
        // every session of `sid`. A session put between the two is in the index the script
        // reads (the pointer is written before the session), so none escapes.
        let (_, pointer) = self.sid_keys("", sid);
        Ok(durably!(self, "a back-channel logout", always, |conn| {
            let tag: Option<String> = conn.get(&pointer).await.map_err(store_error)?;
            match tag {
                Some(tag) => {
                    let (index, _) = self.sid_keys(&tag, sid);
                    let mut remove = self.scripts.remove_by_sid.key(index);
                    remove.arg(self.record_prefix(&tag));
                    remove.invoke_async::<usize>(&mut conn).await.map_err(store_error)?
                }
                None => 0,
            }
        }))
    }

    async fn remove_by_sub(&self, sub: &Subject) -> Result<usize, StoreError> {
        let (index, prefix) = (self.sub_index(sub), self.record_prefix(&self.user_tag(sub)));
        Ok(durably!(self, "a back-channel logout", always, |conn| {
            let mut remove = self.scripts.remove_by_sub.key(&index);
            remove.arg(&prefix);
            remove.invoke_async::<usize>(&mut conn).await.map_err(store_error)?
        }))
    }

    async fn lock_refresh(
        &self,
        id: &SessionId,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let options = SetOptions::default()
            .conditional_set(redis::ExistenceCheck::NX)
            .with_expiration(SetExpiry::PX(millis(ttl)));
        let set: Option<String> = self
            .conn()
            .set_options(self.key("l", id), owner, options)
            .await
            .map_err(store_error)?;
        Ok(set.is_some())
    }

    async fn unlock_refresh(&self, id: &SessionId, owner: &str) -> Result<(), StoreError> {
        self.scripts
            .unlock
            .key(self.key("l", id))
            .arg(owner)
            .invoke_async::<i64>(&mut self.conn())
            .await
            .map(drop)
            .map_err(store_error)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn();
        redis::cmd("PING").query_async::<String>(&mut conn).await.map(drop).map_err(store_error)
    }

    async fn first_use_of_proof(&self, proof: &SpentProof) -> Result<Option<ProofUse>, StoreError> {
        let (proofs, name) = self.proof(&proof.key, &proof.id);
        let used = durably!(self, "a spent DPoP proof", |u: &i64| *u == PROOF_FIRST, |conn| {
            let mut spend = self.scripts.spend_proof.key(&proofs);
            spend.arg(&name).arg(millis(proof.remember_for)).arg(proof.key_quota);
            spend.invoke_async::<i64>(&mut conn).await.map_err(store_error)?
        });
        Ok(Some(match used {
            PROOF_FIRST => ProofUse::First,
            PROOF_REPLAYED => ProofUse::Replayed,
            PROOF_OVER_QUOTA => ProofUse::KeyOverQuota,
            other => return Err(StoreError::new(format!("unexpected answer {other}"))),
        }))
    }

    async fn first_use_of_logout_token(
        &self,
        jti: &str,
        accepted_until: u64,
    ) -> Result<bool, StoreError> {
        let ttl = logout_token_ttl(accepted_until, unix_now());
        let marker = self.key("j", jti);
        let first = durably!(self, "a logout token's id", |f: &i64| *f == 1, |conn| {
            let mut remember = self.scripts.logout_token.key(&marker);
            remember.arg(millis(ttl));
            remember.invoke_async::<i64>(&mut conn).await.map_err(store_error)?
        });
        if first == LOGOUT_TOKEN_NOT_STORED {
            log::warn!(
                "Redis is full: a logout token's id is not remembered (the logout proceeds)"
            );
        }
        Ok(first != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_logout_token_id_is_remembered_for_the_time_left_plus_a_margin() {
        let margin = Duration::from_secs(LOGOUT_TOKEN_SKEW_MARGIN);
        assert_eq!(logout_token_ttl(1_060, 1_000), Duration::from_secs(60) + margin);
        // Already past (this clock or the caller's): still remembered for the margin.
        assert_eq!(logout_token_ttl(900, 1_000), margin);
        // Absurdly far ahead: bounded (Redis refuses expiry times past its range).
        let most = Duration::from_secs(LOGOUT_TOKEN_MAX_TTL) + margin;
        assert_eq!(logout_token_ttl(u64::MAX, 0), most);
    }
}
