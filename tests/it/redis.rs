//! Sessions shared through a real redis-server (started by `scripts/redis` on a port of
//! its own per test): two app instances on one store, back-channel and RP logout reaching
//! both, one refresh for concurrent requests on both, Redis going away and coming back, and
//! what a dump of Redis shows. The identity provider is the in-process one; the same
//! scenarios against real Keycloak on ports 8000 and 8001 are in `keycloak/instances.rs`.
//!
//! Every test here is `#[ignore = "needs redis-server: run scripts/test"]`; when it runs
//! without redis-server installed it fails saying so.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use rocket::http::{ContentType, Cookie, Header, Status};
use rocket::local::asynchronous::Client;
use rocket_keycloak::{RedisStore, Session, SessionStore};
use rocket_keycloak_testkit::{Idp, TestKey, access_claims, mint, now, token_response};
use serde_json::{Value, json};

use crate::flow::sign_in;
use crate::{backchannel, figment_for, get_with_token};

/// A base64 secret key shared by the instances of one test.
const SECRET_KEY: &str = "hPRYyVRiMyxpw5sBB1XeCMN1kFsDCqKvBi2QJxBVHQk=";

/// A redis-server of one test, started and stopped with `scripts/redis`.
pub struct RedisServer {
    pub port: u16,
    dir: PathBuf,
}

static NEXT_PORT: AtomicU16 = AtomicU16::new(16390);

