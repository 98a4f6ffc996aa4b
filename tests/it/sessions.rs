//! The session layer under stress: when a refresh happens, what ends a session and what
//! does not, a logout racing a refresh, a refresh racing another instance's, and
//! back-channel logout tokens that name only a `sid`. (The store's bounds and eviction are unit-tested in `rocket_keycloak/src/session/memory.rs`.)

use std::sync::Arc;
use std::time::Duration;

use rocket::http::Status;
use rocket::local::asynchronous::Client;
use rocket::tokio::sync::Notify;
use rocket_keycloak::{
    MemoryStore, SESSION_COOKIE, Session, SessionId, SessionStore, Sessions, StoreError, Subject,
};
use rocket_keycloak_testkit::{
    Idp, Mode, TestKey, access_claims, figment_for, mint, now, token_response,
};
use serde_json::{Value, json};

use crate::flow::sign_in;
use crate::{get_with_token, spawn_app_with};

/// An app with a 5 s leeway, signed in as alice with an access token that needs a refresh
/// now (it expires within the leeway); returns the refresh token.
async fn signed_in_needing_refresh(
    idp: &Idp,
    key: &TestKey,
    exp_from_now: i64,
) -> (Client, String) {
    let app = spawn_app_with(idp, json!({"leeway": 5})).await;
    let mut access = access_claims(idp, "alice", &["user"]);
    access["exp"] = json!(now() as i64 + exp_from_now);
    access["iat"] = json!(now() - 300);
    let refresh = sign_in(&app, idp, key, access).await;
    (app, refresh)
}

async fn me_status(app: &Client) -> Status {
    app.get("/me").dispatch().await.status()
}

async fn backchannel_logout(app: &Client, key: &TestKey, claims: Value) -> Status {
    crate::backchannel(app, &mint(key, &claims)).await
}

fn logout_claims(idp: &Idp, jti: &str) -> Value {
    json!({
        "iss": idp.issuer(), "aud": "demo-app", "iat": now(), "exp": now() + 120, "jti": jti,
        "sub": "sub-alice", "sid": "sid-alice", "typ": "Logout",
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
    })
}

#[rocket::async_test]
async fn tokens_that_live_shorter_than_the_leeway_are_not_refreshed_on_every_request() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    // The default 60 s leeway, and 10 s tokens like Keycloak's `demo-app-short`.
    let app = spawn_app_with(&idp, json!({})).await;
    let mut access = access_claims(&idp, "alice", &["user"]);
    access["iat"] = json!(now());
    access["exp"] = json!(now() + 10);
    sign_in(&app, &idp, &key, access).await;
    let before = idp.token_requests();
    for _ in 0..3 {
        assert_eq!(me_status(&app).await, Status::Ok);
    }
    assert_eq!(idp.token_requests(), before, "no refresh while most of the lifetime is left");
}

#[rocket::async_test]
async fn a_refresh_that_finishes_after_a_logout_does_not_resurrect_the_session() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let (app, refresh) = signed_in_needing_refresh(&idp, &key, 1).await;
    let fresh = mint(&key, &access_claims(&idp, "alice", &["user"]));
    idp.expect_refresh(&refresh, token_response(&fresh, None, Some(&refresh)));
    // Keycloak answers the refresh slowly; the back-channel logout lands meanwhile.
    idp.set_mode(Mode::Delay(Duration::from_millis(1500)));
    let refreshing = me_status(&app);
    let logout = async {
        rocket::tokio::time::sleep(Duration::from_millis(300)).await;
        backchannel_logout(&app, &key, logout_claims(&idp, "lt-race")).await
    };
    let (during, logout) = rocket::tokio::join!(refreshing, logout);
    assert_eq!(logout, Status::Ok);
    assert_eq!(idp.token_requests(), 2, "the refresh did reach Keycloak");
    assert_eq!(during, Status::Unauthorized, "the refresh lost to the logout");
    idp.set_mode(Mode::Normal);
    assert_eq!(me_status(&app).await, Status::Unauthorized, "and the session stays ended");
}

