//! One reservation for the store's size limit, shared by the messages
//! stored and every stream still being spooled.
//!
//! A stream is written to disk while it arrives, before it is verified. If
//! each stream were allowed whatever room was left when it started, N
//! streams at once could write N times that (three streams once wrote
//! 911 MB under a 400 MB limit). Instead every spooled frame reserves its
//! bytes here first, against the bytes stored plus the bytes every other
//! stream has reserved; a stream gives its reservation back when it is
//! committed (its row then counts instead) or dropped.
//!
//! The limit is kept per process: an operator command writing beside a
//! running server sees the stored bytes, not the server's streams in
//! flight.

use std::sync::{Arc, Mutex, MutexGuard};

use super::StoreError;

/// The size limit and what counts against it.
#[derive(Debug)]
pub(crate) struct Room {
    max: u64,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    /// Bytes of stored messages, as last read from the database.
    stored: u64,
    /// Bytes reserved by streams being spooled.
    reserved: u64,
}

impl Room {
    pub(crate) fn new(max: u64) -> Arc<Room> {
        Arc::new(Room {
            max,
            counts: Mutex::default(),
        })
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the stored bytes just read in a transaction, and checks that
    /// `adding` more fit beside them and the streams in flight.
    pub(crate) fn check(&self, stored: u64, adding: u64) -> Result<(), StoreError> {
        let mut counts = self.counts();
        counts.stored = stored;
        let used = stored + counts.reserved;
        if used + adding > self.max {
            return Err(StoreError::Full {
                used,
                max: self.max,
            });
        }
        Ok(())
    }

    /// An empty reservation, to grow as a stream is spooled.
    pub(crate) fn reservation(self: &Arc<Self>) -> Reservation {
        Reservation {
            room: Arc::clone(self),
            bytes: 0,
        }
    }
}

/// Bytes reserved for one stream; given back when dropped.
#[derive(Debug)]
pub(crate) struct Reservation {
    room: Arc<Room>,
    bytes: u64,
}

impl Reservation {
    /// Reserves `more` bytes, or says the store is full.
    pub(crate) fn grow(&mut self, more: u64) -> Result<(), StoreError> {
        let mut counts = self.room.counts();
        let used = counts.stored + counts.reserved;
        if used + more > self.room.max {
            return Err(StoreError::Full {
                used,
                max: self.room.max,
            });
        }
        counts.reserved += more;
        self.bytes += more;
        Ok(())
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.room.counts().reserved -= self.bytes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_and_stored_messages_share_one_limit() {
        let room = Room::new(1000);
        room.check(300, 0).unwrap();
        let mut one = room.reservation();
        let mut two = room.reservation();
        one.grow(400).unwrap();
        // The second stream gets what the first left, not all that was left
        // when it started.
        assert!(matches!(
            two.grow(301),
            Err(StoreError::Full {
                used: 700,
                max: 1000
            })
        ));
        two.grow(300).unwrap();
        assert!(room.check(300, 1).is_err(), "a stored message neither");
        drop(one);
        room.check(300, 400).unwrap();
        drop(two);
        room.check(300, 700).unwrap();
        assert!(room.check(300, 701).is_err());
    }
}
