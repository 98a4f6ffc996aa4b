//! The `RedisStore` on its own: a dump of Redis holds no token, session id or user id and
//! every record expires, and two stores on one Redis keep the store contract.
//!
//! Every test here is `#[ignore = "needs redis-server: run scripts/test"]`.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rocket_keycloak::{ProofUse, RedisStore, Session, SessionId, SessionStore, Subject};
use rocket_keycloak_testkit::now;

use super::{RedisServer, SECRET_KEY};

/// A session with tokens that must never appear in Redis.
fn secret_session(store_sub: &str) -> Session {
    let identity = rocket_keycloak::Identity {
        issuer: "http://localhost:8080/realms/demo".into(),
        sub: store_sub.into(),
        preferred_username: Some("alice".into()),
        email: Some("alice@example.com".into()),
        name: None,
        realm_roles: vec!["user".into()],
        client_roles: Default::default(),
        azp: Some("demo-app".into()),
        sid: Some("sid-of-alice".into()),
        scopes: vec![],
        expires_at: now() + 300,
        issued_at: Some(now()),
        acr: Some("silver".into()),
        auth_time: Some(now()),
        dpop_jkt: None,
        organizations: None,
    };
    Session {
        identity: Arc::new(identity),
        id_token: Some("eyJhbGciOiJSUzI1NiJ9.id-token-payload.signature".into()),
        refresh_token: Some(openidconnect::RefreshToken::new("refresh-token-XYZ".into())),
        csrf_token: "csrf-token-XYZ".into(),
        revision: 0,
        ends_at: 0,
    }
}

/// A session id in the store's terms.
fn sid(value: &str) -> SessionId {
    SessionId::new(value)
}

fn store(redis: &RedisServer, secret: &str) -> RedisStore {
    RedisStore::open(&redis.url(), secret.as_bytes(), Duration::from_secs(3600), 3).unwrap()
}

#[rocket::async_test]
#[ignore = "needs redis-server: run scripts/test"]
async fn a_dump_of_redis_holds_no_token_no_session_id_and_no_user_id() {
    let redis = RedisServer::start();
    let store = store(&redis, SECRET_KEY);
    let id = SessionId::new("the-session-id-in-the-cookie");
    store.put(&id, secret_session("sub-alice-1234")).await.unwrap();
    assert!(store.first_use_of_logout_token("jti-of-a-logout-token", now() + 60).await.unwrap());
    assert!(store.lock_refresh(&id, "owner", Duration::from_secs(5)).await.unwrap());
    let proof = rocket_keycloak::SpentProof {
        id: *b"proof-id-of-the-dpop-proof-32-b.",
        key: *b"thumbprint-of-the-dpop-key-32-b.",
        remember_for: Duration::from_secs(60),
        key_quota: 10,
    };
    assert_eq!(store.first_use_of_proof(&proof).await.unwrap(), Some(ProofUse::First));
    let dump = redis.dump();
    assert!(dump.len() > 100, "the dump holds the records");
    for secret in [
        "eyJ",
        "refresh-token-XYZ",
        "csrf-token-XYZ",
        id.as_str(),
        "sub-alice-1234",
        "sid-of-alice",
        "alice",
        "jti-of-a-logout-token",
        "proof-id",
        "thumbprint",
    ] {
        assert!(!dump.windows(secret.len()).any(|w| w == secret.as_bytes()), "{secret} in Redis");
    }
    // Every record expires by itself.
    let ttl =
        Command::new("redis-cli").args(["-p", &redis.port.to_string(), "--scan"]).output().unwrap();
    for key in String::from_utf8(ttl.stdout).unwrap().lines() {
        let out = Command::new("redis-cli")
            .args(["-p", &redis.port.to_string(), "pttl", key])
            .output()
            .unwrap();
        let ms: i64 = String::from_utf8(out.stdout).unwrap().trim().parse().unwrap();
        assert!(ms > 0, "{key} has no TTL ({ms})");
    }
}

