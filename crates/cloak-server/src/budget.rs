//! Memory held for peers that have proven nothing yet, capped server-wide.
//!
//! Before its signature verifies, a request is somebody's bytes: a request
//! frame, or a stream's chunk buffers. Each connection reserves what it is
//! about to hold (a frame's declared length before reading it, a stream's
//! working set before its first chunk) from one budget, and gives it back
//! when its request is decided. One address may hold at most
//! [`PEER_SHARE`] of the budget, so a single flooding host cannot take it
//! all; when the budget is spent, a request waits for room up to the I/O
//! timeout and is then refused as busy.
//!
//! Reserving the declared length lets a peer hold room it has not sent
//! yet, but only for one frame's timeout, within its address's share, and
//! never more than the server's frame limit per connection.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::pool::fairness_key;

/// Default budget: 256 MiB. A client frame is at most about 257 KiB and a
/// stream's working set about 600 KiB, so this is several hundred
/// unauthenticated requests in flight: more than two cores can decide
/// within a timeout, and a small part of any server's memory.
pub const DEFAULT_PREAUTH_MEMORY: usize = 256 << 20;

/// The part of the budget one address may hold: one eighth.
pub const PEER_SHARE: usize = 8;

/// Budget accounting is in KiB, the semaphore's unit.
const UNIT: usize = 1024;

/// The server's budget; cheap to share.
#[derive(Clone)]
pub(crate) struct Budget {
    room: Arc<Semaphore>,
    held: Arc<Mutex<HashMap<IpAddr, usize>>>,
    peer_max: usize,
}

/// Room reserved for one peer; returned when dropped.
pub(crate) struct Reserved {
    _permit: OwnedSemaphorePermit,
    _share: Share,
}

/// Units counted against one address; uncounted when dropped, however the
/// reservation ends (given back, refused, or abandoned mid-wait).
struct Share {
    held: Arc<Mutex<HashMap<IpAddr, usize>>>,
    peer: IpAddr,
    units: usize,
}

impl Drop for Share {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(units) = held.get_mut(&self.peer) {
            *units -= self.units;
            if *units == 0 {
                held.remove(&self.peer);
            }
        }
    }
}

impl Budget {
    /// A budget of `bytes` (at least one frame's worth).
    pub(crate) fn new(bytes: usize) -> Budget {
        let units = bytes.div_ceil(UNIT).max(1024);
        Budget {
            room: Arc::new(Semaphore::new(units)),
            held: Arc::default(),
            peer_max: (units / PEER_SHARE).max(1024),
        }
    }

    /// Counts `units` against `peer`, unless that would pass its share.
    fn share(&self, peer: IpAddr, units: usize) -> Option<Share> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let mine = held.entry(peer).or_default();
        if *mine + units > self.peer_max {
            if *mine == 0 {
                held.remove(&peer);
            }
            return None;
        }
        *mine += units;
        Some(Share {
            held: Arc::clone(&self.held),
            peer,
            units,
        })
    }

    /// Reserves `bytes` for `peer`, waiting up to `wait` for room; `None`
    /// when the address holds its share already or no room came in time.
    pub(crate) async fn reserve(
        &self,
        peer: IpAddr,
        bytes: usize,
        wait: Duration,
    ) -> Option<Reserved> {
        let units = bytes.div_ceil(UNIT).max(1);
        // Counted against the address first, so that its concurrent
        // requests cannot all pass the check together.
        let share = self.share(fairness_key(peer), units)?;
        let acquire = Arc::clone(&self.room).acquire_many_owned(units as u32);
        let permit = tokio::time::timeout(wait, acquire).await.ok()?.ok()?;
        Some(Reserved {
            _permit: permit,
            _share: share,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
    const WAIT: Duration = Duration::from_millis(50);

    #[tokio::test]
    async fn one_address_holds_at_most_its_share_and_others_still_get_room() {
        let budget = Budget::new(64 << 20);
        let share = (64 << 20) / PEER_SHARE;
        let mut held = Vec::new();
        while let Some(r) = budget.reserve(A, 600 << 10, WAIT).await {
            held.push(r);
        }
        assert_eq!(held.len(), share / (600 << 10));
        assert!(budget.reserve(B, 600 << 10, WAIT).await.is_some());
        held.pop();
        assert!(
            budget.reserve(A, 600 << 10, WAIT).await.is_some(),
            "returned on drop"
        );
    }

    #[tokio::test]
    async fn a_wait_abandoned_midway_leaves_nothing_counted() {
        let budget = Budget::new(1 << 20);
        let _all = budget.reserve(A, 1 << 20, WAIT).await.unwrap();
        let waiting = budget.reserve(B, 1, Duration::from_secs(60));
        assert!(tokio::time::timeout(WAIT, waiting).await.is_err());
        assert!(!budget.held.lock().unwrap().contains_key(&B));
    }

    #[tokio::test]
    async fn a_spent_budget_refuses_after_the_wait_and_gives_back_on_drop() {
        let budget = Budget::new(1 << 20);
        let all = budget.reserve(A, 1 << 20, WAIT).await.unwrap();
        assert!(budget.reserve(B, 1, WAIT).await.is_none());
        let waiting = tokio::spawn({
            let budget = budget.clone();
            async move { budget.reserve(B, 1, Duration::from_secs(5)).await.is_some() }
        });
        tokio::time::sleep(WAIT).await;
        drop(all);
        assert!(waiting.await.unwrap());
        assert!(
            budget.held.lock().unwrap().is_empty(),
            "nothing left counted"
        );
    }
}
