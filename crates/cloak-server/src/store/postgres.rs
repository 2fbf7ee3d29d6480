//! The shared store: PostgreSQL, for several server instances behind one
//! load balancer. Every message, queued message and stream lives in the
//! database, so any instance serves any message and an instance can be
//! replaced at any time. The promises are the embedded store's: a message
//! is acknowledged only after its transaction committed (with PostgreSQL's
//! `synchronous_commit`, see docs/SCALING.md), nothing half-stored is ever
//! visible, a retry landing on another instance is stored once (the
//! primary key decides, `ON CONFLICT DO NOTHING`; the loser discards its
//! stream), and the limits hold across instances (see `room`).

use std::sync::Arc;

use postgres::error::SqlState;

mod connect;
mod inner;
mod liveness;
mod locks;
mod messages;
mod pgpass;
mod queue;
mod room;
mod schema;
mod streams;
#[cfg(test)]
mod tests;

use connect::Target;
use inner::Inner;
pub use inner::PgStore;
use liveness::Liveness;

use super::{Limits, StoreError};

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        match e.code() {
            Some(&SqlState::DISK_FULL) => StoreError::DiskFull,
            Some(&SqlState::READ_ONLY_SQL_TRANSACTION) => StoreError::ReadOnly,
            _ => StoreError::Postgres(e),
        }
    }
}

impl PgStore {
    /// Connects to `url`, brings its schema up to date (or refuses a newer
    /// one) and takes this instance's liveness lock; with at most
    /// `pool_size` connections. As the server (`as_server`), it also
    /// deletes the streams of dead instances, now and every minute.
    pub fn open(
        url: &str,
        limits: Limits,
        pool_size: u32,
        as_server: bool,
    ) -> Result<PgStore, StoreError> {
        Self::open_with(Target::parse(url, None)?, limits, pool_size, as_server)
    }

    /// [`PgStore::open`] with the password given, for tests.
    #[cfg(test)]
    pub(crate) fn open_with_password(
        url: &str,
        password: &str,
        limits: Limits,
        as_server: bool,
    ) -> Result<PgStore, StoreError> {
        Self::open_with(Target::parse(url, Some(password))?, limits, 8, as_server)
    }

    fn open_with(
        target: Target,
        mut limits: Limits,
        pool_size: u32,
        as_server: bool,
    ) -> Result<PgStore, StoreError> {
        // The database counts in bigint.
        limits.max_bytes = limits.max_bytes.min(i64::MAX as u64);
        let unreachable = |e: StoreError| {
            let why = match &e {
                StoreError::Postgres(e) => super::error::causes(e),
                other => other.to_string(),
            };
            StoreError::Unfit(format!("cannot reach PostgreSQL at {target}: {why}"))
        };
        let mut client = target.connect().map_err(unreachable)?;
        schema::migrate(&mut client, &target.to_string())?;
        let live = Liveness::take(client)?;
        let pool = target.pool(pool_size)?;
        let discarder = inner::Discarder::start(pool.clone());
        let inner = Arc::new(Inner {
            pool,
            limits,
            live,
            target,
            discarder,
        });
        if as_server {
            // Only a server sets the shared limit: an operator command's
            // default must not replace the one the instances run with.
            inner.transaction(|tx| room::set_limit(tx, limits.max_bytes))?;
            inner::sweep(&inner)?;
            inner::spawn_sweeper(Arc::downgrade(&inner));
        }
        Ok(PgStore { inner })
    }

    /// The database, as log lines name it (no password).
    pub fn describe(&self) -> String {
        self.inner.target.to_string()
    }
}
