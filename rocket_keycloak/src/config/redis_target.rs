//! Where a Redis session store lives: the three URL forms of `oidc.session_store`, read into
//! a [`RedisTarget`].
//!
//! ```text
//! redis://[user:password@]host[:port][/db]                 one server (rediss:// for TLS)
//! redis+sentinel://[user:password@]host[:port],host[:port],.../<master name>[/db]
//!     [?sentinel_username=...&sentinel_password=...]       Sentinel (rediss+sentinel:// for TLS)
//! redis+cluster://[user:password@]host[:port],host[:port],...
//!                                                          Cluster (rediss+cluster:// for TLS)
//! ```
//!
//! Decisions:
//! - **One URL per store, several hosts in it**, as the redis-py and Lettuce sentinel URLs
//!   do: an environment variable (`OIDC_SESSION_STORE`) carries any of the three. The hosts
//!   of a Sentinel URL are the sentinels (default port 26379), never the data nodes, which
//!   the sentinels name; those of a Cluster URL are seed nodes (default port 6379).
//! - **Credentials:** the URL's user and password are the data nodes'. Sentinels often have
//!   none, or their own: `sentinel_username` and `sentinel_password` in the query. Any
//!   other query parameter is refused, so a typo is an error, not a silent default.
//! - **TLS is all or nothing:** `rediss+` speaks TLS to sentinels and data nodes alike.
//! - Parsed without the `redis` crate, so the configuration is checked (and the loopback
//!   rule applied to every host, `session_store.rs`) in any build.

use url::Url;

/// A user and a password, either of which may be absent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Credentials {
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
}

/// Where the Redis session store lives; see the module documentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RedisTarget {
    /// One server at this `redis://` or `rediss://` URL, as given.
    Single(String),
    /// The master the sentinels know as `master`.
    Sentinel {
        /// `redis://host:port` of each sentinel (no credentials).
        sentinels: Vec<Url>,
        master: String,
        db: i64,
        tls: bool,
        data: Credentials,
        sentinel: Credentials,
    },
    /// A Redis Cluster reached first through these seed nodes.
    Cluster {
        /// `redis://host:port` of each seed node (no credentials).
        nodes: Vec<Url>,
        tls: bool,
        data: Credentials,
    },
}

impl RedisTarget {
    /// Reads `value`; the error says what is wrong, never the password.
    pub(crate) fn parse(value: &str) -> Result<Self, String> {
        let (scheme, rest) = value.split_once("://").ok_or("has no scheme")?;
        let (tls, kind) = match scheme {
            "redis" | "rediss" => {
                let url = Url::parse(value).map_err(|_| "is not a URL")?;
                if url.host_str().is_none_or(str::is_empty) {
                    return Err("names no host".into());
                }
                return Ok(Self::Single(value.to_owned()));
            }
            "redis+sentinel" => (false, "sentinel"),
            "rediss+sentinel" => (true, "sentinel"),
            "redis+cluster" => (false, "cluster"),
            "rediss+cluster" => (true, "cluster"),
            _ => return Err(format!("has an unknown scheme `{scheme}`")),
        };
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let (userinfo, hosts) = match authority.rsplit_once('@') {
            Some((userinfo, hosts)) => (Some(userinfo), hosts),
            None => (None, authority),
        };
        let data = credentials(userinfo)?;
        let default_port = if kind == "sentinel" { 26379 } else { 6379 };
        let nodes =
            hosts.split(',').map(|host| node(host, default_port)).collect::<Result<Vec<_>, _>>()?;
        let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
        let mut sentinel = Credentials::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, raw) = pair.split_once('=').unwrap_or((pair, ""));
            let decoded = Some(percent_decode(raw)?);
            match (kind, name) {
                ("sentinel", "sentinel_username") => sentinel.username = decoded,
                ("sentinel", "sentinel_password") => sentinel.password = decoded,
                _ => return Err(format!("has an unknown parameter `{name}`")),
            }
        }
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        if kind == "cluster" {
            if !segments.is_empty() {
                return Err("names a database, which a Redis Cluster does not have".into());
            }
            return Ok(Self::Cluster { nodes, tls, data });
        }
        let (master, db) = match segments.as_slice() {
            [master] => (*master, 0),
            [master, db] => (*master, db.parse().map_err(|_| "has a database that is no number")?),
            _ => return Err("must name the master after the hosts: .../<master name>[/db]".into()),
        };
        let master = percent_decode(master)?;
        Ok(Self::Sentinel { sentinels: nodes, master, db, tls, data, sentinel })
    }

    /// Every host the app connects to first, as `redis://host:port` URLs.
    pub(crate) fn hosts(&self) -> Vec<Url> {
        match self {
            Self::Single(url) => Url::parse(url).into_iter().collect(),
            Self::Sentinel { sentinels: hosts, .. } | Self::Cluster { nodes: hosts, .. } => {
                hosts.clone()
            }
        }
    }

    /// Whether the connections are TLS.
    pub(crate) fn tls(&self) -> bool {
        match self {
            Self::Single(url) => url.starts_with("rediss://"),
            Self::Sentinel { tls, .. } | Self::Cluster { tls, .. } => *tls,
        }
    }
}

