//! The `RedisStore` on Sentinel and on a Cluster: the same store contract as on one server,
//! nothing readable on any node (the replica included), sessions spread over every master,
//! no script crossing slots, and a whole setup going away and coming back.
//!
//! Every test here is `#[ignore = "needs redis-server: run scripts/test"]`.

use std::time::{Duration, Instant};

use rocket_keycloak::{SessionId, SessionStore, Subject};
use rocket_keycloak_testkit::now;

use super::store::{keeps_the_store_contract, put, store_at};
use super::{RedisGroup, SECRET_KEY};

#[rocket::async_test]
#[ignore = "needs redis-server: run scripts/test"]
async fn the_store_contract_holds_on_sentinel() {
    let group = RedisGroup::sentinel();
    keeps_the_store_contract(&group.url()).await;
}

#[rocket::async_test]
#[ignore = "needs redis-server: run scripts/test"]
async fn the_store_contract_holds_on_a_cluster_without_crossing_slots() {
    let group = RedisGroup::cluster();
    // The cluster refuses a script whose keys are in two slots: what the contract run below
    // would meet (as a failed call) if one of the store's scripts crossed slots.
    let port = group.data_ports()[0];
    let crossing = group.cli(
        port,
        &["-c", "eval", "return redis.call('EXISTS', KEYS[1], KEYS[2])", "2", "{a}x", "{b}x"],
    );
    assert!(crossing.contains("CROSSSLOT"), "the cluster catches a crossing: {crossing}");
    keeps_the_store_contract(&group.url()).await;
}

#[rocket::async_test]
#[ignore = "needs redis-server: run scripts/test"]
async fn sessions_of_many_users_spread_over_every_master_and_nothing_is_readable() {
    let group = RedisGroup::cluster();
    let store = store_at(&group.url(), SECRET_KEY);
    let mut ids = Vec::new();
    for user in 0..60 {
        ids.push(put(&store, &format!("sub-user-{user}")).await);
    }
    assert!(store.first_use_of_logout_token("jti-of-a-logout-token", now() + 60).await.unwrap());
    let counts: Vec<usize> = group
        .data_ports()
        .into_iter()
        .map(|port| group.keys(port, "rocket_keycloak:s:").len())
        .collect();
    assert_eq!(counts.iter().sum::<usize>(), 60, "{counts:?}");
    assert!(counts.iter().all(|n| *n >= 5), "every master holds sessions: {counts:?}");
    // Each user's keys share one slot: its record and its indexes on one node.
    for port in group.data_ports() {
        let records = group.keys(port, "rocket_keycloak:s:").len();
        let users = group.keys(port, "rocket_keycloak:u:").len();
        assert_eq!(records, users, "one session per user here, with its index, on {port}");
    }
    let dump = group.dump();
    assert!(dump.len() > 1000, "the dump holds the records");
    for secret in ["eyJ", "refresh-token-XYZ", "csrf-token-XYZ", "sub-user-", "sid-of-", "jti-"] {
        assert!(!dump.windows(secret.len()).any(|w| w == secret.as_bytes()), "{secret} in Redis");
    }
    for id in &ids {
        assert!(!dump.windows(id.as_str().len()).any(|w| w == id.as_str().as_bytes()));
    }
    // Every user's logout, by sid and by sub, finds its slot.
    for (user, id) in ids.iter().enumerate() {
        let removed = if user % 2 == 0 {
            store.remove_by_sid(&format!("sid-of-sub-user-{user}")).await.unwrap()
        } else {
            store.remove_by_sub(&Subject::new(format!("sub-user-{user}"))).await.unwrap()
        };
        assert_eq!(removed, 1, "user {user}");
        assert!(store.get(id).await.unwrap().is_none());
    }
}

#[rocket::async_test]
#[ignore = "needs redis-server: run scripts/test"]
async fn the_sentinel_replica_holds_nothing_readable_either() {
    let group = RedisGroup::sentinel();
    let store = store_at(&group.url(), SECRET_KEY);
    let id = put(&store, "sub-alice-1234").await;
    group.wait_for_replica();
    let replica = group.dump_port_of_replica();
    assert!(replica.len() > 100, "the replica holds the record");
    for secret in ["eyJ", "refresh-token-XYZ", "csrf-token-XYZ", "sub-alice-1234", id.as_str()] {
        assert!(!replica.windows(secret.len()).any(|w| w == secret.as_bytes()), "{secret}");
    }
}

#[rocket::async_test]
#[ignore = "needs redis-server: run scripts/test"]
async fn a_whole_setup_down_fails_every_call_and_its_return_needs_no_new_store() {
    for group in [RedisGroup::sentinel(), RedisGroup::cluster()] {
        let store = store_at(&group.url(), SECRET_KEY);
        let id = put(&store, "u1").await;
        group.stop();
        assert!(store.get(&id).await.is_err(), "an error (503), never `no session`");
        assert!(store.ping().await.is_err());
        group.restart();
        let back =
            crate::eventually(Duration::from_secs(15), || async { store.ping().await.is_ok() });
        assert!(back.await, "the same store answers again");
        // Stopped cleanly, Redis kept its data (saved on shutdown): the session is there.
        assert!(store.get(&id).await.unwrap().is_some());
    }
}

/// Sentinels that accept connections and never answer (a host half gone, a firewall that
/// drops): 20 requests at once each fail within the lookup's bound, not one after another.
/// Needs no redis-server: the silent sentinel is a listener in this test.
#[rocket::async_test]
async fn silent_sentinels_fail_every_waiting_request_within_the_bound() {
    let silent = rocket::tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = rocket::tokio::spawn(async move {
        let mut connections = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            connections.push(socket); // held open, never answered
        }
    });
    let url = format!("redis+sentinel://127.0.0.1:{port}/sessions/0");
    let store = store_at(&url, SECRET_KEY);
    let id = SessionId::new(format!("{}.0123456789abcdef", "x".repeat(43)));
    let start = Instant::now();
    let gets = (0..20).map(|_| store.get(&id));
    let answers = crate::join_all(gets).await;
    let took = start.elapsed();
    assert!(answers.iter().all(Result::is_err), "every one an error (503), none a session");
    // The bound is 2 s per request; one after another, 20 would take 40 s.
    assert!(took < Duration::from_secs(10), "20 waiting requests took {took:?}");
    held.abort();
}
