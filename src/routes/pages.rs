//! HTML pages of the demo app: home, the guide's `/hello`, the step-up page `/sensitive`,
//! the logout page, and the one stylesheet they share.
//!
//! Decisions:
//! - The stylesheet is compiled into the binary and served by the app (`/static/app.css`),
//!   so the Content-Security-Policy stays `style-src 'self'` with no inline styles and no
//!   external assets, and an app that mounts these pages needs no files beside the binary
//!   but its templates.
//! - Times are shown in UTC with their distance from now ("in 4 min", "12 s ago"), computed
//!   here: the templates get strings and stay free of date logic.

use rocket::http::ContentType;
use rocket::{Route, get, routes};
use rocket_dyn_templates::{Template, context};

use rocket_keycloak::{Level, MaybeUser, PageAcr, PageUser};

/// The second factor within the last five minutes: the level `/sensitive` needs.
pub struct RecentGold;

impl Level for RecentGold {
    const ACR: &'static str = "gold";
    const MAX_AGE: Option<u64> = Some(300);
}

/// The routes of this module.
pub fn routes() -> Vec<Route> {
    routes![home, hello, sensitive, logout_page, stylesheet]
}

/// Renders `template` for a signed-in user or anyone (`user` and `csrf` absent then); the
/// nav marks the link to `current` (`aria-current`).
fn page(template: &'static str, title: &str, current: &str, user: Option<&PageUser>) -> Template {
    let now = unix_now();
    let view = user.map(|user| {
        let mut view = user.identity_view();
        view["acr"] = user.acr.clone().into();
        view["authenticated"] = user.auth_time.map_or("unknown".into(), |t| when(t, now)).into();
        view["expires"] = when(user.expires_at, now).into();
        view
    });
    Template::render(
        template,
        context! {
            title: title,
            current: current,
            user: view,
            csrf: user.and_then(PageUser::csrf_token),
        },
    )
}

/// Seconds since the Unix epoch.
fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `14:03:22 UTC (2 min ago)`, `(in 45 s)` or `(just now)`.
fn when(at: u64, now: u64) -> String {
    let clock = format!("{:02}:{:02}:{:02} UTC", at / 3600 % 24, at / 60 % 60, at % 60);
    let distance = |secs: u64| match secs {
        0..=119 => format!("{secs} s"),
        120..=7199 => format!("{} min", secs / 60),
        _ => format!("{} h", secs / 3600),
    };
    if at == now {
        format!("{clock} (just now)")
    } else if at > now {
        format!("{clock} (in {})", distance(at - now))
    } else {
        format!("{clock} ({} ago)", distance(now - at))
    }
}

#[get("/")]
fn home(user: MaybeUser) -> Template {
    page("home", "Home", "/", user.0.as_ref())
}

#[get("/hello")]
fn hello(user: PageUser) -> Template {
    page("hello", "Hello", "/hello", Some(&user))
}

#[get("/sensitive")]
fn sensitive(user: PageAcr<RecentGold>) -> Template {
    page("sensitive", "Sensitive", "/sensitive", Some(user.page_user()))
}

#[get("/logout")]
fn logout_page(user: MaybeUser) -> Template {
    page("logout", "Log out", "/logout", user.0.as_ref())
}

#[get("/static/app.css")]
fn stylesheet() -> (ContentType, &'static str) {
    (ContentType::CSS, include_str!("../../static/app.css"))
}

#[cfg(test)]
mod tests {
    use super::when;

    #[test]
    fn times_read_as_utc_with_their_distance() {
        assert_eq!(when(50_000, 50_000), "13:53:20 UTC (just now)");
        assert_eq!(when(50_045, 50_000), "13:54:05 UTC (in 45 s)");
        assert_eq!(when(49_880, 50_000), "13:51:20 UTC (2 min ago)");
        assert_eq!(when(40_000, 50_000), "11:06:40 UTC (2 h ago)");
    }
}
