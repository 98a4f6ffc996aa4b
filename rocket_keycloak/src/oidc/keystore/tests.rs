//! The key store's scheduling on tokio's paused clock: single flight, the rate limit,
//! the wait bounds, and what a failed load keeps.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rocket::tokio;
use rocket::tokio::time::Instant;

use super::schedule::RETRY_MARGIN;
use super::state::MAX_KID_WAITERS;
use super::*;
use crate::oidc::jwks::KeyId;
use crate::oidc::jwks::KeySet;
use crate::oidc::jwks::test_support::key_set;

const INTERVAL: Duration = Duration::from_secs(10);
const TIMING: Timing = Timing {
    min_refetch_interval: INTERVAL,
    kid_wait: Duration::from_millis(5250),
    refresh_wait: Duration::from_secs(12),
};

/// A key source serving the kids it is told to, with a settable delay and failure.
#[derive(Default)]
struct Stub {
    kids: Mutex<Vec<String>>,
    delay: Mutex<Duration>,
    failing: Mutex<bool>,
    loads: AtomicUsize,
}

impl Stub {
    fn publish(&self, kids: &[&str]) {
        *self.kids.lock().unwrap() = kids.iter().map(|k| k.to_string()).collect();
    }
    fn loads(&self) -> usize {
        self.loads.load(Ordering::SeqCst)
    }
}

impl KeySource for Arc<Stub> {
    fn realm(&self) -> &str {
        "stub"
    }

    type Error = &'static str;
    async fn load(&self) -> Result<KeySet, &'static str> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        let delay = *self.delay.lock().unwrap();
        tokio::time::sleep(delay).await;
        if *self.failing.lock().unwrap() {
            return Err("stub is failing");
        }
        let kids = self.kids.lock().unwrap().clone();
        let kids: Vec<&str> = kids.iter().map(String::as_str).collect();
        key_set(&kids).map_err(|_| "no keys")
    }
}

/// A token without a usable `iat`: the store cannot rule its key out.
fn unknown() -> Issued {
    Issued::Unknown
}

/// `actual` is `expected`, up to the timer wheel's millisecond rounding.
fn about(actual: Duration, expected: Duration) -> bool {
    actual >= expected && actual <= expected + Duration::from_millis(5)
}

async fn loaded_store(kids: &[&str]) -> (Arc<Stub>, KeyStore<Arc<Stub>>) {
    let stub = Arc::new(Stub::default());
    stub.publish(kids);
    let store = KeyStore::new(stub.clone(), TIMING, |_| {});
    assert!(store.refresh("startup").await);
    (stub, store)
}

#[tokio::test(start_paused = true)]
async fn nothing_loaded_is_not_loaded_rather_than_an_unknown_kid() {
    let stub = Arc::new(Stub::default());
    *stub.failing.lock().unwrap() = true;
    let store = KeyStore::new(stub.clone(), TIMING, |_| {});
    assert!(!store.refresh("startup").await);
    assert_eq!(store.key_for("k1", unknown).await.unwrap_err(), MissingKey::NotLoaded);
}

#[tokio::test(start_paused = true)]
async fn concurrent_requests_for_a_new_kid_share_one_immediate_refetch() {
    let (stub, store) = loaded_store(&["k1"]).await;
    stub.publish(&["k1", "k2"]);
    let started = Instant::now();
    let lookups = (0..50).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.key_for("k2", unknown).await })
    });
    for lookup in lookups.collect::<Vec<_>>() {
        assert_eq!(lookup.await.unwrap().unwrap().kid, KeyId::from("k2"));
    }
    assert_eq!(stub.loads(), 2, "startup plus one shared refetch");
    assert!(about(started.elapsed(), Duration::ZERO), "no waiting for a slot");
}

#[tokio::test(start_paused = true)]
async fn a_new_kid_inside_the_interval_waits_for_its_end_and_is_then_accepted() {
    let (stub, store) = loaded_store(&["k1"]).await;
    assert_eq!(store.key_for("bogus", unknown).await.unwrap_err(), MissingKey::UnknownKid);
    let spent = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Keycloak rotates a key in while the bogus kid's refetch still holds the slot.
    stub.publish(&["k1", "k3"]);
    assert_eq!(store.key_for("k3", unknown).await.unwrap().kid, KeyId::from("k3"));
    assert!(about(spent.elapsed(), INTERVAL), "served at the end of the interval");
    assert_eq!(stub.loads(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_flood_of_bogus_kids_costs_one_load_per_interval() {
    let (stub, store) = loaded_store(&["k1"]).await;
    let started = Instant::now();
    let flood = (0..300).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100 * i)).await;
            store.key_for(&format!("bogus-{i}"), unknown).await
        })
    });
    for lookup in flood.collect::<Vec<_>>() {
        let missing = lookup.await.unwrap().unwrap_err();
        assert!(matches!(missing, MissingKey::UnknownKid | MissingKey::Pending { .. }));
    }
    let intervals = (started.elapsed().as_secs() / INTERVAL.as_secs()) as usize;
    let refetches = stub.loads() - 1;
    assert!(intervals >= 3, "the flood spans several intervals: {intervals}");
    assert!(refetches <= intervals + 1, "{refetches} refetches in {intervals} intervals");
}

