//! What a backend hands the contract: not a store but a place where one
//! lives, because half of what a store promises (durability, restarts,
//! several handles on one place) shows only when it is opened again.

use crate::store::{Limits, MessageStore};

/// A place where a store lives, opened again and again like a server restarting on it.
///
/// Only one store from [`Fixture::open`] is alive at a time, as one server
/// holds a place at a time: a test drops it before opening the place again.
pub(crate) trait Fixture {
    /// The store at this place, opened as its server opens it (sweeping a crash's leftovers), with `limits`.
    fn open(&self, limits: Limits) -> Box<dyn MessageStore>;

    /// Another handle on the same place beside the one [`Fixture::open`]
    /// gave, opened as an operator command or a second instance opens it:
    /// it sweeps nothing, since what looks like a leftover may be another
    /// handle's work in flight.
    fn open_beside(&self, limits: Limits) -> Box<dyn MessageStore>;
}
