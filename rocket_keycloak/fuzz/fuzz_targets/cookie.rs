//! The session and login cookie decoding: a Cookie header as a browser could send it,
//! decrypted with a fixed key the way the app does, then our decoders of the contents.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rocket::http::private::cookie::{Cookie, CookieJar, Key};
use rocket_keycloak::testing::{LoginState, local_path_or_default};

static KEY: [u8; 64] = [7; 64];

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else { return };
    let key = Key::from(&KEY);
    let mut jar = CookieJar::new();
    for part in header.split(';') {
        if let Ok(cookie) = Cookie::parse(part.trim().to_owned()) {
            jar.add_original(cookie);
        }
    }
    let names: Vec<String> = jar.iter().map(|c| c.name().to_owned()).collect();
    for name in names {
        if let Some(cookie) = jar.private(&key).get(&name)
            && let Some(state) = LoginState::decode(cookie.value())
        {
            let _ = local_path_or_default(Some(&state.next), "/");
        }
    }
    let next = local_path_or_default(Some(header), "/");
    assert!(next == "/" || (next.starts_with('/') && !next.starts_with("//")));
});