impl RedisServer {
    pub fn start() -> Self {
        let port = NEXT_PORT.fetch_add(1, Ordering::SeqCst);
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("redis-{port}"));
        let _ = std::fs::remove_dir_all(&dir);
        let server = Self { port, dir };
        server.script("start");
        server
    }

    fn script(&self, command: &str) {
        let output = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/redis"))
            .arg(command)
            .env("REDIS_PORT", self.port.to_string())
            .env("REDIS_CACHE_DIR", &self.dir)
            .output()
            .expect("scripts/redis runs");
        assert!(
            output.status.success(),
            "scripts/redis {command} failed (is redis-server installed? scripts/setup installs it): {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    pub fn stop(&self) {
        self.script("stop");
    }

    pub fn restart(&self) {
        self.script("start");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Every key and every value in the database, as raw bytes (`redis-cli --no-raw` would
    /// escape them): keys by SCAN, values by type.
    pub fn dump(&self) -> Vec<u8> {
        let cli = |args: &[&str]| {
            let output = Command::new("redis-cli")
                .args(["-p", &self.port.to_string(), "--raw"])
                .args(args)
                .output()
                .expect("redis-cli runs");
            output.stdout
        };
        let keys = String::from_utf8(cli(&["--scan"])).unwrap();
        let mut dump = Vec::new();
        for key in keys.lines().filter(|k| !k.is_empty()) {
            dump.extend_from_slice(key.as_bytes());
            let kind = String::from_utf8(cli(&["type", key])).unwrap();
            let value = match kind.trim() {
                "hash" => cli(&["hgetall", key]),
                "zset" => cli(&["zrange", key, "0", "-1", "withscores"]),
                "set" => cli(&["smembers", key]),
                "string" => cli(&["get", key]),
                other => panic!("unexpected type {other} of {key}"),
            };
            dump.extend_from_slice(&value);
        }
        dump
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/redis"))
            .arg("stop")
            .env("REDIS_PORT", self.port.to_string())
            .env("REDIS_CACHE_DIR", &self.dir)
            .output();
    }
}

/// An app instance against `idp` keeping its sessions in `redis`.
async fn instance(idp: &Idp, redis: &RedisServer, overrides: Value) -> Client {
    let mut oidc = json!({"session_store": redis.url()});
    for (k, v) in overrides.as_object().unwrap() {
        oidc[k] = v.clone();
    }
    let figment = figment_for(idp, oidc).merge(("secret_key", SECRET_KEY));
    Client::tracked(rocket_keycloak_demo::rocket_with(figment)).await.expect("app launches")
}

/// The session cookie as the browser holds it (encrypted by the app).
fn session_cookie(app: &Client) -> Cookie<'static> {
    app.cookies().get("kc_session").expect("signed in").clone().into_owned()
}

async fn me_with(app: &Client, cookie: &Cookie<'static>) -> Status {
    app.get("/me").cookie(cookie.clone()).dispatch().await.status()
}

fn logout_token(idp: &Idp, key: &TestKey, jti: &str) -> String {
    mint(
        key,
        &json!({
            "iss": idp.issuer(), "aud": "demo-app", "iat": now(), "exp": now() + 120, "jti": jti,
            "sub": "sub-alice", "sid": "sid-alice", "typ": "Logout",
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
        }),
    )
}

/// Redis, the IdP, two instances on that Redis, and alice signed in through the first;
/// returns her session cookie too.
async fn two_instances_signed_in(
    overrides: Value,
    access: impl FnOnce(&Idp) -> Value,
) -> (RedisServer, Arc<Idp>, TestKey, Client, Client, Cookie<'static>, String) {
    let redis = RedisServer::start();
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let a = instance(&idp, &redis, overrides.clone()).await;
    let b = instance(&idp, &redis, overrides).await;
    let refresh = sign_in(&a, &idp, &key, access(&idp)).await;
    let cookie = session_cookie(&a);
    (redis, idp, key, a, b, cookie, refresh)
}

fn alice(idp: &Idp) -> Value {
    access_claims(idp, "alice", &["user"])
}

#[rocket::async_test]
#[ignore = "needs redis-server: run scripts/test"]
async fn a_session_made_on_one_instance_works_on_the_other() {
    let (redis, idp, _key, _a, b, cookie, _) = two_instances_signed_in(json!({}), alice).await;
    let me: Value = b.get("/me").cookie(cookie.clone()).dispatch().await.into_json().await.unwrap();
    assert_eq!(me["preferred_username"], "alice");
    let hello = b.get("/hello").cookie(cookie.clone()).dispatch().await;
    assert_eq!(hello.status(), Status::Ok);
    // Another secret key cannot read the records: to that app, nobody is signed in.
    let figment = figment_for(&idp, json!({"session_store": redis.url()}))
        .merge(("secret_key", "Zm9yZWlnbi1rZXktZm9yZWlnbi1rZXktZm9yZWlnbi0="));
    let foreign = Client::tracked(rocket_keycloak_demo::rocket_with(figment)).await.unwrap();
    assert_eq!(me_with(&foreign, &cookie).await, Status::Unauthorized);
}

#[rocket::async_test]
#[ignore = "needs redis-server: run scripts/test"]
async fn logouts_on_one_instance_end_the_session_on_the_other() {
    let (_redis, idp, key, a, b, cookie, _) = two_instances_signed_in(json!({}), alice).await;
    // Back-channel logout delivered to B ends the session made on A.
    assert_eq!(me_with(&b, &cookie).await, Status::Ok);
    let token = logout_token(&idp, &key, "lt-shared-1");
    assert_eq!(backchannel(&b, &token).await, Status::Ok);
    assert_eq!(me_with(&a, &cookie).await, Status::Unauthorized);
    // The replay cache is shared: the same token replayed at A is refused.
    assert_eq!(backchannel(&a, &token).await, Status::BadRequest);
    // RP-initiated logout on A ends it on B.
    sign_in(&a, &idp, &key, access_claims(&idp, "alice", &["user"])).await;
    let cookie = session_cookie(&a);
    assert_eq!(me_with(&b, &cookie).await, Status::Ok);
    let hello = a.get("/hello").dispatch().await.into_string().await.unwrap();
    let csrf = hello.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap();
    let out = a.post("/logout").header(ContentType::Form).body(format!("csrf={csrf}")).dispatch();
    assert_eq!(out.await.status(), Status::SeeOther);
    assert_eq!(me_with(&b, &cookie).await, Status::Unauthorized);
}

#[rocket::async_test]
#[ignore = "needs redis-server: run scripts/test"]
async fn concurrent_requests_on_both_instances_refresh_once() {
    let redis = RedisServer::start();
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let leeway = json!({"leeway": 5});
    let (a, b) =
        (instance(&idp, &redis, leeway.clone()).await, instance(&idp, &redis, leeway).await);
    let mut short = access_claims(&idp, "alice", &["user"]);
    short["iat"] = json!(now() - 300);
    short["exp"] = json!(now() + 2); // inside the leeway: refreshed at the next request
    let refresh = sign_in(&a, &idp, &key, short).await;
    let cookie = session_cookie(&a);
    let fresh = mint(&key, &access_claims(&idp, "alice", &["user", "admin"]));
    idp.expect_refresh(&refresh, token_response(&fresh, None, Some("rotated-refresh-token")));
    // Keycloak takes its time, so every request arrives while the refresh runs.
    idp.set_mode(rocket_keycloak_testkit::Mode::Delay(Duration::from_millis(300)));
    let before = idp.token_requests();
    let requests = (0..20).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        app.get("/me").cookie(cookie.clone()).dispatch()
    });
    let statuses: Vec<Status> =
        crate::join_all(requests).await.into_iter().map(|r| r.status()).collect();
    assert!(statuses.iter().all(|s| *s == Status::Ok), "{statuses:?}");
    assert_eq!(
        idp.token_requests(),
        before + 1,
        "one refresh grant for 20 requests on 2 instances"
    );
    idp.set_mode(rocket_keycloak_testkit::Mode::Normal);
    let me: Value = b.get("/me").cookie(cookie).dispatch().await.into_json().await.unwrap();
    assert_eq!(me["realm_roles"], json!(["user", "admin"]), "both see the refreshed identity");
}

