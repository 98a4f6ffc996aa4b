//! The `RedisStore` on its own: a dump of Redis holds no token, session id or user id and
//! every record expires, and two stores on one Redis keep the store contract.
//!
//! Every test here is `#[ignore = "needs redis-server: run scripts/test"]`.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rocket_keycloak::{RedisStore, Session, SessionId, SessionStore, Subject};
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
    };
    Session {
        identity: Arc::new(identity),
        id_token: Some("eyJhbGciOiJSUzI1NiJ9.id-token-payload.signature".into()),
        refresh_token: Some(openidconnect::RefreshToken::new("refresh-token-XYZ".into())),
        csrf_token: "csrf-token-XYZ".into(),
        revision: 0,
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
