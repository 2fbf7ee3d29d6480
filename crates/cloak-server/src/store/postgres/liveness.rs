//! How an instance's streams in flight are known to belong to a live
//! instance. Each store holds, on a connection of its own, a session
//! advisory lock on a key of its own (its `owner`); PostgreSQL releases it
//! when the session ends, however the instance died (`kill -9`; a lost
//! machine once TCP keepalives give its connection up, about a minute,
//! see `connect`). So a stream whose owner's lock can be taken is one
//! nobody is writing: any instance may then delete it, and does, at start
//! and every [`SWEEP_EVERY`]. An instance asks its session whether it still
//! holds its lock before each stream it begins (and on every health check),
//! so a live instance that lost its session (the database restarted)
//! takes it again before it writes; a stream it was writing meanwhile may
//! be swept, and its upload then fails without a receipt.

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

/// This instance's liveness lock.
pub(super) struct Liveness {
    /// Used for nothing but holding the lock and asking whether it still
    /// holds it.
    client: Mutex<Client>,
    owner: AtomicI32,
}

impl Liveness {
    /// Takes a liveness key of its own on `client`.
    pub(super) fn take(mut client: Client) -> Result<Liveness, StoreError> {
        let owner = lock_some_key(&mut client)?;
        Ok(Liveness {
            client: Mutex::new(client),
            owner: AtomicI32::new(owner),
        })
    }

    /// This instance's key, as the `owner` of its streams.
    pub(super) fn owner(&self) -> i32 {
        self.owner.load(Ordering::Relaxed)
    }

    /// Makes sure the lock is held: its session is asked whether it still
    /// answers (a round trip; an idle client cannot know that its session
    /// ended), and when it does not (the database restarted, the session
    /// was terminated), the lock is taken again on a new connection, under
    /// a new key if another instance took the old one meanwhile (whose
    /// streams are then swept as dead).
    pub(super) fn renew(&self, target: &Target) -> Result<(), StoreError> {
        let mut client = self.client.lock().unwrap_or_else(|e| e.into_inner());
        if !client.is_closed() && client.simple_query("").is_ok() {
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
