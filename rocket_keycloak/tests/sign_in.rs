//! The `sign_in` example and `SignIn`'s settings: where the routes are mounted and where the
//! browser lands, with the built-in pages (no templates anywhere).
#![allow(missing_docs)]

#[path = "../examples/sign_in.rs"]
#[allow(dead_code)] // the example's `main`
mod sign_in;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rocket::http::{Accept, ContentType, Status};
use rocket::local::asynchronous::Client;
use rocket_keycloak::{Session, SessionId, SignIn, StoreError, Subject};
use rocket_keycloak_testkit::{
    Idp, TestKey, access_claims, figment_for, id_claims, mint, token_response,
};
use serde_json::json;

fn query(location: &str) -> HashMap<String, String> {
    url::Url::parse(location).unwrap().query_pairs().into_owned().collect()
}

#[rocket::async_test]
async fn a_browser_signs_in_and_lands_where_the_app_said() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let app = Client::tracked(sign_in::app(figment_for(&idp, json!({})))).await.unwrap();
    // Anonymous on a page: sent to the sign-in, which sends it to Keycloak.
    let response = app.get("/hello").header(Accept::HTML).dispatch().await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(response.headers().get_one("Location"), Some("/login?next=%2Fhello"));
    // A sign-in started without `next` lands on `after_login`.
    let response = app.get("/login").dispatch().await;
    let location = response.headers().get_one("Location").unwrap().to_owned();
    let q = query(&location);
    assert_eq!(q["redirect_uri"], "http://localhost:8000/authorize");
    let id = mint(&key, &id_claims(&idp, "alice", &q["nonce"]));
    let access = mint(&key, &access_claims(&idp, "alice", &["user"]));
    idp.expect_code("code-1", token_response(&access, Some(&id), Some("refresh")));
    let uri = format!("/authorize?state={}&code=code-1", q["state"]);
    let response = app.get(uri).dispatch().await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(response.headers().get_one("Location"), Some("/hello"));
    // The browser keeps the session cookie as long as the server keeps the session (10 h),
    // not Rocket's week.
    let session = response.cookies().get("kc_session").expect("the session cookie").clone();
    assert_eq!(session.max_age(), Some(rocket::time::Duration::hours(10)));
    let page = app.get("/hello").header(Accept::HTML).dispatch().await;
    assert_eq!(page.status(), Status::Ok);
    assert!(page.into_string().await.unwrap().contains("Hello, alice Example!"));
}

async fn mounted_at_auth(idp: &Idp) -> Client {
    let sign_in = SignIn::new()
        .mount_at("/auth")
        .after_login("/hello")
        .after_logout("/bye")
        .after_refusal("/start");
    let rocket = rocket::custom(figment_for(idp, json!({})))
        .attach(rocket_keycloak::OidcFairing)
        .attach(sign_in)
        .register("/", rocket_keycloak::catchers());
    Client::tracked(rocket).await.unwrap()
}

#[rocket::async_test]
async fn the_routes_move_with_mount_at_and_the_redirect_uri_with_them() {
    let idp = Idp::start(&[&TestKey::rsa1()]).await;
    let app = mounted_at_auth(&idp).await;
    assert_eq!(app.get("/login").dispatch().await.status(), Status::NotFound);
    let response = app.get("/auth/login?next=/report").dispatch().await;
    assert_eq!(response.status(), Status::SeeOther);
    let q = query(response.headers().get_one("Location").unwrap());
    assert_eq!(q["redirect_uri"], "http://localhost:8000/auth/authorize");
    let cookie = response.cookies().iter().next().expect("the login cookie").clone();
    assert_eq!(cookie.path(), Some("/auth/authorize"), "sent to the callback only");
}

#[rocket::async_test]
async fn a_refused_sign_in_shows_the_built_in_page_with_the_apps_links() {
    let idp = Idp::start(&[&TestKey::rsa1()]).await;
    let app = mounted_at_auth(&idp).await;
    let response =
        app.get("/auth/authorize?state=unknown&code=x").header(Accept::HTML).dispatch().await;
    assert_eq!(response.status(), Status::BadRequest);
    assert_eq!(response.content_type(), Some(ContentType::HTML));
    let page = response.into_string().await.unwrap();
    assert!(page.contains("unknown, expired or already used"), "{page}");
    assert!(page.contains("<a href=\"/start\">Back</a>"), "{page}");
    assert!(page.contains("<a href=\"/auth/login?next=%2F\">Sign in</a>"), "{page}");
}

