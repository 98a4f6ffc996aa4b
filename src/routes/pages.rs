//! HTML pages of the demo app: home, the guide's `/hello`, and the logout page.

use rocket::{Route, get, routes};
use rocket_dyn_templates::{Template, context};

use crate::guards::{MaybeUser, PageUser};

/// The routes of this module.
pub fn routes() -> Vec<Route> {
    routes![home, hello, logout_page]
}

/// Renders `template` for a signed-in user or anyone (`user` and `csrf` absent then).
fn page(template: &'static str, title: &str, user: Option<&PageUser>) -> Template {
    Template::render(
        template,
        context! {
            title: title,
            user: user.map(PageUser::identity_view),
            csrf: user.and_then(PageUser::csrf_token),
        },
    )
}

#[get("/")]
fn home(user: MaybeUser) -> Template {
    page("home", "Home", user.0.as_ref())
}

#[get("/hello")]
fn hello(user: PageUser) -> Template {
    page("hello", "Hello", Some(&user))
}

#[get("/logout")]
fn logout_page(user: MaybeUser) -> Template {
    page("logout", "Log out", user.0.as_ref())
}
