//! Server settings, with every limit documented where it is defined.

use std::net::SocketAddr;
use std::time::Duration;

use cloak_core::Mode;

/// Default listening address: the Python original's port, on loopback so a
/// fresh install is not reachable from the network until asked.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8000";

/// Default greeting for a client with nothing queued, as in the original.
pub const DEFAULT_GREETING: &str = "This is a message from the server!";

/// Connections served at once; beyond it, new connections wait in the
/// kernel's backlog. High, because a connection that merely stalls costs a
/// socket and a small buffer, while a low cap would let a thousand stalled
/// connections (slowloris) lock everyone else out until their timeouts
/// expire. RSA work is bounded separately by the fair pool (one slot per
/// core, see `pool`), and memory for unauthenticated requests by
/// [`ServerConfig::preauth_memory`].
/// Needs a hard limit on open files above it (`ulimit -Hn`): the server
/// raises its soft limit to the hard one at start (see `fd_limit`).
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// Longest a single read or write may stall: a slow or vanished client
/// frees its slot after this.
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest a whole connection may last, however it trickles bytes.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(60);

/// How long shutdown waits for connections in flight to finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Everything the server needs to run.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to bind.
    pub addr: SocketAddr,
    /// Accept only this mode; both when `None`.
    pub only_mode: Option<Mode>,
    /// Text sent to a client with nothing queued.
    pub greeting: String,
    /// See [`DEFAULT_MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// See [`DEFAULT_IO_TIMEOUT`].
    pub io_timeout: Duration,
    /// See [`DEFAULT_DEADLINE`].
    pub deadline: Duration,
    /// Bytes the server holds at most, over all connections, for requests
    /// not yet authenticated (see `budget`).
    pub preauth_memory: usize,
    /// Received messages older than this are deleted; kept when `None`.
    pub expire_after: Option<Duration>,
    /// Write every refusal, not a limited number per address (see
    /// `log_limit`): a flooding peer can then grow the log without bound.
    pub log_every_refusal: bool,
    /// Where to serve metrics and the health check; nowhere when `None`.
    pub metrics: Option<SocketAddr>,
    /// Print no message's text, only the verdict and metadata lines.
    pub hide_text: bool,
}

impl ServerConfig {
    /// Defaults for everything but the address.
    pub fn new(addr: SocketAddr) -> Self {
        ServerConfig {
            addr,
            only_mode: None,
            greeting: DEFAULT_GREETING.to_owned(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            io_timeout: DEFAULT_IO_TIMEOUT,
            deadline: DEFAULT_DEADLINE,
            preauth_memory: crate::budget::DEFAULT_PREAUTH_MEMORY,
            expire_after: None,
            log_every_refusal: false,
            metrics: None,
            hide_text: false,
        }
    }

    /// The modes this server accepts, for its hello.
    pub fn modes(&self) -> Vec<Mode> {
        match self.only_mode {
            Some(mode) => vec![mode],
            None => vec![Mode::Asymmetric, Mode::Hybrid],
        }
    }
}
