//! Two app instances, on ports 8000 and 8001, sharing their sessions through one real
//! redis-server (started by `scripts/redis` on a port of its own), against real Keycloak.
//! Cookies belong to a host, not a port, so one browser carries one session to both. The
//! last test puts them on Redis Sentinel and kills the master under them.

use std::time::Duration;

use reqwest::Method;
use rocket::tokio;
use rocket_keycloak_testkit::now;
use serde_json::{Value, json};

use rocket_keycloak_testkit::browser::{APP, Browser, RunningApp, assert_hello, csrf};

use super::{admin, figment, serial, user_token};
use crate::redis::{RedisGroup, RedisServer};

/// The second instance.
const B: &str = "http://localhost:8001";
const SECRET_KEY: &str = "yvFUoTl8c2dthuCXJHSzh0ZO8cQaMlyBd0hx6kqOWn0=";

/// Instances A (port 8000) and B (port 8001) with sessions in the Redis setup at `url`.
async fn two_instances(url: &str, overrides: Value) -> (RunningApp, RunningApp) {
    let mut oidc = json!({"session_store": url});
    for (k, v) in overrides.as_object().unwrap() {
        oidc[k] = v.clone();
    }
    let config = || figment(oidc.clone()).merge(("secret_key", SECRET_KEY));
    (
        RunningApp::launch_on(rocket_keycloak_demo::rocket_with, 8000, config()).await,
        RunningApp::launch_on(rocket_keycloak_demo::rocket_with, 8001, config()).await,
    )
}

async fn status(browser: &Browser, url: &str) -> u16 {
    browser.once(Method::GET, url, &[]).await.status().as_u16()
}

async fn me(browser: &Browser, base: &str) -> Value {
    let response = browser.once(Method::GET, &format!("{base}/me"), &[]).await;
    assert_eq!(response.status(), 200, "{base}/me");
    response.json().await.unwrap()
}

