//! The accept loop: binds with `SO_REUSEADDR` (the original could not
//! restart for a minute after a crash), caps concurrent connections with a
//! semaphore (first raising the limit on open files they need), gives each
//! connection a deadline, backs off on accept errors, and on shutdown stops
//! accepting and lets connections in flight finish.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloak_core::KeyPair;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{debug, error, info, warn};

use crate::authorized::live::Live;
use crate::budget::Budget;
use crate::config::{SHUTDOWN_GRACE, ServerConfig};
use crate::connection::serve;
use crate::fd_limit::{Outcome, SPARE_FILES, show};
use crate::log_limit::RefusalLog;
use crate::pool::{Pool, fairness_key};
use crate::state::{Shared, State};
use crate::store::MessageStore;

/// Binds `addr` with `SO_REUSEADDR`.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// What every connection shares.
fn shared(key: KeyPair, config: ServerConfig, store: Arc<dyn MessageStore>) -> Arc<Shared> {
    Arc::new(Shared {
        key,
        store,
        pool: Pool::per_core(),
        budget: Budget::new(config.preauth_memory),
        refusals: if config.log_every_refusal {
            RefusalLog::unlimited()
        } else {
            RefusalLog::default()
        },
        config,
    })
}

/// The next connection, backing off while accepting fails.
async fn accept(
    listener: &TcpListener,
    backoff: &mut Duration,
) -> (tokio::net::TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(pair) => {
                *backoff = Duration::from_millis(10);
                return pair;
            }
            Err(e) => {
                // Usually out of file descriptors: wait rather than spin.
                error!("accept failed: {e}; retrying in {backoff:?}");
                tokio::time::sleep(*backoff).await;
                *backoff = (*backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// Serves `listener` until `shutdown` completes, then waits up to
/// [`SHUTDOWN_GRACE`] for connections in flight. Each connection is served
/// with the clients `authorized` holds when it is accepted. With `metrics`,
/// serves the metrics and health answers there too (see `metrics::http`).
pub async fn run(
    listener: TcpListener,
    metrics: Option<TcpListener>,
    key: KeyPair,
    authorized: Arc<Live>,
    config: ServerConfig,
    store: Arc<dyn MessageStore>,
    shutdown: impl Future<Output = ()>,
) {
    open_files(config.max_connections);
    let limit = Arc::new(Semaphore::new(config.max_connections));
    let shared = shared(key, config, store);
    if let Some(age) = shared.config.expire_after {
        tokio::spawn(expire(Arc::clone(&shared.store), age));
    }
    let (stopping, health) = tokio::sync::watch::channel(false);
    if let Some(metrics) = metrics {
        tokio::spawn(crate::metrics::http::serve(
            metrics,
            Arc::clone(&shared),
            health,
        ));
    }
    let stats = crate::metrics::get();
    let connections = PeerConnections::default();
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    let mut backoff = Duration::from_millis(10);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            permit = Arc::clone(&limit).acquire_owned() => permit.expect("semaphore is never closed"),
        };
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = accept(&listener, &mut backoff) => accepted,
        };
        let max = shared.config.max_connections;
        let share = (max / PEER_CONNECTION_SHARE).max(max.min(MIN_PEER_CONNECTIONS));
        stats.connections.inc();
        let Some(counted) = connections.enter(peer.ip(), share) else {
            stats.connections_refused.inc();
            shared.log_refusal(
                peer,
                format!("refused: this address holds {share} connections already"),
            );
            continue;
        };
        let state = Arc::new(State {
            shared: Arc::clone(&shared),
            authorized: authorized.current(),
        });
        let open = crate::metrics::connection_open();
        tasks.spawn(async move {
            serve(state, stream, peer).await;
            drop((counted, permit, open));
        });
        // Reap finished connections so the set does not grow without bound.
        while let Some(done) = tasks.try_join_next() {
            reap(done);
        }
    }
    // Closed now, so a client connecting during the grace is refused at
    // once instead of waiting for a greeting that never comes; and a load
    // balancer's probe says so.
    drop(listener);
    let _ = stopping.send(true);
    drain(tasks).await;
}

