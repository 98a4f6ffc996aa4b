//! The connection behind [`RedisStore`](super::RedisStore): one server, a master found
//! through Sentinel, or a Redis Cluster, all spoken to through one [`Conn`].
//!
//! Decisions:
//! - **The `redis` crate does the work**: its `ConnectionManager` for one server, its
//!   `SentinelClient` to find the master, its `cluster_async` connection for a Cluster
//!   (which follows `MOVED` and slot changes by itself). Nothing here is a failover of our
//!   own; [`Failover`] only decides *when* to ask the sentinels again.
//! - **Sentinel: ask again after a connection error or `READONLY`.** The crate's connection
//!   manager reconnects to the address it had, so after a failover it would keep talking to
//!   the demoted master (redis-rs issue 1438). Here a connection that fails, times out or
//!   answers `READONLY` is dropped, and the next command asks the sentinels for the master
//!   (`SentinelClient` checks that the node it names says it is master). A command refused
//!   with `READONLY` changed nothing (a replica writes nothing), so it is sent once more, to
//!   the new master: a manual failover (`SENTINEL FAILOVER`, the old master stays up as a
//!   replica) costs no request. After any other error the request gets it (503): a command
//!   that timed out may have run, and is never sent twice.
//! - **And every second, ask whether the master moved** (`watch_master`): a master demoted
//!   while it still answers (a manual `SENTINEL FAILOVER`, a partition that heals) keeps
//!   saying it is master for seconds, and would take writes that its resync then throws
//!   away. The connection is dropped as soon as the sentinels name another node, so at most
//!   about a second of writes can go to it; the writes that must not be lost are made again
//!   (next point).
//! - **Bounded:** looking up and connecting to the master takes at most
//!   [`FAILOVER_LOOKUP_TIMEOUT`]; every command, as on one server, at most
//!   `SHARED_STORE_TIMEOUT`. While the sentinels have not promoted a replica yet, requests
//!   fail fast with a 503 and `Retry-After`, never with a wrong answer.
//! - **Writes that must survive a failover wait for a replica** ([`Conn::settle`]): with
//!   Sentinel, a logout, a logout-token id and a spent DPoP proof are followed by
//!   `WAIT 1 <ms>`, so the promoted replica holds them (the README's "High availability"
//!   says what is promised). When no replica acknowledges and the sentinels name another
//!   master ([`Conn::master_moved`]), the write went to a demoted master and is made again
//!   on the new one (`store.rs`). One server and a Cluster skip it: a Cluster without replicas
//!   has nothing to wait for, and with replicas the crate's routing of `WAIT` is per node.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster::{ClusterClientBuilder, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{AsyncConnectionConfig, Cmd, ConnectionAddr, RedisError, RedisFuture, Value};

use crate::config::{Credentials, RedisTarget};
use crate::session::store::SHARED_STORE_TIMEOUT;

/// The longest a command waits for the sentinels to name the master and for the connection
/// to it.
pub(super) const FAILOVER_LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest a write that must survive a failover waits for one replica to hold it.
pub(super) const REPLICA_WAIT: Duration = Duration::from_millis(500);

/// Where commands go; cheap to clone (every clone shares the connections).
#[derive(Clone)]
pub(super) enum Backend {
    Single(ConnectionManager),
    Sentinel(Arc<Failover>),
    Cluster(ClusterConnection),
}

/// The master as the sentinels last named it, and how to ask them again.
pub(super) struct Failover {
    sentinels: rocket::tokio::sync::Mutex<SentinelClient>,
    /// The connection to the current master; `None` until the first command and after an
    /// error or a switch.
    master: Mutex<Option<Master>>,
    /// Generations of connections, so that a late error drops only its own.
    generations: std::sync::atomic::AtomicU64,
}

/// One connection to the node the sentinels named.
#[derive(Clone)]
struct Master {
    generation: u64,
    address: String,
    connection: MultiplexedConnection,
}

/// How often the sentinels are asked whether the master is still the one connected to.
pub(super) const MASTER_CHECK_INTERVAL: Duration = Duration::from_secs(1);

