//! Two app instances on Sentinel and on a Cluster: a session survives the master's death on
//! both instances without a new sign-in, requests during the switch get 503 (never 500,
//! never another user, never "signed out"), and an admin sign-out after the failover ends
//! the session everywhere; a manual failover (the old master still up, and still saying it
//! is master) is followed within about a second, with no 503; on a Cluster, the single-server scenarios (both logouts, one
//! refresh for 20 requests, DPoP replay) pass unchanged.
//!
//! Every test here is `#[ignore = "needs redis-server: run scripts/test"]`.

use std::time::{Duration, Instant};

use rocket::http::Status;
use rocket::local::asynchronous::Client;
use rocket_keycloak_testkit::access_claims;
use serde_json::Value;

use super::RedisGroup;
use super::instances::{
    alice, dpop_replay_refused, logout_token, logouts_reach_both, refresh_once, session_cookie,
    two_instances_on, with_fresh_proof,
};
use crate::backchannel;
use crate::flow::sign_in;

/// `/me` with `cookie` on `app`: its status, and the user when it is 200.
async fn me(app: &Client, cookie: &rocket::http::Cookie<'static>) -> (Status, Option<String>) {
    let response = app.get("/me").cookie(cookie.clone()).dispatch().await;
    let status = response.status();
    let user = match status {
        Status::Ok => response
            .into_json::<Value>()
            .await
            .and_then(|me| me["preferred_username"].as_str().map(str::to_owned)),
        _ => None,
    };
    (status, user)
}

#[rocket::async_test]
#[ignore = "needs redis-server: run scripts/test"]
async fn a_session_survives_the_masters_death_on_both_instances() {
    let group = RedisGroup::sentinel();
    let (idp, key, a, b, cookie, _) = two_instances_on(&group.url(), alice).await;
    assert_eq!(me(&b, &cookie).await, (Status::Ok, Some("alice".into())));
    group.wait_for_replica();
    let old = group.master_port();
    group.kill(old);

    // Until both instances answer 200 three times in a row: 503 while the sentinels have not
    // promoted the replica, then alice again, on both, with the same cookie.
    let start = Instant::now();
    let (mut unavailable, mut streak) = (0, 0);
    while streak < 3 {
        assert!(start.elapsed() < Duration::from_secs(30), "no recovery in 30 s");
        for app in [&a, &b] {
            match me(app, &cookie).await {
                (Status::Ok, Some(user)) if user == "alice" => streak += 1,
                (Status::ServiceUnavailable, None) => (unavailable, streak) = (unavailable + 1, 0),
                other => panic!("during the switch: {other:?}, never 500 or another answer"),
            }
        }
        rocket::tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(unavailable > 0, "the switch was seen (503s) before the new master answered");
    let new = group.wait_for_new_master(old, Duration::from_secs(10));
    assert_ne!(new, old);
    println!(
        "{unavailable} answers were 503 while the replica on {new} took over; alice back on both \
         {:.1} s after the kill",
        start.elapsed().as_secs_f64()
    );

    // Keycloak's back-channel logout after the failover ends the session on both.
    let token = logout_token(&idp, &key, "lt-after-failover");
    assert_eq!(backchannel(&b, &token).await, Status::Ok);
    assert_eq!(me(&a, &cookie).await.0, Status::Unauthorized);
    assert_eq!(me(&b, &cookie).await.0, Status::Unauthorized);
    // And a new sign-in works on the new master.
    sign_in(&a, &idp, &key, access_claims(&idp, "alice", &["user"])).await;
    assert_eq!(me(&b, &session_cookie(&a)).await.0, Status::Ok);
}

#[rocket::async_test]
#[ignore = "needs redis-server: run scripts/test"]
async fn a_manual_failover_is_followed_while_the_old_master_still_answers() {
    let group = RedisGroup::sentinel();
    let (idp, key, a, b, cookie, _) = two_instances_on(&group.url(), alice).await;
    assert_eq!(me(&a, &cookie).await.0, Status::Ok);
    assert_eq!(me(&b, &cookie).await.0, Status::Ok);
    group.wait_for_replica();
    let old = group.master_port();
    let said = group.cli(group.sentinel_port(), &["sentinel", "failover", "sessions"]);
    assert_eq!(said, "OK");
    let new = group.wait_for_new_master(old, Duration::from_secs(20));
    // The old master still says it is master for some seconds (until the sentinels tell it
    // otherwise), and still answers: only the app's own look at the sentinels (every second)
    // moves it. Past that, reads and writes go to the new master, every one a 200.
    assert_eq!(group.cli(old, &["role"]).lines().next(), Some("master"), "still up, as master");
    rocket::tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(me(&a, &cookie).await, (Status::Ok, Some("alice".into())));
    assert_eq!(me(&b, &cookie).await, (Status::Ok, Some("alice".into())));
    let token = logout_token(&idp, &key, "lt-after-manual-failover");
    assert_eq!(backchannel(&a, &token).await, Status::Ok);
    assert_eq!(me(&a, &cookie).await.0, Status::Unauthorized);
    assert_eq!(me(&b, &cookie).await.0, Status::Unauthorized);
    // Once the old master is a replica of the new one, the logout holds there too.
    let start = Instant::now();
    while !group.cli(old, &["role"]).starts_with("slave") {
        assert!(start.elapsed() < Duration::from_secs(30), "{old} never became a replica");
        rocket::tokio::time::sleep(Duration::from_millis(200)).await;
    }
    group.wait_for_replica();
    assert!(group.keys(old, "rocket_keycloak:s:").is_empty(), "no session came back");
    assert_eq!(me(&b, &cookie).await.0, Status::Unauthorized);
    // Nothing of the session is left on the new master.
    assert!(group.keys(new, "rocket_keycloak:s:").is_empty());
}

#[rocket::async_test]
#[ignore = "needs redis-server: run scripts/test"]
async fn on_a_cluster_logouts_on_one_instance_end_the_session_on_the_other() {
    let group = RedisGroup::cluster();
    logouts_reach_both(&group.url()).await;
}

#[rocket::async_test]
#[ignore = "needs redis-server: run scripts/test"]
async fn on_a_cluster_concurrent_requests_on_both_instances_refresh_once() {
    let group = RedisGroup::cluster();
    refresh_once(&group.url()).await;
}

#[rocket::async_test]
#[ignore = "needs redis-server: run scripts/test"]
async fn on_a_cluster_a_dpop_proof_spent_on_one_instance_is_refused_on_the_other() {
    let group = RedisGroup::cluster();
    let (_idp, a, token, client_key) = dpop_replay_refused(&group.url()).await;
    group.stop();
    let response = with_fresh_proof(&a, &token, &client_key).await;
    assert_eq!(response, Status::ServiceUnavailable, "never accepted twice");
}

#[rocket::async_test]
#[ignore = "needs redis-server: run scripts/test"]
async fn on_sentinel_logouts_and_one_refresh_hold_too() {
    let group = RedisGroup::sentinel();
    logouts_reach_both(&group.url()).await;
    refresh_once(&group.url()).await;
}
