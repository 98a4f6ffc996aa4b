//! Where the sign-in routes are mounted and where browsers land ([`Paths`]), and which
//! `next` pages a sign-in may return to (local paths only: the open-redirect defence in the
//! module doc of `auth`).

use rocket::http::uri::Origin;

/// The longest `next` followed after sign-in.
pub(crate) const MAX_NEXT_BYTES: usize = 512;

/// Where the sign-in is mounted and where it sends browsers: [`SignIn`](super::SignIn)'s settings, checked,
/// in Rocket's state for the routes.
#[derive(Debug, Clone)]
pub(crate) struct Paths {
    pub(super) base: Origin<'static>,
    pub(crate) after_login: String,
    pub(crate) after_logout: String,
    pub(crate) after_refusal: String,
}

impl Paths {
    /// `route` (a URI of a route of this module, mounted at `/`) under the mount point.
    pub(super) fn under_base(&self, route: &Origin<'_>) -> String {
        let base = self.base.path().as_str().trim_end_matches('/');
        format!("{base}{route}")
    }
}

/// `next` if it is a safe local path, else `default`.
pub fn local_path_or_default(next: Option<&str>, default: &str) -> String {
    next.and_then(local_path).map_or_else(|| default.to_owned(), |p| p.to_string())
}

/// `next` as a local URI this app can redirect to, if it is one.
pub(super) fn local_path(next: &str) -> Option<Origin<'static>> {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control());
    if !local || next.len() > MAX_NEXT_BYTES {
        return None;
    }
    Origin::parse_owned(next.to_owned()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_path_or_default(Some("/me?x=1"), "/hello"), "/me?x=1");
        for evil in
            ["//evil.example", "https://evil.example", "/\\evil.example", "evil", "/\r\nx", ""]
        {
            assert_eq!(local_path_or_default(Some(evil), "/hello"), "/hello", "{evil:?}");
        }
        assert_eq!(local_path_or_default(None, "/hello"), "/hello");
    }

    #[test]
    fn next_must_be_a_uri_rocket_can_redirect_to() {
        let long = format!("/{}", "x".repeat(MAX_NEXT_BYTES));
        for awkward in ["/a b", "/café", "/\"q\"", "/<script>", "/a#b c", long.as_str()] {
            assert_eq!(local_path_or_default(Some(awkward), "/hello"), "/hello", "{awkward:?}");
        }
        let longest = format!("/{}", "x".repeat(MAX_NEXT_BYTES - 1));
        assert_eq!(local_path_or_default(Some(&longest), "/hello"), longest);
        assert_eq!(local_path_or_default(Some("/a%20b?c=%C3%A9"), "/hello"), "/a%20b?c=%C3%A9");
    }
}