#[rocket::async_test]
#[ignore = "needs redis-server: run scripts/test"]
async fn redis_down_leaves_bearer_calls_alone_and_sessions_come_back_with_it() {
    let (redis, idp, key, app, _b, cookie, _) = two_instances_signed_in(json!({}), alice).await;
    assert_eq!(me_with(&app, &cookie).await, Status::Ok);
    let token = mint(&key, &access_claims(&idp, "bob", &["user"]));

    redis.stop();
    assert_eq!(get_with_token(&app, "/secure-data", &token).await.status(), Status::Ok);
    let api = app.get("/me").cookie(cookie.clone()).dispatch().await;
    assert_eq!(api.status(), Status::ServiceUnavailable);
    assert!(api.headers().get_one("Retry-After").is_some());
    let body: Value = api.into_json().await.expect("JSON for API clients");
    assert_eq!(body["error"], "temporarily_unavailable");
    let page = app
        .get("/hello")
        .cookie(cookie.clone())
        .header(Header::new("Accept", "text/html"))
        .dispatch()
        .await;
    assert_eq!(page.status(), Status::ServiceUnavailable, "a clear page, not a sign-in");
    assert!(page.headers().get_one("Retry-After").is_some());
    assert!(page.into_string().await.unwrap().contains("<html"), "an HTML page for browsers");
    let logout = backchannel(&app, &logout_token(&idp, &key, "lt-while-down")).await;
    assert_eq!(logout, Status::ServiceUnavailable);
    // Still ready: bearer calls work, and every instance shares this store anyway.
    let ready = app.get("/ready").dispatch().await;
    assert_eq!(ready.status(), Status::Ok);
    let ready: Value = ready.into_json().await.unwrap();
    assert_eq!(ready["sessions"], "unavailable");

    redis.restart();
    let back = crate::eventually(Duration::from_secs(5), || async {
        me_with(&app, &cookie).await == Status::Ok
    });
    assert!(back.await, "the same cookie works again, without an app restart");
    let ready: Value = app.get("/ready").dispatch().await.into_json().await.unwrap();
    assert_eq!(ready["sessions"], "ok");
}

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

fn store(redis: &RedisServer, secret: &str) -> RedisStore {
    RedisStore::open(&redis.url(), secret.as_bytes(), Duration::from_secs(3600), 3).unwrap()
}