/// Waits up to [`SHUTDOWN_GRACE`] for the connections in flight.
async fn drain(mut tasks: JoinSet<()>) {
    while let Some(done) = tasks.try_join_next() {
        reap(done);
    }
    info!(
        "shutting down: waiting for {} connection(s) in flight",
        tasks.len()
    );
    if tokio::time::timeout(SHUTDOWN_GRACE, async {
        while let Some(done) = tasks.join_next().await {
            reap(done);
        }
    })
    .await
    .is_err()
    {
        warn!("connections still open after {SHUTDOWN_GRACE:?}; closing them");
    }
}

/// Raises the limit on open files as far as the server may (see
/// `fd_limit`), and says what it is, loudly if it is below what
/// `max_connections` needs.
fn open_files(max_connections: usize) {
    let outcome = crate::fd_limit::raise();
    match &outcome {
        Outcome::Raised { from, to } => {
            info!(
                "open files: raised the limit from {} to {}",
                show(*from),
                show(*to)
            );
        }
        Outcome::Unchanged(limit) => debug!("open files: limit {}", show(*limit)),
        Outcome::Kept { limit, error } => {
            debug!("open files: limit {} kept ({error})", show(*limit));
        }
    }
    let needed = max_connections as u64 + SPARE_FILES;
    if let Some(limit) = outcome.limit().filter(|&limit| limit < needed) {
        warn!(
            "open files: the limit of {limit} is below the {needed} that --max-connections {max_connections} needs; \
             past it, new connections wait until others close (raise the hard limit, or lower --max-connections)"
        );
    }
}

/// One address may hold at most this fraction of the connection slots (256
/// of the default 4096): enough for a busy NAT, while a single host
/// holding stalled connections (slowloris) cannot take every slot.
pub const PEER_CONNECTION_SHARE: usize = 16;

/// But never fewer than this (or all, when fewer are allowed), so a small
/// `--max-connections` still serves several local clients at once.
pub const MIN_PEER_CONNECTIONS: usize = 64;

/// Connections open per peer address (counted as the pool counts them).
#[derive(Default)]
struct PeerConnections(Arc<Mutex<HashMap<IpAddr, usize>>>);

/// One counted connection; uncounted when dropped.
struct Counted {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
    key: IpAddr,
}

impl PeerConnections {
    /// Counts a connection from `ip`, unless its address holds `share`.
    fn enter(&self, ip: IpAddr, share: usize) -> Option<Counted> {
        let key = fairness_key(ip);
        let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let held = counts.entry(key).or_default();
        if *held >= share {
            return None;
        }
        *held += 1;
        Some(Counted {
            counts: Arc::clone(&self.0),
            key,
        })
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(held) = counts.get_mut(&self.key) {
            *held -= 1;
            if *held == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

/// How often received messages are checked for expiry.
const EXPIRY_EVERY: Duration = Duration::from_secs(60);

/// Deletes received messages older than `age`, now and then every
/// [`EXPIRY_EVERY`] (or `age`, if shorter), for as long as the server runs.
async fn expire(store: Arc<dyn MessageStore>, age: Duration) {
    let mut ticks = tokio::time::interval(age.clamp(Duration::from_secs(1), EXPIRY_EVERY));
    loop {
        ticks.tick().await;
        let before = cloak_core::clock::now().saturating_sub(age.as_secs());
        let store = Arc::clone(&store);
        match tokio::task::spawn_blocking(move || store.expire(before)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => info!("expired {n} received message(s) older than {age:?}"),
            Ok(Err(e)) => error!("expiring old messages: {e}"),
            Err(e) => error!("expiring old messages: {e}"),
        }
    }
}

/// A connection task's end. A panic there is a bug (peer input must never
/// cause one): said loudly, where the panic message itself also went.
fn reap(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done
        && e.is_panic()
    {
        error!("BUG: a connection task panicked: {e}");
    }
}
