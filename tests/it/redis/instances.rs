//! Two app instances on one Redis: a session made on one works on the other, both logouts
//! reach both, concurrent requests on both refresh once, Redis going away and coming back,
//! and a DPoP proof spent on one is refused on the other.
//!
//! Every test here is `#[ignore = "needs redis-server: run scripts/test"]`.

use std::sync::Arc;
use std::time::Duration;

use rocket::http::{ContentType, Cookie, Header, Status};
use rocket::local::asynchronous::Client;
use rocket_keycloak_testkit::dpop::{dpop_access_claims, dpop_proof};
use rocket_keycloak_testkit::{Idp, TestKey, access_claims, mint, now, token_response};
use serde_json::{Value, json};

use super::{RedisServer, SECRET_KEY};
use crate::flow::sign_in;
use crate::{backchannel, figment_for, get_with_token};

/// Where the DPoP proofs point.
const SECURE_DATA: &str = "http://localhost:8000/secure-data";

/// An app instance against `idp` keeping its sessions in the Redis setup at `url`.
pub(super) async fn instance(idp: &Idp, url: &str, overrides: Value) -> Client {
    let mut oidc = json!({"session_store": url});
    for (k, v) in overrides.as_object().unwrap() {
        oidc[k] = v.clone();
    }
    let figment = figment_for(idp, oidc).merge(("secret_key", SECRET_KEY));
    Client::tracked(rocket_keycloak_demo::rocket_with(figment)).await.expect("app launches")
}

/// The session cookie as the browser holds it (encrypted by the app).
pub(super) fn session_cookie(app: &Client) -> Cookie<'static> {
    app.cookies().get("kc_session").expect("signed in").clone().into_owned()
}

pub(super) async fn me_with(app: &Client, cookie: &Cookie<'static>) -> Status {
    app.get("/me").cookie(cookie.clone()).dispatch().await.status()
}

pub(super) fn logout_token(idp: &Idp, key: &TestKey, jti: &str) -> String {
    mint(
        key,
        &json!({
            "iss": idp.issuer(), "aud": "demo-app", "iat": now(), "exp": now() + 120, "jti": jti,
            "sub": "sub-alice", "sid": "sid-alice", "typ": "Logout",
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
        }),
    )
}

/// The IdP, two instances on the Redis setup at `url`, and alice signed in through the
/// first; returns her session cookie too.
pub(super) async fn two_instances_on(
    url: &str,
    access: impl FnOnce(&Idp) -> Value,
) -> (Arc<Idp>, TestKey, Client, Client, Cookie<'static>, String) {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let a = instance(&idp, url, json!({})).await;
    let b = instance(&idp, url, json!({})).await;
    let refresh = sign_in(&a, &idp, &key, access(&idp)).await;
    let cookie = session_cookie(&a);
    (idp, key, a, b, cookie, refresh)
}

/// [`two_instances_on`] a redis-server of its own.
async fn two_instances_signed_in(
    access: impl FnOnce(&Idp) -> Value,
) -> (RedisServer, Arc<Idp>, TestKey, Client, Client, Cookie<'static>, String) {
    let redis = RedisServer::start();
    let (idp, key, a, b, cookie, refresh) = two_instances_on(&redis.url(), access).await;
    (redis, idp, key, a, b, cookie, refresh)
}

pub(super) fn alice(idp: &Idp) -> Value {
    access_claims(idp, "alice", &["user"])
}

#[rocket::async_test]
#[ignore = "needs redis-server: run scripts/test"]
async fn a_session_made_on_one_instance_works_on_the_other() {
    let (redis, idp, _key, _a, b, cookie, _) = two_instances_signed_in(alice).await;
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
    let redis = RedisServer::start();
    logouts_reach_both(&redis.url()).await;
}

/// Both logouts, made on one instance on the setup at `url`, end the session on the other.
pub(super) async fn logouts_reach_both(url: &str) {
    let (idp, key, a, b, cookie, _) = two_instances_on(url, alice).await;
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
    refresh_once(&redis.url()).await;
}

/// 20 requests after expiry on two instances on the setup at `url`: one refresh grant.
pub(super) async fn refresh_once(url: &str) {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let leeway = json!({"leeway": 5});
    let (a, b) = (instance(&idp, url, leeway.clone()).await, instance(&idp, url, leeway).await);
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
    let (redis, idp, key, app, _b, cookie, _) = two_instances_signed_in(alice).await;
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

#[rocket::async_test]
#[ignore = "needs redis-server: run scripts/test"]
async fn a_dpop_proof_spent_on_one_instance_is_refused_on_the_other() {
    let redis = RedisServer::start();
    let (_idp, a, token, client_key) = dpop_replay_refused(&redis.url()).await;
    // With Redis gone, a proof cannot be spent: refused with 503, never accepted twice.
    drop(redis);
    let response = with_fresh_proof(&a, &token, &client_key).await;
    assert_eq!(response, Status::ServiceUnavailable);
}

/// A DPoP proof spent on one instance on the setup at `url` is refused on the other; returns
/// the IdP, the first instance, the token and the client's key.
pub(super) async fn dpop_replay_refused(url: &str) -> (Arc<Idp>, Client, String, TestKey) {
    let (signer, client_key) = (TestKey::rsa1(), TestKey::ec1());
    let idp = Idp::start(&[&signer]).await;
    let (a, b) = (instance(&idp, url, json!({})).await, instance(&idp, url, json!({})).await);
    let token = mint(&signer, &dpop_access_claims(&idp, "alice", &["user"], &client_key));
    let send = crate::dpop::dpop_get;
    let proof = dpop_proof(&client_key, "GET", SECURE_DATA, Some(&token));
    assert_eq!(send(&a, &token, &[&proof]).await.status(), Status::Ok);
    let replay = send(&b, &token, &[&proof]).await;
    assert_eq!(replay.status(), Status::Unauthorized, "replayed to the other instance");
    let challenge = replay.headers().get_one("WWW-Authenticate").unwrap_or_default().to_owned();
    assert!(challenge.contains("invalid_dpop_proof"), "{challenge}");
    assert_eq!(with_fresh_proof(&b, &token, &client_key).await, Status::Ok);
    (idp, a, token, client_key)
}

/// `/secure-data` on `app` with `token` and a new proof by `client_key`.
pub(super) async fn with_fresh_proof(app: &Client, token: &str, client_key: &TestKey) -> Status {
    let proof = dpop_proof(client_key, "GET", SECURE_DATA, Some(token));
    crate::dpop::dpop_get(app, token, &[&proof]).await.status()
}