#[rocket::async_test]
async fn settings_that_are_not_local_paths_fail_launch() {
    let idp = Idp::start(&[&TestKey::rsa1()]).await;
    for (label, sign_in) in [
        ("relative mount point", SignIn::new().mount_at("auth")),
        ("mount point with a query", SignIn::new().mount_at("/auth?x=1")),
        ("absolute landing", SignIn::new().after_login("https://evil.example/")),
        ("protocol-relative logout", SignIn::new().after_logout("//evil.example")),
        ("backslash refusal", SignIn::new().after_refusal("/\\evil.example")),
    ] {
        let rocket = rocket::custom(figment_for(&idp, json!({})))
            .attach(rocket_keycloak::OidcFairing)
            .attach(sign_in);
        let Err(error) = Client::tracked(rocket).await else {
            panic!("{label} must fail launch");
        };
        // Inspected, so Rocket does not panic on dropping it.
        assert!(matches!(error.kind(), rocket::error::ErrorKind::FailedFairings(_)), "{label}");
    }
}

#[rocket::async_test]
async fn a_callback_reads_at_most_sixteen_other_login_cookies() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let app = Client::untracked(sign_in::app(figment_for(&idp, json!({})))).await.unwrap();
    let response = app.get("/login").dispatch().await;
    let q = query(response.headers().get_one("Location").unwrap());
    let login_cookie = response.cookies().iter().next().unwrap().clone();
    let id = mint(&key, &id_claims(&idp, "alice", &q["nonce"]));
    let access = mint(&key, &access_claims(&idp, "alice", &["user"]));
    idp.expect_code("code-2", token_response(&access, Some(&id), None));
    // A browser stuffed with login cookies nobody can read.
    let mut request = app.get(format!("/authorize?state={}&code=code-2", q["state"])).cookie(
        rocket::http::Cookie::new(login_cookie.name().to_owned(), login_cookie.value().to_owned()),
    );
    for i in 0..200 {
        request = request.cookie(rocket::http::Cookie::new(format!("kc_login_junk{i}"), "x"));
    }
    let response = request.dispatch().await;
    assert_eq!(response.status(), Status::SeeOther, "the sign-in itself goes through");
    let removals =
        response.headers().get("Set-Cookie").filter(|c| c.starts_with("kc_login_junk")).count();
    assert!((1..=16).contains(&removals), "{removals} junk login cookies answered");
}

#[rocket::async_test]
async fn on_https_the_session_cookie_is_a_host_cookie_and_only_that_name_is_read() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let figment = figment_for(&idp, json!({"app_url": "https://app.example"}));
    // Untracked: each request carries exactly the cookies this test gives it.
    let app = Client::untracked(sign_in::app(figment)).await.unwrap();
    let login = app.get("/login").dispatch().await;
    let location = login.headers().get_one("Location").unwrap().to_owned();
    let login_cookies: Vec<_> = login.cookies().iter().cloned().collect();
    let q = query(&location);
    let id = mint(&key, &id_claims(&idp, "alice", &q["nonce"]));
    let access = mint(&key, &access_claims(&idp, "alice", &["user"]));
    idp.expect_code("code-1", token_response(&access, Some(&id), Some("refresh")));
    let uri = format!("/authorize?state={}&code=code-1", q["state"]);
    let response = app.get(uri).cookies(login_cookies).dispatch().await;
    assert_eq!(response.status(), Status::SeeOther);
    // A browser takes a `__Host-` cookie only if it is Secure, for /, without Domain: no
    // sibling subdomain and no http response can plant or overwrite it.
    assert!(response.cookies().get("kc_session").is_none());
    let cookie = response.cookies().get("__Host-kc_session").expect("the session cookie").clone();
    assert_eq!(cookie.secure(), Some(true));
    assert_eq!(cookie.path(), Some("/"));
    assert_eq!(cookie.domain(), None);
    assert_eq!(rocket_keycloak::session_cookie_name(true), cookie.name());
    let session = response.cookies().get_private("__Host-kc_session").unwrap().value().to_owned();
    let hello = |name: &'static str| {
        let cookie = rocket::http::Cookie::new(name, session.clone());
        app.get("/hello").header(Accept::HTML).private_cookie(cookie).dispatch()
    };
    assert_eq!(hello("__Host-kc_session").await.status(), Status::Ok);
    // The same session under the unprefixed name (as a subdomain could set it) is no session.
    assert_eq!(hello("kc_session").await.status(), Status::SeeOther, "sent to the sign-in");
}