#[rocket::async_test]
#[ignore = "needs redis-server: run scripts/test"]
async fn the_redis_store_keeps_the_store_contract() {
    let redis = RedisServer::start();
    let (a, b) = (store(&redis, SECRET_KEY), store(&redis, SECRET_KEY));
    a.put(&sid("s1"), secret_session("u1")).await.unwrap();
    // Compare-and-set on the revision, seen from another instance.
    let read = b.get(&sid("s1")).await.unwrap().expect("shared");
    assert!(b.update(&sid("s1"), read.clone()).await.unwrap());
    assert!(!a.update(&sid("s1"), read).await.unwrap(), "a stale revision loses");
    let current = a.get(&sid("s1")).await.unwrap().unwrap();
    b.remove(&sid("s1")).await.unwrap();
    assert!(!a.update(&sid("s1"), current).await.unwrap(), "no resurrection");
    assert!(a.get(&sid("s1")).await.unwrap().is_none());
    // Ending one after a failed refresh is compare-and-delete on the revision too.
    a.put(&sid("s2"), secret_session("u9")).await.unwrap();
    let read = b.get(&sid("s2")).await.unwrap().unwrap();
    assert!(a.update(&sid("s2"), read.clone()).await.unwrap());
    assert!(!b.remove_at_revision(&sid("s2"), read.revision).await.unwrap(), "refreshed since");
    assert!(a.get(&sid("s2")).await.unwrap().is_some());
    assert!(b.remove_at_revision(&sid("s2"), read.revision + 1).await.unwrap());
    assert!(a.get(&sid("s2")).await.unwrap().is_none());
    // Per-user limit (3 here): the least recently used session of that user goes.
    for id in ["u1-a", "u1-b", "u1-c"] {
        a.put(&sid(id), secret_session("u1")).await.unwrap();
    }
    a.put(&sid("u2-a"), secret_session("u2")).await.unwrap();
    assert!(a.get(&sid("u1-a")).await.unwrap().is_some()); // used: now u1-b is the idlest
    a.put(&sid("u1-d"), secret_session("u1")).await.unwrap();
    assert!(b.get(&sid("u1-b")).await.unwrap().is_none());
    assert!(
        b.get(&sid("u1-a")).await.unwrap().is_some()
            && b.get(&sid("u2-a")).await.unwrap().is_some()
    );
    // Logout by sid and by sub, from either instance.
    assert_eq!(b.remove_by_sid("sid-of-alice").await.unwrap(), 4);
    a.put(&sid("u1-e"), secret_session("u1")).await.unwrap();
    a.put(&sid("u2-b"), secret_session("u2")).await.unwrap();
    assert_eq!(b.remove_by_sub(&Subject::new("u1")).await.unwrap(), 1);
    assert!(a.get(&sid("u2-b")).await.unwrap().is_some());
    // The refresh lock: one owner at a time, released only by its owner, and it expires.
    let ttl = Duration::from_millis(300);
    assert!(a.lock_refresh(&sid("u2-b"), "owner-a", ttl).await.unwrap());
    assert!(!b.lock_refresh(&sid("u2-b"), "owner-b", ttl).await.unwrap());
    b.unlock_refresh(&sid("u2-b"), "owner-b").await.unwrap();
    assert!(!b.lock_refresh(&sid("u2-b"), "owner-b", ttl).await.unwrap(), "not released by others");
    rocket::tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(b.lock_refresh(&sid("u2-b"), "owner-b", ttl).await.unwrap(), "expired");
    // The logout-token replay cache is shared.
    assert!(a.first_use_of_logout_token("jti-1", now() + 60).await.unwrap());
    assert!(!b.first_use_of_logout_token("jti-1", now() + 60).await.unwrap());
    // A store with another secret sees nothing.
    assert!(store(&redis, "another secret").get(&sid("u2-b")).await.unwrap().is_none());
}

#[rocket::async_test]
#[ignore = "needs redis-server: run scripts/test"]
async fn one_user_signing_in_again_and_again_in_one_keycloak_session_keeps_the_sid_index_small() {
    let redis = RedisServer::start();
    let store = store(&redis, SECRET_KEY); // at most 3 sessions per user
    for i in 0..300 {
        store.put(&sid(&format!("sign-in-{i}")), secret_session("u1")).await.unwrap();
    }
    let sid_indexes = redis.keys("rocket_keycloak:i:");
    assert_eq!(sid_indexes.len(), 1, "one Keycloak session: {sid_indexes:?}");
    let members: usize = redis.cli(&["scard", &sid_indexes[0]]).parse().unwrap();
    assert!(members <= 3, "the sid index holds {members} members for 3 live sessions");
    // A logout by sid still ends every live session, and only loops over those.
    assert_eq!(store.remove_by_sid("sid-of-alice").await.unwrap(), 3);
    for i in 297..300 {
        assert!(store.get(&sid(&format!("sign-in-{i}"))).await.unwrap().is_none());
    }
}

#[rocket::async_test]
#[ignore = "needs redis-server: run scripts/test"]
async fn a_logout_token_id_is_remembered_for_the_time_left_plus_a_margin() {
    let redis = RedisServer::start();
    let store = store(&redis, SECRET_KEY);
    let pttl = |redis: &RedisServer| {
        let keys = redis.keys("rocket_keycloak:j:");
        assert_eq!(keys.len(), 1, "{keys:?}");
        let ms: u64 = redis.cli(&["pttl", &keys[0]]).parse().unwrap();
        redis.cli(&["del", &keys[0]]);
        ms
    };
    // An hour ahead of this app's clock: an hour and the margin, counted by Redis from now.
    assert!(store.first_use_of_logout_token("jti-ahead", now() + 3600).await.unwrap());
    let ms = pttl(&redis);
    assert!((3_603_000..=3_605_000).contains(&ms), "{ms} ms");
    // Already past on this app's clock (another instance's may run behind): the margin.
    assert!(store.first_use_of_logout_token("jti-past", now() - 3600).await.unwrap());
    let ms = pttl(&redis);
    assert!((4_000..=5_000).contains(&ms), "{ms} ms");
}

#[rocket::async_test]
#[ignore = "needs redis-server: run scripts/test"]
async fn a_record_put_back_after_its_session_ended_does_not_open() {
    let redis = RedisServer::start();
    let store =
        RedisStore::open(&redis.url(), SECRET_KEY.as_bytes(), Duration::from_secs(1), 3).unwrap();
    store.put(&sid("short-lived"), secret_session("u1")).await.unwrap();
    let records = redis.keys("rocket_keycloak:s:");
    assert_eq!(records.len(), 1);
    let captured = Command::new("redis-cli")
        .args(["-p", &redis.port.to_string(), "--raw", "hget", &records[0], "v"])
        .output()
        .unwrap()
        .stdout;
    let captured = &captured[..captured.len() - 1]; // redis-cli's newline
    assert!(store.get(&sid("short-lived")).await.unwrap().is_some());
    // The session ends (Redis expires the record); someone on the path puts it back, for
    // good this time (no TTL), at the revision it had.
    rocket::tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(store.get(&sid("short-lived")).await.unwrap().is_none(), "expired");
    let mut put_back = Command::new("redis-cli")
        .args(["-p", &redis.port.to_string(), "-x", "hset", &records[0], "v"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut put_back.stdin.take().unwrap(), captured).unwrap();
    assert!(put_back.wait().unwrap().success());
    redis.cli(&["hset", &records[0], "r", "1"]);
    assert!(store.get(&sid("short-lived")).await.unwrap().is_none(), "past its sealed end");
}