impl Backend {
    /// Connections for `target`, opened lazily: nothing is contacted here.
    pub(super) fn open(target: &RedisTarget) -> Result<Self, RedisError> {
        if target.tls() {
            // rustls needs one process-wide crypto provider; another may be installed.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        match target {
            RedisTarget::Single(url) => {
                let client = redis::Client::open(url.as_str())?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(SHARED_STORE_TIMEOUT))
                    .set_response_timeout(Some(SHARED_STORE_TIMEOUT))
                    .set_number_of_retries(1);
                Ok(Self::Single(ConnectionManager::new_lazy_with_config(client, config)?))
            }
            RedisTarget::Sentinel { sentinels, master, db, tls, data, sentinel } => {
                let addresses = sentinels.iter().map(|url| address(url, *tls));
                let mut builder =
                    SentinelClientBuilder::new(addresses, master, SentinelServerType::Master)?
                        .set_client_to_redis_db(*db);
                if *tls {
                    builder = builder
                        .set_client_to_redis_tls_mode(redis::TlsMode::Secure)
                        .set_client_to_sentinel_tls_mode(redis::TlsMode::Secure);
                }
                let Credentials { username, password } = data;
                if let Some(username) = username {
                    builder = builder.set_client_to_redis_username(username);
                }
                if let Some(password) = password {
                    builder = builder.set_client_to_redis_password(password);
                }
                let Credentials { username, password } = sentinel;
                if let Some(username) = username {
                    builder = builder.set_client_to_sentinel_username(username);
                }
                if let Some(password) = password {
                    builder = builder.set_client_to_sentinel_password(password);
                }
                let failover = Arc::new(Failover {
                    sentinels: rocket::tokio::sync::Mutex::new(builder.build()?),
                    master: Mutex::new(None),
                    generations: Default::default(),
                });
                if let Ok(runtime) = rocket::tokio::runtime::Handle::try_current() {
                    runtime.spawn(watch_master(Arc::downgrade(&failover)));
                }
                Ok(Self::Sentinel(failover))
            }
            RedisTarget::Cluster { nodes, tls, data } => {
                let scheme = if *tls { "rediss" } else { "redis" };
                let seeds: Vec<String> = nodes
                    .iter()
                    .map(|url| {
                        let (host, port) = host_port(url);
                        format!("{scheme}://{host}:{port}")
                    })
                    .collect();
                let mut builder = ClusterClientBuilder::new(seeds).retries(1);
                if let Some(username) = &data.username {
                    builder = builder.username(username);
                }
                if let Some(password) = &data.password {
                    builder = builder.password(password);
                }
                let config = ClusterConfig::new()
                    .set_connection_timeout(SHARED_STORE_TIMEOUT)
                    .set_response_timeout(SHARED_STORE_TIMEOUT);
                Ok(Self::Cluster(builder.build()?.get_pending_async_connection_with_config(config)))
            }
        }
    }

    /// A handle for one operation: its commands go over one connection.
    pub(super) fn conn(&self) -> Conn {
        match self {
            Self::Single(manager) => Conn::Single(manager.clone()),
            Self::Sentinel(failover) => Conn::Sentinel(failover.clone(), None),
            Self::Cluster(cluster) => Conn::Cluster(cluster.clone()),
        }
    }
}

fn host_port(url: &url::Url) -> (&str, u16) {
    (url.host_str().unwrap_or_default(), url.port().unwrap_or(6379))
}

fn address(url: &url::Url, tls: bool) -> ConnectionAddr {
    let (host, port) = host_port(url);
    let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
    if tls {
        ConnectionAddr::TcpTls { host, port, insecure: false, tls_params: None }
    } else {
        ConnectionAddr::Tcp(host, port)
    }
}

/// Whether `error` means the connection is not to the master any more (or not at all).
fn lost_master(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_timeout()
        || error.is_connection_refusal()
        || error.is_connection_dropped()
        || error.code() == Some("READONLY")
        || error.code() == Some("LOADING")
}

impl Failover {
    /// The current connection and its generation (per command: no address is cloned).
    fn current(&self) -> Option<(u64, MultiplexedConnection)> {
        let master = self.master.lock().unwrap_or_else(|e| e.into_inner());
        master.as_ref().map(|m| (m.generation, m.connection.clone()))
    }

    /// The connection to the master, asking the sentinels first if there is none.
    async fn connection(&self) -> Result<(u64, MultiplexedConnection), RedisError> {
        if let Some(current) = self.current() {
            return Ok(current);
        }
        // The wait for the lookup counts too: requests queued behind a lookup that hangs
        // (a sentinel that accepts and never answers) each give up after the same bound.
        bounded(self.look_up()).await?
    }

    async fn look_up(&self) -> Result<(u64, MultiplexedConnection), RedisError> {
        // One lookup at a time; whoever waited here finds the new connection.
        let mut sentinels = self.sentinels.lock().await;
        if let Some(current) = self.current() {
            return Ok(current);
        }
        let client = sentinels.async_get_client().await?;
        let address = client.get_connection_info().addr().to_string();
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(SHARED_STORE_TIMEOUT))
            .set_response_timeout(Some(SHARED_STORE_TIMEOUT));
        let connection = client.get_multiplexed_async_connection_with_config(&config).await?;
        let generation = self.generations.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        log::info!("Redis Sentinel: connected to the master at {address}");
        let master = Master { generation, address, connection: connection.clone() };
        *self.master.lock().unwrap_or_else(|e| e.into_inner()) = Some(master);
        Ok((generation, connection))
    }

    /// After a command on connection `generation`: kept for the operation's next command
    /// (its `WAIT` must follow its write) when it answered; after an error, not kept, and
    /// dropped for everyone if it is still the current one and the error says the master
    /// is gone.
    fn after<T>(
        &self,
        result: &Result<T, RedisError>,
        pinned: &mut Option<(u64, MultiplexedConnection)>,
        generation: u64,
        connection: MultiplexedConnection,
    ) {
        match result {
            Ok(_) => *pinned = Some((generation, connection)),
            Err(error) if lost_master(error) => {
                self.drop_connection(generation, &error.to_string())
            }
            Err(_) => {}
        }
    }

    fn drop_connection(&self, generation: u64, why: &str) {
        let mut master = self.master.lock().unwrap_or_else(|e| e.into_inner());
        if master.as_ref().is_some_and(|m| m.generation == generation) {
            log::warn!("Redis Sentinel: leaving the master ({why}); asking the sentinels again");
            *master = None;
        }
    }

    /// Asks the sentinels which node is master; drops the connection if it is to another.
    /// Returns whether it did (the master moved).
    async fn check_master(&self) -> bool {
        let current = self.master.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(current) = current else { return false };
        let named = bounded(async {
            let mut sentinels = self.sentinels.lock().await;
            sentinels.async_get_client().await.map(|c| c.get_connection_info().addr().to_string())
        });
        match named.await {
            Ok(Ok(address)) if address != current.address => {
                let why = format!("the sentinels name {address} now, not {}", current.address);
                self.drop_connection(current.generation, &why);
                true
            }
            _ => false,
        }
    }
}

