//! How an instance's streams in flight are known to belong to a live
//! instance. Each store holds, on a connection of its own, a session
//! advisory lock on a key of its own (its `owner`); PostgreSQL releases it
//! when the session ends, however the instance died (`kill -9`, a lost
//! machine: the server notices the connection gone). So a stream whose
//! owner's lock can be taken is one nobody is writing: any instance may
//! then delete it, and does, at start and every [`SWEEP_EVERY`]. A stream
//! a live instance is writing is never touched by another.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use postgres::Client;
use rand::RngExt;

use super::connect::Target;
use super::locks::LOCK_SPACE;
use crate::store::StoreError;

/// How often streams of dead instances are looked for.
pub(super) const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// This instance's liveness lock and the streams it is writing.
pub(super) struct Liveness {
    client: Mutex<Client>,
    owner: AtomicI32,
    /// Streams begun and neither abandoned nor named by a message yet:
    /// the only ones of this owner that a sweep keeps.
    writing: Mutex<HashSet<i64>>,
}

impl Liveness {
    /// Takes a liveness key of its own on `client`.
    pub(super) fn take(mut client: Client) -> Result<Liveness, StoreError> {
        let owner = lock_some_key(&mut client)?;
        Ok(Liveness {
            client: Mutex::new(client),
            owner: AtomicI32::new(owner),
            writing: Mutex::default(),
        })
    }

    /// This instance's key, as the `owner` of its streams.
    pub(super) fn owner(&self) -> i32 {
        self.owner.load(Ordering::Relaxed)
    }

    pub(super) fn writing_set(&self) -> std::sync::MutexGuard<'_, HashSet<i64>> {
        self.writing.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a stream as being written, while its row is inserted: a
    /// sweep in between would otherwise take it for abandoned.
    pub(super) fn begin<T>(
        &self,
        insert: impl FnOnce() -> Result<(T, i64), StoreError>,
    ) -> Result<T, StoreError> {
        let mut writing = self.writing_set();
        let (value, id) = insert()?;
        writing.insert(id);
        Ok(value)
    }

    /// A stream is named by a message now, or gone.
    pub(super) fn done(&self, id: i64) {
        self.writing_set().remove(&id);
    }

    /// Takes the lock again on a new connection when the old one is gone
    /// (the database restarted): under a new key if another instance took
    /// the old one meanwhile, whose streams are then swept as dead. With
    /// `probe`, a connection not known to be closed is asked whether it
    /// still answers (a round trip); without, it is taken at its word.
    pub(super) fn renew(&self, target: &Target, probe: bool) -> Result<(), StoreError> {
        let mut client = self.client.lock().unwrap_or_else(|e| e.into_inner());
        if !client.is_closed() && (!probe || client.simple_query("").is_ok()) {
            return Ok(());
        }
        let mut fresh = target.connect()?;
        let owner = self.owner();
        let again: bool = fresh
            .query_one(
                "SELECT pg_try_advisory_lock($1, $2)",
                &[&LOCK_SPACE, &owner],
            )?
            .get(0);
        if !again {
            self.owner
                .store(lock_some_key(&mut fresh)?, Ordering::Relaxed);
        }
        *client = fresh;
        Ok(())
    }
}

/// Locks a random key no live instance holds (0 is the migrations' lock).
fn lock_some_key(client: &mut Client) -> Result<i32, StoreError> {
    loop {
        let key = rand::rng().random_range(1..i32::MAX);
        let taken: bool = client
            .query_one("SELECT pg_try_advisory_lock($1, $2)", &[&LOCK_SPACE, &key])?
            .get(0);
        if taken {
            return Ok(key);
        }
    }
}
