//! The store's shared state: its pool, limits, liveness and target, which
//! its streams hold too; transactions with retries; and the sweep of
//! streams nobody is writing.

use std::sync::{Arc, Weak};

use postgres::Transaction;
use postgres::error::SqlState;

use super::connect::{Conn, Pool, Target};
use super::liveness::{self, Liveness};
use super::locks::LOCK_SPACE;
use crate::store::{Limits, StoreError};

/// Transactions retried at most this many times when PostgreSQL aborts
/// them for a deadlock or a serialization failure, which another
/// instance's concurrent transaction can cause and a retry resolves.
const RETRIES: usize = 5;

/// The PostgreSQL store.
pub struct PgStore {
    pub(super) inner: Arc<Inner>,
}

/// What the store's streams share with it.
pub(crate) struct Inner {
    pub(super) pool: Pool,
    pub(super) limits: Limits,
    pub(super) live: Liveness,
    pub(super) target: Target,
}

/// Sweeps the streams of dead instances every minute, for as long as the
/// store lives.
pub(super) fn spawn_sweeper(inner: Weak<Inner>) {
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(liveness::SWEEP_EVERY);
            let Some(inner) = inner.upgrade() else { return };
            match sweep(&inner) {
                Ok(0) => {}
                Ok(n) => tracing::info!("removed {n} stream(s) abandoned by dead instances"),
                Err(e) => tracing::warn!("sweeping abandoned streams: {e}"),
            }
        }
    });
}

impl Inner {
    /// A pooled connection, or the store is unavailable.
    pub(super) fn conn(&self) -> Result<Conn, StoreError> {
        self.pool
            .get()
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    /// Runs `work` in one transaction, committed if it succeeds, retried
    /// when PostgreSQL aborted it for a deadlock or serialization failure.
    pub(super) fn transaction<T>(
        &self,
        mut work: impl FnMut(&mut Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.transaction_or_not(|tx| work(tx).map(|value| (value, true)))
    }

    /// [`Inner::transaction`] for work that may decide, without failing,
    /// that nothing it did is to be kept (`false`: rolled back).
    pub(super) fn transaction_or_not<T>(
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
    pub(super) fn discard(&self, id: i64) {
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

/// Deletes the streams nobody is writing: this instance's own that it
/// abandoned while the database was out of reach, and those of instances
/// whose liveness lock is free. Returns how many.
pub(super) fn sweep(inner: &Inner) -> Result<u64, StoreError> {
    inner.live.renew(&inner.target, true)?;
    let me = inner.live.owner();
    let mut swept = {
        let writing = inner.live.writing_set();
        let keep: Vec<i64> = writing.iter().copied().collect();
        inner.conn()?.execute(
            "DELETE FROM streams WHERE owner = $1 AND NOT (id = ANY($2))",
            &[&me, &keep],
        )?
    };
    let mut conn = inner.conn()?;
    let owners: Vec<i32> = conn
        .query(
            "SELECT DISTINCT owner FROM streams WHERE owner IS NOT NULL AND owner <> $1",
            &[&me],
        )?
        .iter()
        .map(|row| row.get(0))
        .collect();
    for owner in owners {
        let dead: bool = conn
            .query_one(
                "SELECT pg_try_advisory_lock($1, $2)",
                &[&LOCK_SPACE, &owner],
            )?
            .get(0);
        if dead {
            let deleted = conn.execute("DELETE FROM streams WHERE owner = $1", &[&owner]);
            // Unlocked whatever the delete did: the connection goes back
            // to the pool.
            conn.execute("SELECT pg_advisory_unlock($1, $2)", &[&LOCK_SPACE, &owner])?;
            swept += deleted?;
        }
    }
    Ok(swept)
}