#[rocket::async_test]
async fn a_refreshed_token_from_a_key_not_yet_published_keeps_the_session() {
    let (key, next_key) = (TestKey::rsa1(), TestKey::rsa2());
    let idp = Idp::start(&[&key]).await;
    let (app, refresh) = signed_in_needing_refresh(&idp, &key, -2).await;
    // A rotation race: Keycloak signs with a key its JWKS does not list yet.
    let unpublished = mint(&next_key, &access_claims(&idp, "alice", &["user"]));
    idp.expect_refresh(&refresh, token_response(&unpublished, None, Some(&refresh)));
    let response = app.get("/me").dispatch().await;
    assert_eq!(response.status(), Status::ServiceUnavailable);
    assert!(response.headers().get_one("Retry-After").is_some());
    // The session survived: the next refresh that works serves it.
    let fresh = mint(&key, &access_claims(&idp, "alice", &["user", "admin"]));
    idp.expect_refresh(&refresh, token_response(&fresh, None, Some(&refresh)));
    let me: Value = app.get("/me").dispatch().await.into_json().await.unwrap();
    assert_eq!(me["realm_roles"], json!(["user", "admin"]));
}

#[rocket::async_test]
async fn clock_skew_on_the_refreshed_token_keeps_the_session() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let (app, refresh) = signed_in_needing_refresh(&idp, &key, -2).await;
    for (claim, value) in [("iat", now() + 120), ("nbf", now() + 120), ("exp", now() - 60)] {
        let mut skewed = access_claims(&idp, "alice", &["user"]);
        skewed[claim] = json!(value);
        idp.expect_refresh(&refresh, token_response(&mint(&key, &skewed), None, Some(&refresh)));
        assert_eq!(me_status(&app).await, Status::ServiceUnavailable, "{claim}");
    }
    let fresh = mint(&key, &access_claims(&idp, "alice", &["user"]));
    idp.expect_refresh(&refresh, token_response(&fresh, None, Some(&refresh)));
    assert_eq!(me_status(&app).await, Status::Ok, "the session survived every skew");
}

#[rocket::async_test]
async fn a_forged_refreshed_token_ends_the_session() {
    let (key, forger) = (TestKey::rsa1(), TestKey::rsa2());
    let idp = Idp::start(&[&key]).await;
    let (app, refresh) = signed_in_needing_refresh(&idp, &key, -2).await;
    // Signed by another key under the published kid: a permanent refusal.
    let header = json!({"alg": "RS256", "kid": key.kid, "typ": "JWT"});
    let forged = rocket_keycloak_testkit::mint_with_header(
        &forger,
        &header,
        &access_claims(&idp, "alice", &["user"]),
    );
    assert_refresh_ends_the_session(&app, &idp, &key, &refresh, &forged).await;
}

#[rocket::async_test]
async fn a_refresh_for_another_subject_ends_the_session() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let (app, refresh) = signed_in_needing_refresh(&idp, &key, -2).await;
    let mallory = mint(&key, &access_claims(&idp, "mallory", &["user", "admin"]));
    assert_refresh_ends_the_session(&app, &idp, &key, &refresh, &mallory).await;
}

/// A refresh answering `access` ends the session for good: a later good refresh finds none.
async fn assert_refresh_ends_the_session(
    app: &Client,
    idp: &Idp,
    key: &TestKey,
    refresh: &str,
    access: &str,
) {
    idp.expect_refresh(refresh, token_response(access, None, Some(refresh)));
    assert_eq!(me_status(app).await, Status::Unauthorized);
    let fresh = mint(key, &access_claims(idp, "alice", &["user"]));
    idp.expect_refresh(refresh, token_response(&fresh, None, Some(refresh)));
    assert_eq!(me_status(app).await, Status::Unauthorized, "ended for good");
}

#[rocket::async_test]
async fn a_logout_token_with_a_sid_and_no_sub_ends_the_session() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let app = spawn_app_with(&idp, json!({})).await;
    sign_in(&app, &idp, &key, access_claims(&idp, "alice", &["user"])).await;
    let mut claims = logout_claims(&idp, "lt-sid-only");
    claims.as_object_mut().unwrap().remove("sub");
    assert_eq!(backchannel_logout(&app, &key, claims).await, Status::Ok);
    assert_eq!(me_status(&app).await, Status::Unauthorized);
}

#[rocket::async_test]
async fn access_tokens_without_sub_are_still_refused() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let app = spawn_app_with(&idp, json!({})).await;
    let mut access = access_claims(&idp, "alice", &["user"]);
    access.as_object_mut().unwrap().remove("sub");
    crate::assert_invalid_token(get_with_token(&app, "/secure-data", &mint(&key, &access)).await)
        .await;
}

#[rocket::async_test]
async fn a_logout_token_that_cannot_be_checked_yet_is_a_503_not_a_refusal() {
    let key = TestKey::rsa1();
    let idp = Idp::start_down(&[&key]).await; // no keys loaded
    let app = spawn_app_with(&idp, json!({})).await;
    let status = backchannel_logout(&app, &key, logout_claims(&idp, "lt-early")).await;
    assert_eq!(status, Status::ServiceUnavailable);
}