/// `future`, given at most [`FAILOVER_LOOKUP_TIMEOUT`].
async fn bounded<T>(future: impl Future<Output = T>) -> Result<T, RedisError> {
    rocket::tokio::time::timeout(FAILOVER_LOOKUP_TIMEOUT, future).await.map_err(|_| {
        RedisError::from(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the sentinels named no reachable master in time",
        ))
    })
}

/// Asks the sentinels every [`MASTER_CHECK_INTERVAL`] whether the master moved, while the
/// store lives. A killed master shows as errors at once; a master demoted while it still
/// answers (a manual failover, a partition healing) only shows here, so writes stop going
/// to it within about a second of the sentinels' switch.
async fn watch_master(failover: std::sync::Weak<Failover>) {
    loop {
        rocket::tokio::time::sleep(MASTER_CHECK_INTERVAL).await;
        let Some(failover) = failover.upgrade() else { return };
        failover.check_master().await;
    }
}

/// The connection an operation's next command goes over: the one it used before, or the
/// master's.
async fn take_pinned(
    failover: &Failover,
    pinned: &mut Option<(u64, MultiplexedConnection)>,
) -> Result<(u64, MultiplexedConnection), RedisError> {
    match pinned.take() {
        Some(current) => Ok(current),
        None => failover.connection().await,
    }
}

/// One operation's connection (see [`Backend::conn`]).
pub(super) enum Conn {
    Single(ConnectionManager),
    /// The failover, and the connection this operation uses once it has one.
    Sentinel(Arc<Failover>, Option<(u64, MultiplexedConnection)>),
    Cluster(ClusterConnection),
}

impl Conn {
    /// After a write that must survive a failover: with Sentinel, waits (at most
    /// [`REPLICA_WAIT`]) until a replica holds it; `false` if none did in time. Elsewhere
    /// `true` at once.
    pub(super) async fn settle(&mut self) -> bool {
        if !matches!(self, Self::Sentinel(..)) {
            return true;
        }
        let millis = REPLICA_WAIT.as_millis() as u64;
        redis::cmd("WAIT").arg(1).arg(millis).query_async::<i64>(self).await.is_ok_and(|n| n >= 1)
    }

    /// After a write no replica acknowledged: whether the sentinels name another master now
    /// (then the write went to a demoted one, and must be made again on a new `Conn`).
    pub(super) async fn master_moved(&self) -> bool {
        match self {
            Self::Sentinel(failover, _) => failover.check_master().await,
            _ => false,
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(manager) => manager.req_packed_command(cmd),
            Self::Cluster(cluster) => cluster.req_packed_command(cmd),
            Self::Sentinel(failover, pinned) => Box::pin(async move {
                let (generation, mut connection) = take_pinned(failover, pinned).await?;
                let result = connection.req_packed_command(cmd).await;
                let readonly = result.as_ref().is_err_and(|e| e.code() == Some("READONLY"));
                failover.after(&result, pinned, generation, connection);
                if !readonly {
                    return result;
                }
                // A replica refused the write, so nothing was written: safe to send once
                // more, to the master the sentinels name now.
                let (generation, mut connection) = take_pinned(failover, pinned).await?;
                let result = connection.req_packed_command(cmd).await;
                failover.after(&result, pinned, generation, connection);
                result
            }),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(manager) => manager.req_packed_commands(pipeline, offset, count),
            Self::Cluster(cluster) => cluster.req_packed_commands(pipeline, offset, count),
            Self::Sentinel(failover, pinned) => Box::pin(async move {
                let (generation, mut connection) = take_pinned(failover, pinned).await?;
                let result = connection.req_packed_commands(pipeline, offset, count).await;
                failover.after(&result, pinned, generation, connection);
                result
            }),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(manager) => manager.get_db(),
            Self::Cluster(cluster) => cluster.get_db(),
            Self::Sentinel(_, Some((_, connection))) => connection.get_db(),
            Self::Sentinel(_, None) => 0,
        }
    }
}
