//! Which store the command line names: the data folder's SQLite store by
//! default, or PostgreSQL with `--store postgres://…`, opened the way the
//! server or an operator command needs it.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use crate::store::postgres::PgStore;
use crate::store::sqlite::SqliteStore;
use crate::store::{Limits, MessageStore};

/// Where the messages are kept.
#[derive(Debug, Clone)]
pub(crate) struct StoreChoice {
    /// The data folder (the SQLite store).
    pub data: PathBuf,
    /// A PostgreSQL URL, in place of the data folder.
    pub url: Option<String>,
    /// The limits the store enforces.
    pub limits: Limits,
    /// Connections to PostgreSQL at most (see [`pool_size`]).
    pub pool: u32,
}

/// An opened store.
pub(crate) enum Opened {
    /// The embedded store.
    Sqlite(SqliteStore),
    /// The shared store.
    Postgres(PgStore),
}

/// PostgreSQL connections for one instance: every store call holds one
/// only for its statements, and calls come from the RSA pool's workers
/// (one per core), from streams in flight and from the timers; more than
/// the connections served at once would never be used.
pub(crate) fn pool_size(max_connections: usize) -> u32 {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    (2 * cores + 8).min(max_connections + 2) as u32
}

impl StoreChoice {
    /// Opens the store; as the server, it also cleans up after a crash.
    pub(crate) fn open(&self, as_server: bool) -> anyhow::Result<Opened> {
        if let Some(url) = &self.url {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                anyhow::bail!("--store takes a postgres://USER@HOST:PORT/DB URL");
            }
            let store = PgStore::open(url, self.limits, self.pool, as_server)?;
            return Ok(Opened::Postgres(store));
        }
        let opened = if as_server {
            SqliteStore::open_as_server(&self.data, self.limits)
        } else {
            SqliteStore::open(&self.data, self.limits)
        };
        let store = opened
            .with_context(|| format!("opening the message store in {}", self.data.display()))?;
        Ok(Opened::Sqlite(store))
    }
}

impl Opened {
    /// The store behind the common seam.
    pub(crate) fn store(&self) -> &dyn MessageStore {
        match self {
            Opened::Sqlite(store) => store,
            Opened::Postgres(store) => store,
        }
    }

    /// The store for the server's tasks.
    pub(crate) fn shared(self) -> Arc<dyn MessageStore> {
        match self {
            Opened::Sqlite(store) => Arc::new(store),
            Opened::Postgres(store) => Arc::new(store),
        }
    }

    /// Where it is, for the start-up log line (never a password).
    pub(crate) fn describe(&self) -> String {
        match self {
            Opened::Sqlite(store) => store.path().display().to_string(),
            Opened::Postgres(store) => store.describe(),
        }
    }
}