/// The memory store, except that ending sessions by `sid` fails once when told to: the
/// store going away between the two steps of a back-channel logout.
struct FlakyStore {
    inner: rocket_keycloak::MemoryStore,
    fail_next: Arc<AtomicBool>,
}

#[rocket::async_trait]
impl rocket_keycloak::SessionStore for FlakyStore {
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
        self.inner.remove(id).await
    }
    async fn remove_at_revision(&self, id: &SessionId, revision: u64) -> Result<bool, StoreError> {
        self.inner.remove_at_revision(id, revision).await
    }
    async fn remove_by_sid(&self, sid: &str) -> Result<usize, StoreError> {
        if self.fail_next.swap(false, Ordering::SeqCst) {
            return Err(StoreError::new("the store went away"));
        }
        self.inner.remove_by_sid(sid).await
    }
    async fn remove_by_sub(&self, sub: &Subject) -> Result<usize, StoreError> {
        self.inner.remove_by_sub(sub).await
    }
    async fn lock_refresh(
        &self,
        id: &SessionId,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.inner.lock_refresh(id, owner, ttl).await
    }
    async fn unlock_refresh(&self, id: &SessionId, owner: &str) -> Result<(), StoreError> {
        self.inner.unlock_refresh(id, owner).await
    }
    async fn first_use_of_logout_token(&self, jti: &str, until: u64) -> Result<bool, StoreError> {
        self.inner.first_use_of_logout_token(jti, until).await
    }
}

#[rocket::async_test]
async fn a_back_channel_logout_that_failed_halfway_ends_the_sessions_when_keycloak_retries() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let fail_next = Arc::new(AtomicBool::new(false));
    let store = FlakyStore {
        inner: rocket_keycloak::MemoryStore::new(1000, Duration::from_secs(3600)),
        fail_next: fail_next.clone(),
    };
    let rocket =
        sign_in::app(figment_for(&idp, json!({}))).manage(rocket_keycloak::Sessions::new(store));
    let app = Client::tracked(rocket).await.unwrap();
    let q = query(app.get("/login").dispatch().await.headers().get_one("Location").unwrap());
    let id = mint(&key, &id_claims(&idp, "alice", &q["nonce"]));
    let access = mint(&key, &access_claims(&idp, "alice", &["user"]));
    idp.expect_code("code-1", token_response(&access, Some(&id), Some("refresh")));
    let uri = format!("/authorize?state={}&code=code-1", q["state"]);
    assert_eq!(app.get(uri).dispatch().await.status(), Status::SeeOther);
    let hello = || app.get("/hello").header(Accept::HTML).dispatch();
    assert_eq!(hello().await.status(), Status::Ok);

    let now = rocket_keycloak_testkit::now();
    let logout = mint(
        &key,
        &json!({
            "iss": idp.issuer(), "aud": "demo-app", "iat": now, "exp": now + 120, "jti": "lt-1",
            "sub": "sub-alice", "sid": "sid-alice", "typ": "Logout",
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
        }),
    );
    let deliver = || {
        app.post("/backchannel-logout")
            .header(ContentType::Form)
            .body(format!("logout_token={logout}"))
            .dispatch()
    };
    // The store fails while the sessions end: Keycloak is told to try again ...
    fail_next.store(true, Ordering::SeqCst);
    assert_eq!(deliver().await.status(), Status::ServiceUnavailable);
    assert_eq!(hello().await.status(), Status::Ok, "nothing ended yet");
    // ... and its retry is not a replay: it ends the session.
    assert_eq!(deliver().await.status(), Status::Ok);
    assert_eq!(hello().await.status(), Status::SeeOther, "signed out");
    // A true replay, after it was done, is refused.
    assert_eq!(deliver().await.status(), Status::BadRequest);
}
