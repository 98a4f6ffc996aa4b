//! The `Authorization` header: one header, one scheme (`Bearer` or `DPoP`, any case), one
//! token. A token in the query string (`?access_token=`) is deliberately ignored (RFC 6750
//! §2.3 leaks tokens into logs and history).

use rocket::Request;

use crate::error::AuthError;

/// The `Authorization` schemes this crate takes an access token from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Bearer` (RFC 6750).
    Bearer,
    /// `DPoP` (RFC 9449): the token is bound to a key, proven by the `DPoP` header.
    Dpop,
}

/// Extracts the scheme and the access token from the `Authorization` header values.
///
/// `Ok(None)`: no header. Errors: several headers, another scheme, no token, or more than
/// one token (`invalid_request`).
pub fn authorization_token<'a>(
    mut values: impl Iterator<Item = &'a str>,
) -> Result<Option<(Scheme, &'a str)>, AuthError> {
    let Some(value) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(AuthError::InvalidRequest("Send exactly one Authorization header"));
    }
    let value = value.trim_matches(' ');
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Scheme::Dpop
    } else {
        return Err(AuthError::InvalidRequest("Only the Bearer and DPoP schemes are supported"));
    };
    let token = rest.trim_start_matches(' ');
    if token.is_empty() {
        return Err(AuthError::InvalidRequest("The access token is missing"));
    }
    // A branch-free scan with one comparison per byte (it vectorizes); tokens are long and
    // this runs on every request. Every ASCII whitespace and control byte is at most a space,
    // and none belongs in a token (RFC 6750's `b64token`).
    if token.bytes().fold(false, |seen, b| seen | (b <= b' ')) {
        return Err(AuthError::InvalidRequest("Send exactly one bearer token"));
    }
    // The token's characters are checked with its format, after the verified-token cache
    // lookup, so the common path does not scan the token twice.
    Ok(Some((scheme, token)))
}

/// The values of the request's `Authorization` headers.
///
/// Found by comparing the names of the request's headers, not with Rocket's lookup: that one
/// hashes the name with SipHash one byte at a time, about 1 000 instructions under callgrind,
/// the largest cost of a cached-token request after the token's own hash; a request carries
/// a handful of headers (hyper accepts at most 100), each compared by length first.
pub(super) fn authorization_values<'r>(
    request: &'r Request<'_>,
) -> impl Iterator<Item = &'r str> + 'r {
    request.headers().iter().filter(|header| header.name == "Authorization").map(|header| {
        match header.value {
            // Rocket's iterator lends the stored values.
            std::borrow::Cow::Borrowed(value) => value,
            // Never in Rocket 0.5; a value we cannot lend is refused (`invalid_request`).
            std::borrow::Cow::Owned(_) => "",
        }
    })
}

/// The value of header `name` if it appears at most once; `Err` if repeated.
#[cfg(any(feature = "dpop", feature = "sign-in"))]
pub(super) fn only_header<'r>(request: &'r Request<'_>, name: &str) -> Result<Option<&'r str>, ()> {
    let mut values = request.headers().get(name);
    let first = values.next();
    if values.next().is_some() { Err(()) } else { Ok(first) }
}

/// The request header that carries the session's CSRF token.
pub const CSRF_HEADER: &str = "X-CSRF-Token";

/// The anti-CSRF token of the browser session that authenticated this request, if any.
pub(super) struct SessionCsrf(pub(super) Option<String>);

/// The CSRF token of the session behind this request's authentication; `None` when the
/// request came with a bearer token (or not authenticated).
pub(super) fn session_csrf_token<'r>(request: &'r Request<'_>) -> Option<&'r str> {
    request.local_cache(|| SessionCsrf(None)).0.as_deref()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(values: &[&'static str]) -> Result<Option<&'static str>, AuthError> {
        authorization_token(values.iter().copied()).map(|found| found.map(|(_, token)| token))
    }

    #[test]
    fn scheme_is_case_insensitive() {
        assert_eq!(parse(&["Bearer abc"]), Ok(Some("abc")));
        assert_eq!(parse(&["bEaReR abc"]), Ok(Some("abc")));
        assert_eq!(parse(&["Bearer   abc.def-_~+/=="]), Ok(Some("abc.def-_~+/==")));
        let dpop = authorization_token(["dpop abc"].into_iter());
        assert_eq!(dpop, Ok(Some((Scheme::Dpop, "abc"))));
    }

    #[test]
    fn no_header_is_no_credentials() {
        assert_eq!(parse(&[]), Ok(None));
    }

    #[test]
    fn malformed_requests_are_invalid_request() {
        for values in [
            &["Bearer a", "Bearer b"][..],
            &["Bearer a b"],
            &["Basic dXNlcjpwYXNz"],
            &["Bearer"],
            &["Bearer "],
            &[""],
            // A tab, or any control byte, inside the token: no token has one.
            &["Bearer a\tb"],
            &["Bearer a\u{1}b"],
        ] {
            let error = parse(values).unwrap_err();
            assert_eq!(error.code(), Some("invalid_request"), "{values:?}");
        }
    }
}