/// Polls `url` until it answers `expected`, for at most a second.
async fn within_a_second(browser: &Browser, url: &str, expected: u16) -> bool {
    for _ in 0..20 {
        if status(browser, url).await == expected {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// An admin signs alice out in Keycloak's admin API; Keycloak's back-channel logout reaches A
/// (the URL the realm knows), and the session ends on both within a second.
async fn admin_signs_out_alice_on_both(browser: &Browser) {
    let users: Value =
        admin(Method::GET, "/users?username=alice&exact=true", None).await.json().await.unwrap();
    let id = users[0]["id"].as_str().unwrap();
    assert!(admin(Method::POST, &format!("/users/{id}/logout"), None).await.status().is_success());
    assert!(within_a_second(browser, &format!("{B}/me"), 401).await, "ended on B");
    assert!(within_a_second(browser, &format!("{APP}/me"), 401).await, "ended on A");
}

#[rocket::async_test]
#[ignore = "needs Keycloak: run scripts/test"]
async fn signed_in_on_one_instance_signed_in_on_both_and_logouts_reach_both() {
    let _realm = serial().await;
    let redis = RedisServer::start();
    let (a, b) = two_instances(&redis.url(), json!({})).await;
    let browser = Browser::new();
    assert_hello(&browser.sign_in("/hello", "alice", "alice-password").await, "Alice Liddell");
    // The same cookie opens /hello and /secure-data on B.
    assert_hello(&browser.go(Method::GET, &format!("{B}/hello"), &[]).await, "Alice Liddell");
    assert_eq!(status(&browser, &format!("{B}/secure-data")).await, 200);

    // An admin sign-out in Keycloak: the back-channel logout reaches A only.
    admin_signs_out_alice_on_both(&browser).await;

    // POST /logout on A ends the session on B.
    let hello = browser.sign_in("/hello", "alice", "alice-password").await;
    assert_hello(&hello, "Alice Liddell");
    assert_eq!(status(&browser, &format!("{B}/me")).await, 200);
    let (logout, token) = (format!("{APP}/logout"), csrf(&hello.body));
    assert_eq!(browser.once(Method::POST, &logout, &[("csrf", &token)]).await.status(), 303);
    assert_eq!(status(&browser, &format!("{B}/me")).await, 401);
    a.stop().await;
    b.stop().await;
}

#[rocket::async_test]
#[ignore = "needs Keycloak: run scripts/test"]
async fn twenty_concurrent_requests_on_two_instances_cause_one_refresh_with_rotation() {
    let _realm = serial().await;
    let redis = RedisServer::start();
    // demo-app-short: 10-second access tokens; the realm rotates refresh tokens.
    let short = json!({"client_id": "demo-app-short", "client_secret": "demo-app-short-secret"});
    let (a, b) = two_instances(&redis.url(), short).await;
    let browser = Browser::new();
    assert_hello(&browser.sign_in("/hello", "alice", "alice-password").await, "Alice Liddell");
    let first = me(&browser, APP).await;
    let (sid, expires) =
        (first["sid"].as_str().unwrap().to_owned(), first["expires_at"].as_u64().unwrap());
    assert!(expires <= now() + 11, "short-lived token");
    tokio::time::sleep(Duration::from_secs(expires.saturating_sub(now()) + 1)).await;
    let requests = (0..20).map(|i| {
        let base = if i % 2 == 0 { APP } else { B };
        let url = format!("{base}/me");
        let browser = &browser;
        async move { browser.once(Method::GET, &url, &[]).await.status().as_u16() }
    });
    let statuses = crate::join_all(requests).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert!(me(&browser, B).await["expires_at"].as_u64().unwrap() > expires, "refreshed");
    // Keycloak's event log is the outside witness: one refresh grant for this session.
    let events: Vec<Value> = admin(Method::GET, "/events?client=demo-app-short&max=1000", None)
        .await
        .json()
        .await
        .unwrap();
    let of_session = |kind: &str| {
        events.iter().filter(|e| e["type"] == kind && e["sessionId"] == sid.as_str()).count()
    };
    assert_eq!(of_session("REFRESH_TOKEN"), 1, "{events:#?}");
    assert_eq!(of_session("REFRESH_TOKEN_ERROR"), 0, "{events:#?}");
    a.stop().await;
    b.stop().await;
}

#[rocket::async_test]
#[ignore = "needs Keycloak: run scripts/test"]
async fn redis_stopped_bearer_calls_work_sessions_answer_503_and_come_back() {
    let _realm = serial().await;
    let redis = RedisServer::start();
    let (a, b) = two_instances(&redis.url(), json!({})).await;
    let browser = Browser::new();
    assert_hello(&browser.sign_in("/hello", "alice", "alice-password").await, "Alice Liddell");
    // Nothing in Redis is a token, the cookie or the session id.
    let cookie = browser.cookie(APP, "kc_session").expect("session cookie");
    let dump = redis.dump();
    for secret in ["eyJ", cookie.as_str(), "alice"] {
        assert!(!dump.windows(secret.len()).any(|w| w == secret.as_bytes()), "{secret} in Redis");
    }

    let token = user_token("carol", "carol-password").await;
    redis.stop();
    let bearer =
        super::http().get(format!("{B}/secure-data")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(bearer.status(), 200, "bearer calls do not need Redis");
    let page = browser.once(Method::GET, &format!("{B}/hello"), &[]).await;
    assert_eq!(page.status(), 503);
    assert!(page.headers().contains_key("retry-after"));
    assert_eq!(status(&browser, &format!("{APP}/me")).await, 503);

    redis.restart();
    let mut back = false;
    for _ in 0..50 {
        if status(&browser, &format!("{B}/me")).await == 200 {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "the same cookie works again without an app restart");
    assert_hello(&browser.go(Method::GET, &format!("{APP}/hello"), &[]).await, "Alice Liddell");
    a.stop().await;
    b.stop().await;
}

#[rocket::async_test]
#[ignore = "needs Keycloak: run scripts/test"]
async fn a_sentinel_failover_keeps_the_session_and_keycloaks_admin_sign_out_ends_it_on_both() {
    let _realm = serial().await;
    let group = RedisGroup::sentinel();
    let (a, b) = two_instances(&group.url(), json!({})).await;
    let browser = Browser::new();
    assert_hello(&browser.sign_in("/hello", "alice", "alice-password").await, "Alice Liddell");
    assert_eq!(status(&browser, &format!("{B}/me")).await, 200);
    group.wait_for_replica();
    group.kill(group.master_port());
    // 503 while the sentinels promote the replica, then alice on both, without a sign-in.
    let (mut streak, mut seen) = (0, Vec::new());
    for _ in 0..300 {
        for base in [APP, B] {
            let code = status(&browser, &format!("{base}/me")).await;
            assert!(matches!(code, 200 | 503), "during the switch: {code}, {seen:?}");
            seen.push(code);
            streak = if code == 200 { streak + 1 } else { 0 };
        }
        if streak >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(streak >= 4, "the session came back on both: {seen:?}");
    assert_eq!(me(&browser, B).await["preferred_username"], "alice");
    // An admin sign-out in Keycloak after the failover: its back-channel logout reaches A,
    // and ends the session on both through the new master.
    admin_signs_out_alice_on_both(&browser).await;
    a.stop().await;
    b.stop().await;
}
