//! The demo's pages agree with each other (issue 25, item 10): an error page shows who is
//! signed in like every other page, the nav marks the current page, and a page has one
//! log-out control, the same everywhere.

use rocket::http::{Accept, Status};
use rocket::local::asynchronous::Client;
use rocket_keycloak_testkit::access_claims;

use crate::flow::sign_in;
use crate::idp_and_app;

/// The HTML of `path` as a browser gets it, with its status.
async fn html(app: &Client, path: &str) -> (Status, String) {
    let response = app.get(path.to_owned()).header(Accept::HTML).dispatch().await;
    (response.status(), response.into_string().await.unwrap_or_default())
}

/// Asserts `page` shows a signed-in alice: her name, one log-out control, no "Log in".
fn assert_signed_in(page: &str, case: &str) {
    assert!(page.contains("id=\"nav-user\">alice Example<"), "{case}: {page}");
    assert!(!page.contains("nav-login") && !page.contains("href=\"/login\""), "{case}: {page}");
    assert_eq!(page.matches("Log out").count(), 1, "{case}: one log-out control: {page}");
    let form = page.split("<form method=\"post\" action=\"/logout\">").nth(1);
    assert!(form.is_some_and(|f| f.contains("id=\"nav-logout\"")), "{case}: a POST: {page}");
}

#[rocket::async_test]
async fn error_pages_show_who_is_signed_in_like_every_other_page() {
    let (idp, key, app) = idp_and_app().await;
    let (status, anonymous) = html(&app, "/nowhere").await;
    assert_eq!(status, Status::NotFound);
    assert!(anonymous.contains("id=\"nav-login\""), "{anonymous}");
    sign_in(&app, &idp, &key, access_claims(&idp, "alice", &["user"])).await;
    let (status, missing) = html(&app, "/nowhere").await;
    assert_eq!(status, Status::NotFound);
    assert_signed_in(&missing, "404");
    // alice is no admin: the 403 page is hers too.
    let (status, forbidden) = html(&app, "/admin-data").await;
    assert_eq!(status, Status::Forbidden);
    assert_signed_in(&forbidden, "403");
    for path in ["/", "/hello"] {
        assert_signed_in(&html(&app, path).await.1, path);
    }
}

#[rocket::async_test]
async fn the_nav_marks_the_page_it_is_on() {
    let (idp, key, app) = idp_and_app().await;
    let (_, home) = html(&app, "/").await;
    assert!(home.contains("<a href=\"/\" aria-current=\"page\">Home</a>"), "{home}");
    sign_in(&app, &idp, &key, access_claims(&idp, "alice", &["user"])).await;
    let (_, hello) = html(&app, "/hello").await;
    assert!(hello.contains("<a href=\"/hello\" aria-current=\"page\">Hello</a>"), "{hello}");
    assert_eq!(hello.matches("aria-current").count(), 1, "{hello}");
    let (_, missing) = html(&app, "/nowhere").await;
    assert!(!missing.contains("aria-current"), "no page of the nav is current: {missing}");
}