/// One memory store shared by two app instances in one process, as a shared store would be.
/// Its refresh lock always says yes, as an expired lock does; `gate` holds every removal
/// until the test opens it.
struct SharedStore {
    inner: Arc<MemoryStore>,
    gate: Option<Arc<Gate>>,
}

#[derive(Default)]
struct Gate {
    reached: Notify,
    open: Notify,
}

impl SharedStore {
    async fn pass_gate(&self) {
        if let Some(gate) = &self.gate {
            gate.reached.notify_one();
            gate.open.notified().await;
        }
    }
}

#[rocket::async_trait]
impl SessionStore for SharedStore {
    async fn get(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        self.inner.get(id).await
    }
    async fn put(&self, id: &SessionId, session: Session) -> Result<(), StoreError> {
        self.inner.put(id, session).await
    }
    async fn update(&self, id: &SessionId, session: Session) -> Result<bool, StoreError> {
        self.inner.update(id, session).await
    }
    async fn remove(&self, id: &SessionId) -> Result<(), StoreError> {
        self.pass_gate().await;
        self.inner.remove(id).await
    }
    async fn remove_at_revision(&self, id: &SessionId, rev: u64) -> Result<bool, StoreError> {
        self.pass_gate().await;
        self.inner.remove_at_revision(id, rev).await
    }
    async fn remove_by_sid(&self, sid: &str) -> Result<usize, StoreError> {
        self.inner.remove_by_sid(sid).await
    }
    async fn remove_by_sub(&self, sub: &Subject) -> Result<usize, StoreError> {
        self.inner.remove_by_sub(sub).await
    }
    async fn lock_refresh(&self, id: &SessionId, owner: &str, ttl: Duration) -> StoreResult {
        self.inner.lock_refresh(id, owner, ttl).await
    }
    async fn unlock_refresh(&self, id: &SessionId, owner: &str) -> Result<(), StoreError> {
        self.inner.unlock_refresh(id, owner).await
    }
    async fn first_use_of_logout_token(&self, jti: &str, until: u64) -> StoreResult {
        self.inner.first_use_of_logout_token(jti, until).await
    }
}

type StoreResult = Result<bool, StoreError>;

/// A base64 secret key shared by the two instances (each decrypts the other's cookie).
const SECRET_KEY: &str = "c2Vzc2lvbnMtcmFjZS1zZWNyZXQta2V5LTMyLWJ5dGU=";

#[rocket::async_test]
async fn a_late_losers_failed_refresh_does_not_end_the_session_the_winner_refreshed() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let (store, gate) = (Arc::new(MemoryStore::default()), Arc::new(Gate::default()));
    let instance = |gate: Option<Arc<Gate>>| {
        let figment = figment_for(&idp, json!({"leeway": 5})).merge(("secret_key", SECRET_KEY));
        let sessions = Sessions::new(SharedStore { inner: store.clone(), gate });
        Client::tracked(rocket_keycloak_demo::rocket_with(figment).manage(sessions))
    };
    let (loser, winner) =
        (instance(Some(gate.clone())).await.unwrap(), instance(None).await.unwrap());
    let mut access = access_claims(&idp, "alice", &["user"]);
    access["iat"] = json!(now() - 300);
    access["exp"] = json!(now() + 1); // inside the leeway: both instances refresh
    let refresh = sign_in(&loser, &idp, &key, access).await;
    let cookie = loser.cookies().get(SESSION_COOKIE).expect("signed in").clone().into_owned();
    // The loser's refresh token was already rotated away: Keycloak says `invalid_grant` (no
    // answer is expected for it yet). It then stops before ending the session ...
    let losing = loser.get("/me").dispatch();
    let winning = async {
        gate.reached.notified().await;
        // ... while the winner refreshes the same session with the same token, and wins.
        let fresh = mint(&key, &access_claims(&idp, "alice", &["user", "admin"]));
        idp.expect_refresh(&refresh, token_response(&fresh, None, Some("rotated")));
        let status = winner.get("/me").cookie(cookie.clone()).dispatch().await.status();
        gate.open.notify_one();
        status
    };
    let (lost, won) = rocket::tokio::join!(losing, winning);
    assert_eq!(won, Status::Ok, "the winner refreshed the session");
    assert_eq!(lost.status(), Status::Ok, "the loser serves the winner's session");
    let me = winner.get("/me").cookie(cookie).dispatch().await;
    assert_eq!(me.status(), Status::Ok, "the refreshed session lives on");
    let me: Value = me.into_json().await.unwrap();
    assert_eq!(me["realm_roles"], json!(["user", "admin"]));
}
