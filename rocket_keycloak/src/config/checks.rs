//! The value checks shared by the sign-in realm and the further `oidc.issuers`: a required
//! value, an absolute http(s) URL, and https unless the host is a loopback one.

use url::Url;

use super::error::ConfigError;

/// The value of a key that has no default (an empty or blank value counts as missing).
pub(super) fn required(value: Option<String>, key: &str) -> Result<String, ConfigError> {
    match value {
        Some(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(ConfigError::new(key, "is required")),
    }
}

/// Parses an absolute http or https URL with a host.
pub(super) fn parse_url(value: &str, key: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value).map_err(|e| ConfigError::new(key, format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ConfigError::new(key, "must be an absolute http(s) URL"));
    }
    Ok(url)
}

/// Whether the URL's host is a loopback one (`localhost`, 127.0.0.0/8, `::1`): nobody else
/// is on that path. An address in a URL of a scheme the `url` crate does not know (such as
/// `redis://`) comes as a name, and is read as an address here.
pub(super) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(host)) => {
            host.eq_ignore_ascii_case("localhost")
                || host.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Refuses `http://` unless the host is a loopback one.
pub(super) fn refuse_plain_http(url: &Url, key: &str) -> Result<(), ConfigError> {
    if url.scheme() == "https" || is_loopback(url) {
        return Ok(());
    }
    Err(ConfigError::new(
        key,
        "plain http is accepted only for loopback hosts (localhost, 127.0.0.0/8, ::1): anyone \
         on the path could replace the signing keys. Use https, or, on a trusted private \
         network only, set oidc.allow_insecure_http = true (OIDC_ALLOW_INSECURE_HTTP=true)",
    ))
}
