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
//! Streams not yet verified come from anyone holding the server's public
//! key. Once the store is more than [`CROWDED`] full, a sender address that
//! already holds [`SENDER_SHARE`] of the limit in such streams gets no more
//! room: a single host cannot keep the store full with streams it never
//! finishes, while one honest large upload into a roomy store may still
//! take most of it.
//!
//! The limit is kept per process: an operator command writing beside a
//! running server sees the stored bytes, not the server's streams in
//! flight.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use super::StoreError;

/// The part of the limit one sender address may hold in streams being
/// received once the store is crowded: an eighth.
pub const SENDER_SHARE: u64 = 8;

/// When the store counts as crowded: past seven eighths of its limit, so
/// that the last eighth is left for everybody else.
pub const CROWDED: (u64, u64) = (7, 8);

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
    /// The same, per sender address (for streams from the network).
    by_sender: HashMap<IpAddr, u64>,
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
    /// `adding` more fit beside them and the streams in flight. When they
    /// do, they count as stored from now on: the caller is about to write
    /// them, and a stream growing meanwhile must not take their room.
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
        counts.stored += adding;
        Ok(())
    }

    /// An empty reservation, to grow as a stream is spooled; counted
    /// against `sender`'s share too, when it comes from the network.
    /// Bytes reserved by streams being spooled.
    pub(crate) fn reserved(&self) -> u64 {
        self.counts().reserved
    }

    pub(crate) fn reservation(self: &Arc<Self>, sender: Option<IpAddr>) -> Reservation {
        Reservation {
            room: Arc::clone(self),
            bytes: 0,
            sender,
        }
    }
}

/// Bytes reserved for one stream; given back when dropped.
#[derive(Debug)]
pub(crate) struct Reservation {
    room: Arc<Room>,
    bytes: u64,
    sender: Option<IpAddr>,
}

impl Reservation {
    /// Reserves `more` bytes, or says the store is full.
    pub(crate) fn grow(&mut self, more: u64) -> Result<(), StoreError> {
        let mut counts = self.room.counts();
        let used = counts.stored + counts.reserved;
        let share = self.room.max / SENDER_SHARE;
        let crowded =
            (used + more).saturating_mul(CROWDED.1) > self.room.max.saturating_mul(CROWDED.0);
        let over_share = crowded
            && self.sender.is_some_and(|sender| {
                counts.by_sender.get(&sender).copied().unwrap_or(0) + more > share
            });
        if used + more > self.room.max || over_share {
            return Err(StoreError::Full {
                used,
                max: self.room.max,
            });
        }
        counts.reserved += more;
        if let Some(sender) = self.sender {
            *counts.by_sender.entry(sender).or_default() += more;
        }
        self.bytes += more;
        Ok(())
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut counts = self.room.counts();
        counts.reserved -= self.bytes;
        if let Some(sender) = self.sender
            && let Some(held) = counts.by_sender.get_mut(&sender)
        {
            *held -= self.bytes;
            if *held == 0 {
                counts.by_sender.remove(&sender);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_and_stored_messages_share_one_limit() {
        let room = Room::new(1000);
        room.check(300, 0).unwrap();
        let mut one = room.reservation(None);
        let mut two = room.reservation(None);
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
        // Room checked for a message counts at once, before its row is
        // read back: a stream cannot take it meanwhile.
        room.check(300, 400).unwrap();
        assert!(room.reservation(None).grow(1).is_err());
        drop(two);
        room.check(700, 300).unwrap();
        assert!(room.check(700, 301).is_err());
    }

    #[test]
    fn one_sender_address_may_crowd_the_store_only_to_seven_eighths() {
        let room = Room::new(8000);
        let sender = IpAddr::from([127, 0, 0, 2]);
        let (mut one, mut two) = (
            room.reservation(Some(sender)),
            room.reservation(Some(sender)),
        );
        // One large upload into a roomy store is not held back.
        one.grow(6000).unwrap();
        two.grow(1000).unwrap();
        assert!(two.grow(1).is_err(), "past 7000 with more than an eighth");
        // The last eighth stays for others.
        let mut other = room.reservation(Some(IpAddr::from([127, 0, 0, 1])));
        other.grow(1000).unwrap();
        assert!(other.grow(1).is_err(), "the limit itself");
        drop((one, two));
        room.reservation(Some(sender)).grow(5000).unwrap();
        assert!(!room.counts().by_sender.contains_key(&sender), "forgotten");
    }
}
