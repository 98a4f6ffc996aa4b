//! Spent DPoP proofs in Redis under pressure: one key's flood refuses that key only, and a
//! Redis full under `maxmemory-policy noeviction` refuses new proofs (503) while it keeps
//! refusing the replay of a proof spent before. Sessions stay readable, logouts work, and
//! a new session is refused.
//!
//! Every test here is `#[ignore = "needs redis-server: run scripts/test"]`.

use std::time::Duration;

use rocket::http::Status;
use rocket_keycloak::{MAX_PROOFS_PER_KEY, ProofUse, RedisStore, SessionStore, SpentProof};
use rocket_keycloak_testkit::dpop::{dpop_access_claims, dpop_proof};
use rocket_keycloak_testkit::{Idp, TestKey, access_claims, id_claims, mint, token_response};
use serde_json::json;

use super::instances::{instance, logout_token, me_with, session_cookie};
use super::{RedisServer, SECRET_KEY};
use crate::dpop::dpop_get;
use crate::flow::{callback, sign_in, start_login};

/// Proof `n` of DPoP key `key`, remembered for a minute, at the default quota.
fn proof(n: u32, key: u8) -> SpentProof {
    let mut id = [key; 32];
    id[..4].copy_from_slice(&n.to_be_bytes());
    SpentProof {
        id,
        key: [key; 32],
        remember_for: Duration::from_secs(60),
        key_quota: MAX_PROOFS_PER_KEY,
    }
}

#[rocket::async_test]
#[ignore = "needs redis-server: run scripts/test"]
async fn one_keys_flood_of_proofs_refuses_that_key_and_no_other() {
    let redis = RedisServer::start();
    let store =
        RedisStore::open(&redis.url(), SECRET_KEY.as_bytes(), Duration::from_secs(60), 3).unwrap();
    let quota = u32::try_from(MAX_PROOFS_PER_KEY).unwrap();
    let flood: Vec<SpentProof> = (0..quota).map(|n| proof(n, 1)).collect();
    for batch in flood.chunks(500) {
        let spent = crate::join_all(batch.iter().map(|p| store.first_use_of_proof(p)));
        for used in spent.await {
            assert_eq!(used.unwrap(), Some(ProofUse::First));
        }
    }
    let over = store.first_use_of_proof(&proof(quota, 1)).await.unwrap();
    assert_eq!(over, Some(ProofUse::KeyOverQuota), "the flooding key is refused");
    let replay = store.first_use_of_proof(&proof(7, 1)).await.unwrap();
    assert_eq!(replay, Some(ProofUse::Replayed), "and its spent proofs stay spent");
    let other = store.first_use_of_proof(&proof(0, 2)).await.unwrap();
    assert_eq!(other, Some(ProofUse::First), "another key is not refused");
    // Each key's proofs are one sorted set, named with a Cluster hash tag.
    let sets = redis.keys("rocket_keycloak:p:");
    assert_eq!(sets.len(), 2, "{sets:?}");
    assert!(sets.iter().all(|set| set.ends_with('}') && set.contains(":p:{")), "{sets:?}");
}

/// Caps Redis just above what it holds, under `noeviction`, then goes past the cap (Redis
/// checks only a script's first write against it).
fn fill(redis: &RedisServer) {
    redis.cli(&["config", "set", "maxmemory-policy", "noeviction"]);
    let info = redis.cli(&["info", "memory"]);
    let used: u64 = info
        .lines()
        .find_map(|line| line.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("INFO memory has used_memory");
    redis.cli(&["config", "set", "maxmemory", &(used + 256 * 1024).to_string()]);
    let fill = "for i = 1, 200 do redis.call('SET', 'junk:' .. i, string.rep('x', 10000)) end";
    redis.cli(&["eval", fill, "0"]);
    let refused = redis.cli(&["set", "probe", "1"]);
    assert!(refused.contains("OOM"), "Redis refuses writes now: {refused}");
}

#[rocket::async_test]
#[ignore = "needs redis-server: run scripts/test"]
async fn a_full_redis_refuses_new_proofs_with_503_and_still_refuses_replays() {
    let redis = RedisServer::start();
    let (signer, client_key) = (TestKey::rsa1(), TestKey::ec1());
    let idp = Idp::start(&[&signer]).await;
    let app = instance(&idp, &redis.url(), json!({})).await;
    sign_in(&app, &idp, &signer, access_claims(&idp, "alice", &["user"])).await;
    let cookie = session_cookie(&app);
    let token = mint(&signer, &dpop_access_claims(&idp, "alice", &["user"], &client_key));
    let url = "http://localhost:8000/secure-data";
    let spent = dpop_proof(&client_key, "GET", url, Some(&token));
    assert_eq!(dpop_get(&app, &token, &[&spent]).await.status(), Status::Ok);

    fill(&redis);
    let replay = dpop_get(&app, &token, &[&spent]).await;
    assert_eq!(replay.status(), Status::Unauthorized, "the proof spent before is still known");
    let sets = redis.keys("rocket_keycloak:p:");
    assert_eq!(sets.len(), 1, "{sets:?}");
    assert_eq!(redis.cli(&["zcard", &sets[0]]), "1", "its marker is still there");
    let fresh = dpop_proof(&client_key, "GET", url, Some(&token));
    let response = dpop_get(&app, &token, &[&fresh]).await;
    assert_eq!(response.status(), Status::ServiceUnavailable, "fail closed, never a 200");
    assert!(response.headers().get_one("Retry-After").is_some());
    assert_eq!(redis.cli(&["zcard", &sets[0]]), "1", "nothing was forgotten to make room");
    // A session is still read (its last-use touch gives way), and a logout still ends it.
    assert_eq!(me_with(&app, &cookie).await, Status::Ok, "a session is still read");
    let logout = crate::backchannel(&app, &logout_token(&idp, &signer, "lt-while-full")).await;
    assert_eq!(logout, Status::Ok, "a logout is honoured even when its id cannot be kept");
    assert_eq!(me_with(&app, &cookie).await, Status::Unauthorized);
    // A new session is refused rather than stored past `maxmemory`.
    let (state, nonce, _) = start_login(&app, "/hello").await;
    let id = mint(&signer, &id_claims(&idp, "alice", &nonce));
    let access = mint(&signer, &access_claims(&idp, "alice", &["user"]));
    idp.expect_code("code-full", token_response(&access, Some(&id), Some("refresh-full")));
    let refused = callback(&app, &idp, &state, "code-full").await;
    assert_eq!(refused.status(), Status::ServiceUnavailable, "no session beyond maxmemory");
}
