//! Browser sign-in with the library's built-in pages: `/` is public, `/hello` needs a signed-in
//! browser (anonymous visitors are sent to Keycloak and back), and `POST /logout` signs out.
//!
//! ```sh
//! OIDC_ISSUER=http://localhost:8080/realms/demo OIDC_CLIENT_ID=demo-app \
//!   OIDC_CLIENT_SECRET=demo-app-secret OIDC_APP_URL=http://localhost:8000 \
//!   cargo run --example sign_in
//! ```
use rocket::figment::Figment;
use rocket::response::content::RawHtml;
use rocket::{Build, Rocket, get, launch, routes};
use rocket_keycloak::{MaybeUser, OidcFairing, PageUser, RedactingLogger, SignIn};

#[get("/")]
fn home(user: MaybeUser) -> RawHtml<String> {
    match user.0 {
        Some(user) => {
            RawHtml(format!("Signed in as {}. <a href=\"/hello\">Hello</a>", user.display_name()))
        }
        None => RawHtml("<a href=\"/login\">Sign in</a>".into()),
    }
}

#[get("/hello")]
fn hello(user: PageUser) -> RawHtml<String> {
    let csrf = user.csrf_token().unwrap_or_default();
    RawHtml(format!(
        "<p>Hello, {}!</p><form method=\"post\" action=\"/logout\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><button>Log out</button></form>",
        user.display_name()
    ))
}

/// The app for any configuration (the tests pass their own).
pub fn app(figment: Figment) -> Rocket<Build> {
    rocket::custom(figment)
        .attach(OidcFairing)
        .attach(SignIn::new().after_login("/hello"))
        .register("/", rocket_keycloak::catchers())
        .mount("/", routes![home, hello])
}

#[launch]
fn rocket() -> _ {
    // Rocket would log the callback's `code` and `state`; SignIn refuses to launch without it.
    RedactingLogger::new(log::LevelFilter::Info).install();
    app(rocket_keycloak::figment())
}
