//! The store's shared state: its pool, limits, liveness and target, which
//! its streams hold too; transactions with retries; and the sweep of
//! streams nobody is writing.

use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

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
    pub(super) discarder: Discarder,
}

/// Sweeps the streams of dead instances every minute, for as long as the
/// store lives.
pub(super) fn spawn_sweeper(inner: Weak<Inner>) {
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(liveness::SWEEP_EVERY);
            let Some(inner) = inner.upgrade() else { return };
            // A panic here (a damaged row) must not end every later sweep.
            let swept = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sweep(&inner)))
                .unwrap_or_else(|_| Err(StoreError::Damaged("the sweep panicked".into())));
            match swept {
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

    /// Deletes a stream of this instance's that no message took. Only from
    /// a blocking context; failing that (the database is away), the
    /// discarder retries.
    pub(super) fn discard(&self, id: i64) {
        let owner = self.live.owner();
        if delete_stream(&self.pool, id, owner).is_err() {
            self.discarder.later(id, owner);
        }
    }
}

/// Deletes stream `id` if `owner` still owns it (not one a message took).
fn delete_stream(pool: &Pool, id: i64, owner: i32) -> Result<(), StoreError> {
    let mut conn = pool
        .get()
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    conn.execute(
        "DELETE FROM streams WHERE id = $1 AND owner = $2",
        &[&id, &owner],
    )?;
    Ok(())
}

/// Deletes abandoned streams on a thread of its own: a stream is abandoned
/// when its sink is dropped, which may happen on an async worker, where
/// the blocking client must not run (it would panic, and abort the server
/// while unwinding). Deletions that fail are retried until they succeed.
pub(super) struct Discarder {
    queue: Mutex<std::sync::mpsc::Sender<(i64, i32)>>,
}

/// How often failed deletions are retried.
const RETRY_EVERY: Duration = Duration::from_secs(10);

impl Discarder {
    pub(super) fn start(pool: Pool) -> Discarder {
        let (queue, work) = std::sync::mpsc::channel::<(i64, i32)>();
        std::thread::spawn(move || {
            let mut failed = Vec::new();
            loop {
                match work.recv_timeout(RETRY_EVERY) {
                    Ok(stream) => failed.push(stream),
                    Err(RecvTimeoutError::Timeout) => {}
                    // The store is gone: its streams are its restart's.
                    Err(RecvTimeoutError::Disconnected) => return,
                }
                failed.retain(|&(id, owner)| delete_stream(&pool, id, owner).is_err());
            }
        });
        Discarder {
            queue: Mutex::new(queue),
        }
    }

    /// Deletes stream `id` soon, without blocking.
    pub(super) fn later(&self, id: i64, owner: i32) {
        let queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let _ = queue.send((id, owner));
    }
}

fn retry(e: &postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(&SqlState::T_R_DEADLOCK_DETECTED | &SqlState::T_R_SERIALIZATION_FAILURE)
    )
}

/// Deletes the streams of instances whose liveness lock is free (dead
/// ones), each owner in a transaction holding that lock, so that an
/// instance cannot take the key back meanwhile. Returns how many.
pub(super) fn sweep(inner: &Inner) -> Result<u64, StoreError> {
    inner.live.renew(&inner.target)?;
    let me = inner.live.owner();
    let owners: Vec<i32> = inner
        .conn()?
        .query(
            "SELECT DISTINCT owner FROM streams WHERE owner IS NOT NULL AND owner <> $1",
            &[&me],
        )?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut swept = 0;
    for owner in owners {
        swept += inner.transaction(|tx| {
            let dead: bool = tx
                .query_one(
                    "SELECT pg_try_advisory_xact_lock($1, $2)",
                    &[&LOCK_SPACE, &owner],
                )?
                .get(0);
            if !dead {
                return Ok(0);
            }
            Ok(tx.execute("DELETE FROM streams WHERE owner = $1", &[&owner])?)
        })?;
    }
    Ok(swept)
}