/// `value` with every password replaced by `redacted`, for logs.
pub(crate) fn redacted(value: &str) -> String {
    let Some((scheme, rest)) = value.split_once("://") else { return "[unparsable]".into() };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:redacted@{hosts}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) if name.ends_with("password") => format!("{name}=redacted"),
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", pairs.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

fn credentials(userinfo: Option<&str>) -> Result<Credentials, String> {
    let Some(userinfo) = userinfo else { return Ok(Credentials::default()) };
    let (user, password) = match userinfo.split_once(':') {
        Some((user, password)) => (user, Some(password)),
        None => (userinfo, None),
    };
    Ok(Credentials {
        username: Some(percent_decode(user)?).filter(|u| !u.is_empty()),
        password: password.map(percent_decode).transpose()?,
    })
}

/// `host[:port]` as a `redis://host:port` URL.
fn node(host: &str, default_port: u16) -> Result<Url, String> {
    let url = Url::parse(&format!("redis://{host}"))
        .map_err(|_| format!("has a host that does not parse: `{host}`"))?;
    if url.host_str().is_none_or(str::is_empty) || url.path() != "" || url.username() != "" {
        return Err(format!("has a host that does not parse: `{host}`"));
    }
    let host = url.host_str().unwrap_or_default();
    Url::parse(&format!("redis://{host}:{}", url.port().unwrap_or(default_port)))
        .map_err(|_| format!("has a host that does not parse: `{host}`"))
}

fn percent_decode(value: &str) -> Result<String, String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value.get(i + 1..i + 3).ok_or("has a bad %-escape")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| "has a bad %-escape")?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "has a %-escape that is not UTF-8".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(target: &RedisTarget) -> Vec<String> {
        target.hosts().iter().map(Url::to_string).collect()
    }

    #[test]
    fn a_sentinel_url_names_the_sentinels_the_master_and_both_credentials() {
        let target = RedisTarget::parse(
            "rediss+sentinel://app:p%40ss@s1:26380,s2,[::1]:1/sessions/2\
             ?sentinel_username=watch&sentinel_password=s%3Acret",
        )
        .unwrap();
        assert_eq!(hosts(&target), ["redis://s1:26380", "redis://s2:26379", "redis://[::1]:1"]);
        assert!(target.tls());
        let RedisTarget::Sentinel { master, db, data, sentinel, .. } = target else { panic!() };
        assert_eq!((master.as_str(), db), ("sessions", 2));
        assert_eq!(data.username.as_deref(), Some("app"));
        assert_eq!(data.password.as_deref(), Some("p@ss"));
        assert_eq!(sentinel.username.as_deref(), Some("watch"));
        assert_eq!(sentinel.password.as_deref(), Some("s:cret"));
        let plain = RedisTarget::parse("redis+sentinel://127.0.0.1:16402/sessions").unwrap();
        let RedisTarget::Sentinel { db, data, tls, .. } = plain else { panic!() };
        assert_eq!((db, data, tls), (0, Credentials::default(), false));
    }

    #[test]
    fn a_cluster_url_names_its_seed_nodes() {
        let target = RedisTarget::parse("redis+cluster://:pw@n1:7000,n2,n3:7002").unwrap();
        assert_eq!(hosts(&target), ["redis://n1:7000", "redis://n2:6379", "redis://n3:7002"]);
        let RedisTarget::Cluster { data, tls, .. } = target else { panic!() };
        assert_eq!((data.username, data.password.as_deref(), tls), (None, Some("pw"), false));
    }

    #[test]
    fn malformed_urls_are_refused_with_the_reason() {
        for (bad, says) in [
            ("redis+sentinel://s1:26379", "master"),
            ("redis+sentinel://s1/a/b/c", "master"),
            ("redis+sentinel://s1/m/x", "number"),
            ("redis+sentinel://s1,/m", "host"),
            ("redis+sentinel://s1:port/m", "host"),
            ("redis+sentinel://s1/m?password=x", "parameter"),
            ("redis+cluster://n1/0", "database"),
            ("redis+cluster://n1?sentinel_password=x", "parameter"),
            ("redis+cluster://", "host"),
            ("redis+cluster://n1,n2:99999", "host"),
            ("redis+sentinel://s1/m?sentinel_password=%zz", "escape"),
            ("valkey+cluster://n1", "scheme"),
            ("redis:/n1", "scheme"),
        ] {
            let error = RedisTarget::parse(bad).unwrap_err();
            assert!(error.contains(says), "{bad}: {error}");
        }
    }

    #[test]
    fn redacted_hides_every_password_and_keeps_the_rest() {
        let value = "redis+sentinel://app:hunter2@s1,s2/m?sentinel_username=w&sentinel_password=x2";
        let shown = redacted(value);
        assert_eq!(
            shown,
            "redis+sentinel://app:redacted@s1,s2/m?sentinel_username=w&sentinel_password=redacted"
        );
        assert_eq!(redacted("redis+cluster://:pw@n1,n2"), "redis+cluster://:redacted@n1,n2");
        assert_eq!(redacted("redis://cache:6379/0"), "redis://cache:6379/0");
    }
}