#[tokio::test(start_paused = true)]
async fn a_hanging_provider_holds_an_unknown_kid_only_for_the_wait_bound() {
    let (stub, store) = loaded_store(&["k1"]).await;
    *stub.delay.lock().unwrap() = Duration::from_secs(60);
    let started = Instant::now();
    let waiting = tokio::spawn({
        let store = store.clone();
        async move { store.key_for("new", unknown).await }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(stub.loads(), 2, "the refetch is under way");
    // Known keys are served at once meanwhile: nothing holds a lock across the load.
    let before = Instant::now();
    assert_eq!(store.key_for("k1", unknown).await.unwrap().kid, KeyId::from("k1"));
    assert!(about(before.elapsed(), Duration::ZERO));
    assert_eq!(waiting.await.unwrap().unwrap_err(), MissingKey::UnknownKid);
    assert!(about(started.elapsed(), TIMING.kid_wait), "{:?}", started.elapsed());
}

#[tokio::test(start_paused = true)]
async fn a_failed_load_keeps_the_last_good_keys() {
    let (stub, store) = loaded_store(&["k1"]).await;
    *stub.failing.lock().unwrap() = true;
    assert!(store.refresh("periodic").await, "still loaded");
    assert_eq!(store.key_for("k1", unknown).await.unwrap().kid, KeyId::from("k1"));
    assert_eq!(stub.loads(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_refresh_during_a_running_load_waits_for_it_instead_of_loading_again() {
    let (stub, store) = loaded_store(&["k1"]).await;
    *stub.delay.lock().unwrap() = Duration::from_secs(2);
    stub.publish(&["k2"]);
    let first = tokio::spawn({
        let store = store.clone();
        async move { store.refresh("periodic").await }
    });
    tokio::task::yield_now().await;
    assert!(store.refresh("another").await);
    assert!(first.await.unwrap());
    assert_eq!(stub.loads(), 2, "startup plus one");
    assert!(store.with_keys(|keys| keys.unwrap().contains(&KeyId::from("k2"))));
}

#[tokio::test(start_paused = true)]
async fn the_listener_sees_every_new_key_set() {
    let seen = Arc::new(AtomicUsize::new(0));
    let stub = Arc::new(Stub::default());
    stub.publish(&["k1"]);
    let store = KeyStore::new(stub.clone(), TIMING, {
        let seen = seen.clone();
        move |keys: &KeySet| {
            seen.fetch_add(keys.len(), Ordering::SeqCst);
        }
    });
    store.refresh("startup").await;
    stub.publish(&["k1", "k2"]);
    store.refresh("periodic").await;
    assert_eq!(seen.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn a_flood_of_unknown_kids_parks_only_a_few_waiters() {
    let (stub, store) = loaded_store(&["k1"]).await;
    // A first bogus kid spends the refetch slot, so the flood's refetch is scheduled for the
    // interval's end: without a bound every flood request would wait for it.
    assert_eq!(store.key_for("bogus", unknown).await.unwrap_err(), MissingKey::UnknownKid);
    let started = Instant::now();
    // Keycloak rotates a key in; its first token arrives before the flood.
    stub.publish(&["k1", "k2"]);
    let genuine = tokio::spawn({
        let store = store.clone();
        async move { store.key_for("k2", unknown).await }
    });
    tokio::task::yield_now().await;
    let flood: Vec<_> = (0..500)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.key_for(&format!("bogus-{i}"), unknown).await })
        })
        .collect();
    // Let every flood task run, and the clock move by one millisecond only.
    tokio::time::sleep(Duration::from_millis(1)).await;
    let answered = flood.iter().filter(|lookup| lookup.is_finished()).count();
    assert!(answered >= 500 - MAX_KID_WAITERS, "only {answered} of 500 answered at once");
    // A known kid is served at once meanwhile.
    let before = Instant::now();
    assert_eq!(store.key_for("k1", unknown).await.unwrap().kid, KeyId::from("k1"));
    assert!(about(before.elapsed(), Duration::ZERO));
    // The genuinely new key reaches its waiter at the interval's end.
    assert_eq!(genuine.await.unwrap().unwrap().kid, KeyId::from("k2"));
    assert!(about(started.elapsed(), INTERVAL), "{:?}", started.elapsed());
    for lookup in flood {
        assert!(lookup.await.unwrap().is_err());
    }
    assert_eq!(stub.loads(), 3, "startup, the first bogus kid, one shared refetch");
}

#[tokio::test(start_paused = true)]
async fn a_new_kid_past_the_waiter_bound_is_told_when_to_retry_and_then_served() {
    let (stub, store) = loaded_store(&["k1"]).await;
    assert_eq!(store.key_for("bogus", unknown).await.unwrap_err(), MissingKey::UnknownKid);
    let flood: Vec<_> = (0..MAX_KID_WAITERS)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.key_for(&format!("bogus-{i}"), unknown).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Keycloak rotates a key in while the bogus kids hold every waiter's place.
    stub.publish(&["k1", "k2"]);
    let Err(MissingKey::Pending { retry_after }) = store.key_for("k2", unknown).await else {
        panic!("a new kid past the bound is answered at once");
    };
    assert!(about(retry_after, INTERVAL - Duration::from_secs(2) + RETRY_MARGIN));
    tokio::time::sleep(retry_after).await;
    assert_eq!(
        store.key_for("k2", unknown).await.unwrap().kid,
        KeyId::from("k2"),
        "served on retry"
    );
    for lookup in flood {
        assert_eq!(lookup.await.unwrap().unwrap_err(), MissingKey::UnknownKid);
    }
}

#[tokio::test(start_paused = true)]
async fn a_kid_missing_from_a_load_that_started_after_the_token_was_issued_never_waits() {
    let issued = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (stub, store) = loaded_store(&["k1"]).await;
    let started = Instant::now();
    let old_token = || Issued::By(issued);
    assert_eq!(store.key_for("bogus", old_token).await.unwrap_err(), MissingKey::UnknownKid);
    assert_eq!(stub.loads(), 1, "no refetch for a definitively unknown kid");
    // A token issued after the last load may name a key published since: it gets a refetch.
    let fresh_token = || Issued::By(Instant::now());
    stub.publish(&["k1", "k2"]);
    assert_eq!(store.key_for("k2", fresh_token).await.unwrap().kid, KeyId::from("k2"));
    assert_eq!(stub.loads(), 2);
    assert!(about(started.elapsed(), Duration::ZERO));
}

#[tokio::test(start_paused = true)]
async fn a_token_that_cannot_pass_never_waits_nor_refetches() {
    let (stub, store) = loaded_store(&["k1"]).await;
    let hopeless = || Issued::Hopeless;
    assert_eq!(store.key_for("bogus", hopeless).await.unwrap_err(), MissingKey::UnknownKid);
    assert_eq!(stub.loads(), 1);
    assert_eq!(
        store.key_for("k1", hopeless).await.unwrap().kid,
        KeyId::from("k1"),
        "known keys still served"
    );
}

#[tokio::test(start_paused = true)]
async fn a_withdrawn_kid_published_again_is_not_ruled_out_by_its_old_tokens() {
    let issued = Instant::now();
    let (stub, store) = loaded_store(&["k1", "k2"]).await;
    // Keycloak withdraws k2, then publishes it again: tokens it signed are valid again.
    tokio::time::sleep(Duration::from_secs(1)).await;
    stub.publish(&["k1"]);
    assert!(store.refresh("periodic").await);
    stub.publish(&["k1", "k2"]);
    let old_token = || Issued::By(issued);
    assert_eq!(store.key_for("k2", old_token).await.unwrap().kid, KeyId::from("k2"));
    assert_eq!(stub.loads(), 3, "it got its refetch");
}

#[tokio::test(start_paused = true)]
async fn a_waiter_whose_refetch_failed_is_told_to_retry_rather_than_refused() {
    let (stub, store) = loaded_store(&["k1"]).await;
    *stub.failing.lock().unwrap() = true;
    let Err(MissingKey::Pending { retry_after }) = store.key_for("k2", unknown).await else {
        panic!("Keycloak could not be asked: the key may exist");
    };
    assert_eq!(retry_after, INTERVAL + RETRY_MARGIN);
    *stub.failing.lock().unwrap() = false;
    tokio::time::sleep(INTERVAL).await;
    assert_eq!(store.key_for("k2", unknown).await.unwrap_err(), MissingKey::UnknownKid);
}