#[rocket::async_test]
#[ignore = "needs redis-server: run scripts/test"]
async fn a_dump_of_redis_holds_no_token_no_session_id_and_no_user_id() {
    let redis = RedisServer::start();
    let store = store(&redis, SECRET_KEY);
    let id = "the-session-id-in-the-cookie";
    store.put(id, secret_session("sub-alice-1234")).await.unwrap();
    assert!(store.first_use_of_logout_token("jti-of-a-logout-token", now() + 60).await.unwrap());
    assert!(store.lock_refresh(id, "owner", Duration::from_secs(5)).await.unwrap());
    let dump = redis.dump();
    assert!(dump.len() > 100, "the dump holds the records");
    for secret in [
        "eyJ",
        "refresh-token-XYZ",
        "csrf-token-XYZ",
        id,
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
    a.put("s1", secret_session("u1")).await.unwrap();
    // Compare-and-set on the revision, seen from another instance.
    let read = b.get("s1").await.unwrap().expect("shared");
    assert!(b.update("s1", read.clone()).await.unwrap());
    assert!(!a.update("s1", read).await.unwrap(), "a stale revision loses");
    let current = a.get("s1").await.unwrap().unwrap();
    b.remove("s1").await.unwrap();
    assert!(!a.update("s1", current).await.unwrap(), "no resurrection");
    assert!(a.get("s1").await.unwrap().is_none());
    // Per-user limit (3 here): the least recently used session of that user goes.
    for id in ["u1-a", "u1-b", "u1-c"] {
        a.put(id, secret_session("u1")).await.unwrap();
    }
    a.put("u2-a", secret_session("u2")).await.unwrap();
    assert!(a.get("u1-a").await.unwrap().is_some()); // used: now u1-b is the idlest
    a.put("u1-d", secret_session("u1")).await.unwrap();
    assert!(b.get("u1-b").await.unwrap().is_none());
    assert!(b.get("u1-a").await.unwrap().is_some() && b.get("u2-a").await.unwrap().is_some());
    // Logout by sid and by sub, from either instance.
    assert_eq!(b.remove_by_sid("sid-of-alice").await.unwrap(), 4);
    a.put("u1-e", secret_session("u1")).await.unwrap();
    a.put("u2-b", secret_session("u2")).await.unwrap();
    assert_eq!(b.remove_by_sub("u1").await.unwrap(), 1);
    assert!(a.get("u2-b").await.unwrap().is_some());
    // The refresh lock: one owner at a time, released only by its owner, and it expires.
    let ttl = Duration::from_millis(300);
    assert!(a.lock_refresh("u2-b", "owner-a", ttl).await.unwrap());
    assert!(!b.lock_refresh("u2-b", "owner-b", ttl).await.unwrap());
    b.unlock_refresh("u2-b", "owner-b").await.unwrap();
    assert!(!b.lock_refresh("u2-b", "owner-b", ttl).await.unwrap(), "not released by others");
    rocket::tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(b.lock_refresh("u2-b", "owner-b", ttl).await.unwrap(), "expired");
    // The logout-token replay cache is shared.
    assert!(a.first_use_of_logout_token("jti-1", now() + 60).await.unwrap());
    assert!(!b.first_use_of_logout_token("jti-1", now() + 60).await.unwrap());
    // A store with another secret sees nothing.
    assert!(store(&redis, "another secret").get("u2-b").await.unwrap().is_none());
}

#[rocket::async_test]
#[ignore = "needs redis-server: run scripts/test"]
async fn a_dpop_proof_spent_on_one_instance_is_refused_on_the_other() {
    use rocket_keycloak_testkit::dpop::{dpop_access_claims, dpop_proof};
    let redis = RedisServer::start();
    let (signer, client_key) = (TestKey::rsa1(), TestKey::ec1());
    let idp = Idp::start(&[&signer]).await;
    let (a, b) = (instance(&idp, &redis, json!({})).await, instance(&idp, &redis, json!({})).await);
    let token = mint(&signer, &dpop_access_claims(&idp, "alice", &["user"], &client_key));
    let url = "http://localhost:8000/secure-data";
    let send = crate::dpop::dpop_get;
    let proof = dpop_proof(&client_key, "GET", url, Some(&token));
    assert_eq!(send(&a, &token, &[&proof]).await.status(), Status::Ok);
    let replay = send(&b, &token, &[&proof]).await;
    assert_eq!(replay.status(), Status::Unauthorized, "replayed to the other instance");
    let challenge = replay.headers().get_one("WWW-Authenticate").unwrap_or_default().to_owned();
    assert!(challenge.contains("invalid_dpop_proof"), "{challenge}");
    let fresh = dpop_proof(&client_key, "GET", url, Some(&token));
    assert_eq!(send(&b, &token, &[&fresh]).await.status(), Status::Ok);
    // With Redis gone, a proof cannot be spent: refused with 503, never accepted twice.
    drop(redis);
    let unspendable = dpop_proof(&client_key, "GET", url, Some(&token));
    let response = send(&a, &token, &[&unspendable]).await;
    assert_eq!(response.status(), Status::ServiceUnavailable);
}
