//! The Authorization header parser: any bytes, one or two headers; never panics, and a
//! token it returns is a non-empty substring without ASCII whitespace (its characters are
//! checked later, by the token format rules).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rocket_keycloak::testing::authorization_token;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (first, second) = text.split_once('\n').unwrap_or((text, ""));
    let values: Vec<&str> = if second.is_empty() { vec![first] } else { vec![first, second] };
    if let Ok(Some((_, token))) = authorization_token(values.iter().copied()) {
        assert!(!token.is_empty());
        assert!(!token.bytes().any(|b| b.is_ascii_whitespace()));
        assert!(text.contains(token));
    }
});
