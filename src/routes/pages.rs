//! HTML pages of the demo app: home, the guide's `/hello`, and the logout page.

use rocket::{Route, get, routes};
use rocket_dyn_templates::{Template, context};

use crate::guards::{MaybeUser, PageUser};

/// The routes of this module.
pub fn routes() -> Vec<Route> {
    routes![home, hello, logout_page]
}

#[get("/")]
fn home(user: MaybeUser) -> Template {
    let user = user.0;
    Template::render(
        "home",
        context! {
            title: "Home",
            user: user.as_ref().map(|u| u.identity_view()),
            csrf: user.as_ref().and_then(|u| u.csrf_token().map(str::to_owned)),
        },
    )
}

#[get("/hello")]
fn hello(user: PageUser) -> Template {
    Template::render(
        "hello",
        context! {
            title: "Hello",
            user: user.identity_view(),
            csrf: user.csrf_token(),
        },
    )
}

#[get("/logout")]
fn logout_page(user: MaybeUser) -> Template {
    let user = user.0;
    Template::render(
        "logout",
        context! {
            title: "Log out",
            user: user.as_ref().map(|u| u.identity_view()),
            csrf: user.as_ref().and_then(|u| u.csrf_token().map(str::to_owned)),
        },
    )
}
