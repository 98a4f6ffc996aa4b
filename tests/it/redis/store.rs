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
        sid: Some(format!("sid-of-{store_sub}")),
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

/// A spent DPoP proof whose id and key must never appear in Redis.
fn spent_proof() -> rocket_keycloak::SpentProof {
    rocket_keycloak::SpentProof {
        id: *b"proof-id-of-the-dpop-proof-32-b.",
        key: *b"thumbprint-of-the-dpop-key-32-b.",
        remember_for: Duration::from_secs(60),
        key_quota: 10,
    }
}

/// A store at `url` sealing with `secret`: sessions for an hour, at most 3 per user.
pub(super) fn store_at(url: &str, secret: &str) -> RedisStore {
    RedisStore::open(url, secret.as_bytes(), Duration::from_secs(3600), 3).unwrap()
}

fn store(redis: &RedisServer, secret: &str) -> RedisStore {
    store_at(&redis.url(), secret)
}

/// A new session of `sub` in `store`, under the id the store makes for it (the Redis store's
/// ids carry the user's Cluster hash tag).
pub(super) async fn put(store: &RedisStore, sub: &str) -> SessionId {
    let session = secret_session(sub);
    let id = store.new_id(&session);
    store.put(&id, session).await.unwrap();
    id
}

#[rocket::async_test]
#[ignore = "needs redis-server: run scripts/test"]
async fn a_dump_of_redis_holds_no_token_no_session_id_and_no_user_id() {
    let redis = RedisServer::start();
    let store = store(&redis, SECRET_KEY);
    let id = put(&store, "sub-alice-1234").await;
    assert!(store.first_use_of_logout_token("jti-of-a-logout-token", now() + 60).await.unwrap());
    assert!(store.lock_refresh(&id, "owner", Duration::from_secs(5)).await.unwrap());
    let proof = spent_proof();
    assert_eq!(store.first_use_of_proof(&proof).await.unwrap(), Some(ProofUse::First));
    let dump = redis.dump();
    assert!(dump.len() > 100, "the dump holds the records");
    for secret in [
        "eyJ",
        "refresh-token-XYZ",
        "csrf-token-XYZ",
        id.as_str(),
        "sub-alice-1234",
        "sid-of-sub-alice-1234",
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
    keeps_the_store_contract(&redis.url()).await;
}

/// Two stores on the Redis setup at `url` keep the store contract; every call must succeed
/// (on a Cluster, a script touching two slots fails with CROSSSLOT and so fails this).
pub(super) async fn keeps_the_store_contract(url: &str) {
    let (a, b) = (store_at(url, SECRET_KEY), store_at(url, SECRET_KEY));
    let s1 = put(&a, "u1").await;
    // Compare-and-set on the revision, seen from another instance.
    let read = b.get(&s1).await.unwrap().expect("shared");
    assert!(b.update(&s1, read.clone()).await.unwrap());
    assert!(!a.update(&s1, read).await.unwrap(), "a stale revision loses");
    let current = a.get(&s1).await.unwrap().unwrap();
    b.remove(&s1).await.unwrap();
    assert!(!a.update(&s1, current).await.unwrap(), "no resurrection");
    assert!(a.get(&s1).await.unwrap().is_none());
    // Ending one after a failed refresh is compare-and-delete on the revision too.
    let s2 = put(&a, "u9").await;
    let read = b.get(&s2).await.unwrap().unwrap();
    assert!(a.update(&s2, read.clone()).await.unwrap());
    assert!(!b.remove_at_revision(&s2, read.revision).await.unwrap(), "refreshed since");
    assert!(a.get(&s2).await.unwrap().is_some());
    assert!(b.remove_at_revision(&s2, read.revision + 1).await.unwrap());
    assert!(a.get(&s2).await.unwrap().is_none());
    // Per-user limit (3 here): the least recently used session of that user goes.
    let u1_a = put(&a, "u1").await;
    let u1_b = put(&a, "u1").await;
    let _u1_c = put(&a, "u1").await;
    let u2_a = put(&a, "u2").await;
    assert!(a.get(&u1_a).await.unwrap().is_some()); // used: now u1_b is the idlest
    let _u1_d = put(&a, "u1").await;
    assert!(b.get(&u1_b).await.unwrap().is_none());
    assert!(b.get(&u1_a).await.unwrap().is_some() && b.get(&u2_a).await.unwrap().is_some());
    // Logout by sid (u1's Keycloak session) and by sub, from either instance.
    assert_eq!(b.remove_by_sid("sid-of-u1").await.unwrap(), 3);
    assert!(a.get(&u1_a).await.unwrap().is_none() && a.get(&u2_a).await.unwrap().is_some());
    assert_eq!(b.remove_by_sid("sid-of-nobody").await.unwrap(), 0);
    let _u1_e = put(&a, "u1").await;
    let u2_b = put(&a, "u2").await;
    assert_eq!(b.remove_by_sub(&Subject::new("u1")).await.unwrap(), 1);
    assert!(a.get(&u2_b).await.unwrap().is_some());
    // An id the store did not make names no session, and cannot be put.
    let forged = SessionId::new("no-tag-in-this-id");
    assert!(a.get(&forged).await.unwrap().is_none());
    assert!(a.put(&forged, secret_session("u1")).await.is_err());
    assert!(a.put(&u2_b, secret_session("u1")).await.is_err(), "another user's id");
    // The refresh lock: one owner at a time, released only by its owner, and it expires.
    let ttl = Duration::from_millis(300);
    assert!(a.lock_refresh(&u2_b, "owner-a", ttl).await.unwrap());
    assert!(!b.lock_refresh(&u2_b, "owner-b", ttl).await.unwrap());
    b.unlock_refresh(&u2_b, "owner-b").await.unwrap();
    assert!(!b.lock_refresh(&u2_b, "owner-b", ttl).await.unwrap(), "not released by others");
    rocket::tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(b.lock_refresh(&u2_b, "owner-b", ttl).await.unwrap(), "expired");
    // The logout-token replay cache is shared.
    assert!(a.first_use_of_logout_token("jti-1", now() + 60).await.unwrap());
    assert!(!b.first_use_of_logout_token("jti-1", now() + 60).await.unwrap());
    // So are spent DPoP proofs.
    let proof = spent_proof();
    assert_eq!(a.first_use_of_proof(&proof).await.unwrap(), Some(ProofUse::First));
    assert_eq!(b.first_use_of_proof(&proof).await.unwrap(), Some(ProofUse::Replayed));
    // A store with another secret sees nothing.
    assert!(store_at(url, "another secret").get(&u2_b).await.unwrap().is_none());
}

#[rocket::async_test]
#[ignore = "needs redis-server: run scripts/test"]
async fn one_user_signing_in_again_and_again_in_one_keycloak_session_keeps_the_sid_index_small() {
    let redis = RedisServer::start();
    let store = store(&redis, SECRET_KEY); // at most 3 sessions per user
    let mut ids = Vec::new();
    for _ in 0..300 {
        ids.push(put(&store, "u1").await);
    }
    let sid_indexes = redis.keys("rocket_keycloak:i:");
    assert_eq!(sid_indexes.len(), 1, "one Keycloak session: {sid_indexes:?}");
    let members: usize = redis.cli(&["scard", &sid_indexes[0]]).parse().unwrap();
    assert!(members <= 3, "the sid index holds {members} members for 3 live sessions");
    // A logout by sid still ends every live session, and only loops over those.
    assert_eq!(store.remove_by_sid("sid-of-u1").await.unwrap(), 3);
    for id in &ids[297..] {
        assert!(store.get(id).await.unwrap().is_none());
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
    let short_lived = put(&store, "u1").await;
    let records = redis.keys("rocket_keycloak:s:");
    assert_eq!(records.len(), 1);
    let captured = Command::new("redis-cli")
        .args(["-p", &redis.port.to_string(), "--raw", "hget", &records[0], "v"])
        .output()
        .unwrap()
        .stdout;
    let captured = &captured[..captured.len() - 1]; // redis-cli's newline
    assert!(store.get(&short_lived).await.unwrap().is_some());
    // The session ends (Redis expires the record); someone on the path puts it back, for
    // good this time (no TTL), at the revision it had.
    rocket::tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(store.get(&short_lived).await.unwrap().is_none(), "expired");
    let mut put_back = Command::new("redis-cli")
        .args(["-p", &redis.port.to_string(), "-x", "hset", &records[0], "v"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut put_back.stdin.take().unwrap(), captured).unwrap();
    assert!(put_back.wait().unwrap().success());
    redis.cli(&["hset", &records[0], "r", "1"]);
    assert!(store.get(&short_lived).await.unwrap().is_none(), "past its sealed end");
}
