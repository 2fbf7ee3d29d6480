//! The shared store: PostgreSQL, for several server instances behind one
//! load balancer. Every message, queued message and stream lives in the
//! database, so any instance serves any message and an instance can be
//! replaced at any time. The promises are the embedded store's: a message
//! is acknowledged only after its transaction committed (with PostgreSQL's
//! `synchronous_commit`, see docs/SCALING.md), nothing half-stored is ever
//! visible, a retry landing on another instance is stored once (the
//! primary key decides, `ON CONFLICT DO NOTHING`; the loser discards its
//! stream), and the limits hold across instances (see `room`).

use std::sync::{Arc, Weak};

use postgres::Transaction;
use postgres::error::SqlState;

mod connect;
mod liveness;
mod messages;
mod pgpass;
mod queue;
mod room;
mod schema;
mod streams;
#[cfg(test)]
mod tests;

use connect::{Conn, Pool, Target};
use liveness::Liveness;

use super::{Limits, StoreError};

/// The first key of every advisory lock this store takes (migrations,
/// liveness, per-mailbox and per-sender checks), so that they cannot
/// collide with another application's locks on the same database.
const LOCK_SPACE: i32 = 0x436c_6b52; // "ClkR"

/// The second key space of the transaction locks that make a check and
/// its insert one step for one mailbox or one sender (see `messages`).
const MAILBOX_LOCKS: i32 = LOCK_SPACE + 1;
const SENDER_LOCKS: i32 = LOCK_SPACE + 2;

/// Transactions retried at most this many times when PostgreSQL aborts
/// them for a deadlock or a serialization failure, which another
/// instance's concurrent transaction can cause and a retry resolves.
const RETRIES: usize = 5;

/// The PostgreSQL store.
pub struct PgStore {
    inner: Arc<Inner>,
}

/// What the store's streams share with it.
pub(crate) struct Inner {
    pool: Pool,
    limits: Limits,
    live: Liveness,
    target: Target,
}

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
        limits: Limits,
        pool_size: u32,
        as_server: bool,
    ) -> Result<PgStore, StoreError> {
        let unreachable =
            |e: StoreError| StoreError::Unfit(format!("cannot reach PostgreSQL at {target}: {e}"));
        let mut client = target.connect().map_err(unreachable)?;
        schema::migrate(&mut client, &target.to_string())?;
        let live = Liveness::take(client)?;
        let pool = target.pool(pool_size)?;
        let inner = Arc::new(Inner {
            pool,
            limits,
            live,
            target,
        });
        inner.transaction(|tx| room::set_limit(tx, limits.max_bytes))?;
        if as_server {
            liveness::sweep(&inner, &inner.target)?;
            spawn_sweeper(Arc::downgrade(&inner));
        }
        Ok(PgStore { inner })
    }

    /// The database, as log lines name it (no password).
    pub fn describe(&self) -> String {
        self.inner.target.to_string()
    }
}

/// Sweeps the streams of dead instances every minute, for as long as the
/// store lives.
fn spawn_sweeper(inner: Weak<Inner>) {
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(liveness::SWEEP_EVERY);
            let Some(inner) = inner.upgrade() else { return };
            match liveness::sweep(&inner, &inner.target) {
                Ok(0) => {}
                Ok(n) => tracing::info!("removed {n} stream(s) abandoned by dead instances"),
                Err(e) => tracing::warn!("sweeping abandoned streams: {e}"),
            }
        }
    });
}

impl Inner {
    /// A pooled connection, or the store is unavailable.
    fn conn(&self) -> Result<Conn, StoreError> {
        self.pool
            .get()
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    /// Runs `work` in one transaction, committed if it succeeds, retried
    /// when PostgreSQL aborted it for a deadlock or serialization failure.
    fn transaction<T>(
        &self,
        mut work: impl FnMut(&mut Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.transaction_or_not(|tx| work(tx).map(|value| (value, true)))
    }

    /// [`Inner::transaction`] for work that may decide, without failing,
    /// that nothing it did is to be kept (`false`: rolled back).
    fn transaction_or_not<T>(
        &self,
        mut work: impl FnMut(&mut Transaction<'_>) -> Result<(T, bool), StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn()?;
        let mut attempt = 0;
        loop {
            let mut tx = conn.transaction()?;
            let result = work(&mut tx).and_then(|(value, keep)| {
                if keep {
                    tx.commit()?;
                } else {
                    tx.rollback()?;
                }
                Ok(value)
            });
            match result {
                Err(StoreError::Postgres(e)) if retry(&e) && attempt < RETRIES => attempt += 1,
                other => return other,
            }
        }
    }

    /// Deletes a stream of this instance's that no message took; failing
    /// that (the database is away), the next sweep does, since the stream
    /// is no longer one being written.
    fn discard(&self, id: i64) {
        self.live.done(id);
        let owner = self.live.owner();
        if let Ok(mut conn) = self.conn() {
            let _ = conn.execute(
                "DELETE FROM streams WHERE id = $1 AND owner = $2",
                &[&id, &owner],
            );
        }
    }
}

fn retry(e: &postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(&SqlState::T_R_DEADLOCK_DETECTED | &SqlState::T_R_SERIALIZATION_FAILURE)
    )
}
