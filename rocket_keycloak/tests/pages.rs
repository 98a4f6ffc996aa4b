//! The refusal pages: the app's own through `ErrorPages`, the built-in one otherwise, the
//! same status and challenge either way.
#![allow(missing_docs)]

use rocket::http::{Accept, ContentType, Status};
use rocket::local::asynchronous::Client;
use rocket::{Build, Rocket, get, routes};
use rocket_keycloak::{AuthenticatedUser, ErrorPage, ErrorPages, OidcFairing};
use rocket_keycloak_testkit::{Idp, TestKey, figment_for};
use serde_json::json;

#[get("/private")]
fn private(user: &AuthenticatedUser) -> String {
    user.sub.to_string()
}

fn app(figment: rocket::figment::Figment) -> Rocket<Build> {
    rocket::custom(figment)
        .attach(OidcFairing)
        .register("/", rocket_keycloak::catchers())
        .mount("/", routes![private])
}

async fn browser_visit(app: &Client) -> (Status, Option<String>, String) {
    let response = app.get("/private").header(Accept::HTML).dispatch().await;
    assert_eq!(response.content_type(), Some(ContentType::HTML));
    let challenge = response.headers().get_one("WWW-Authenticate").map(str::to_owned);
    (response.status(), challenge, response.into_string().await.unwrap())
}

#[rocket::async_test]
async fn an_apps_renderer_draws_the_page_and_the_headers_stay_the_librarys() {
    let idp = Idp::start(&[&TestKey::rsa1()]).await;
    let pages = ErrorPages::new(|_request, page: &ErrorPage| {
        Some(format!("<p class=\"mine\">{}: {}</p>", page.status.code, page.message))
    });
    let rocket = app(figment_for(&idp, json!({}))).manage(pages);
    let app = Client::tracked(rocket).await.unwrap();
    let (status, challenge, body) = browser_visit(&app).await;
    assert_eq!(status, Status::Unauthorized);
    assert_eq!(
        challenge.as_deref(),
        Some(
            "Bearer realm=\"test\", \
             resource_metadata=\"http://localhost:8000/.well-known/oauth-protected-resource\""
        )
    );
    assert_eq!(body, "<p class=\"mine\">401: Authentication is required</p>");
}

#[rocket::async_test]
async fn a_renderer_that_gives_nothing_falls_back_to_the_built_in_page() {
    let idp = Idp::start(&[&TestKey::rsa1()]).await;
    let rocket = app(figment_for(&idp, json!({}))).manage(ErrorPages::new(|_, _| None));
    let app = Client::tracked(rocket).await.unwrap();
    let (status, challenge, body) = browser_visit(&app).await;
    assert_eq!(status, Status::Unauthorized);
    assert!(challenge.is_some());
    assert!(body.contains("<h1>401 · Unauthorized</h1>"), "{body}");
}

#[cfg(feature = "tera")]
mod tera {
    use rocket_dyn_templates::Template;

    use super::*;

    fn with_templates(idp: &Idp, dir: &std::path::Path) -> Rocket<Build> {
        let figment = figment_for(idp, json!({})).merge(("template_dir", dir));
        app(figment).attach(Template::fairing()).manage(ErrorPages::tera("error"))
    }

    #[rocket::async_test]
    async fn the_apps_tera_template_draws_the_page() {
        let idp = Idp::start(&[&TestKey::rsa1()]).await;
        let dir = std::env::temp_dir().join(format!("rk-pages-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("error.html.tera"),
            "<em>{{ code }} {{ title }}: {{ message }}</em>",
        )
        .unwrap();
        let app = Client::tracked(with_templates(&idp, &dir)).await.unwrap();
        let (status, challenge, body) = browser_visit(&app).await;
        assert_eq!(status, Status::Unauthorized);
        assert!(challenge.is_some());
        assert_eq!(body, "<em>401 Unauthorized: Authentication is required</em>");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[rocket::async_test]
    async fn a_missing_template_is_the_built_in_page_never_a_500() {
        let idp = Idp::start(&[&TestKey::rsa1()]).await;
        let dir = std::env::temp_dir().join(format!("rk-no-pages-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let app = Client::tracked(with_templates(&idp, &dir)).await.unwrap();
        let (status, challenge, body) = browser_visit(&app).await;
        assert_eq!(status, Status::Unauthorized);
        assert!(challenge.is_some(), "the challenge survives a missing template");
        assert!(body.contains("<h1>401 · Unauthorized</h1>"), "{body}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
