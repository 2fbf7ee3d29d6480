//! The one pool for the server's expensive work: every request decision
//! (RSA private-key operations, signature checks, the store) runs here, on
//! as many slots as the machine has cores, shared fairly between peer
//! addresses.
//!
//! Fairness is per step, not per request: an asymmetric envelope costs one
//! private-key operation per block (up to a few hundred), so work that
//! takes several operations hands its slot back between them whenever
//! another address is waiting ([`Turn::pace`]). Slots go round robin over
//! the addresses that wait, so a peer flooding from one address gets its
//! share of the cores, and everybody else theirs.
//!
//! Admission is bounded: [`PER_PEER_JOBS`] per address and [`MAX_JOBS`] in
//! all, waiting or running; beyond that a request is refused at once as
//! busy rather than queued. A job whose connection has gone is dropped
//! before it starts, and stops at its next step.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;
use tracing::error;

/// Requests one address may have waiting or running at once. Several
/// clients on one host or behind one NAT send at the same moment (the
/// bench runs 64 from one address); a flooding address gains nothing from
/// a longer queue, since slots go round robin between addresses anyway,
/// and a bounded one keeps what it can make the server hold in check.
pub const PER_PEER_JOBS: usize = 64;

/// Requests admitted server-wide. Beyond that a request is refused at once
/// as busy, to be retried, rather than queued for longer than a client
/// waits for its answer; except for an address with nothing admitted (see
/// [`NEWCOMER_JOBS`]).
pub const MAX_JOBS: usize = 256;

/// Room beyond [`MAX_JOBS`] for addresses with nothing admitted: a handful
/// of flooding addresses that fill the queue must not lock every other
/// address out, which round robin alone cannot prevent once nobody else is
/// admitted. Together, well under the runtime's 512 blocking threads, so a
/// job holding a slot always finds a thread to run on.
pub const NEWCOMER_JOBS: usize = 128;

/// Why the pool did not run a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The address, or the server, has as many requests admitted as it may.
    Busy,
    /// The job panicked (logged); the peer gets an internal error.
    Failed,
}

/// The fair pool; cheap to share.
#[derive(Clone)]
pub(crate) struct Pool {
    shared: Arc<Shared>,
    slots: usize,
}

/// What the pool holds at one moment (see [`Pool::depth`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Depth {
    /// Requests waiting for a slot (one withdrawn meanwhile still counts
    /// until its turn comes).
    pub waiting: usize,
    /// Slots held.
    pub running: usize,
    /// Requests admitted, waiting or running.
    pub admitted: usize,
}

struct Shared {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Slots nobody holds.
    free: usize,
    /// Per address: the waiters for a slot, in arrival order.
    waiting: HashMap<IpAddr, VecDeque<oneshot::Sender<Slot>>>,
    /// Addresses with waiters, in the order they get their next slot.
    turns: VecDeque<IpAddr>,
    /// Per address: requests admitted and not yet finished.
    admitted: HashMap<IpAddr, usize>,
    /// Requests admitted in all.
    total: usize,
}

/// The address a peer is counted under. An IPv6 site is usually delegated
/// a /56 or a /48, so one site could otherwise count as 2^72 peers: IPv6
/// addresses count per /48. IPv4 addresses carried in IPv6 (mapped, 6to4,
/// NAT64) count as the IPv4 address they carry.
pub(crate) fn fairness_key(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else { return ip };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    let bits = u128::from(v6);
    let segments = v6.segments();
    if segments[0] == 0x2002 {
        // 6to4: 2002:AABB:CCDD::/48 is the IPv4 address AA.BB.CC.DD.
        return IpAddr::V4(std::net::Ipv4Addr::from((bits >> 80) as u32));
    }
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        // NAT64's well-known prefix: the IPv4 address is the last 32 bits.
        return IpAddr::V4(std::net::Ipv4Addr::from(bits as u32));
    }
    IpAddr::V6((bits & !((1u128 << 80) - 1)).into())
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing here can panic with the lock held but an allocation
        // failure; the counters stay usable either way.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Gives a freed slot to the next waiting address, or keeps it free.
    fn hand_over(self: &Arc<Self>) {
        let mut state = self.lock();
        while let Some(peer) = state.turns.pop_front() {
            let Some(queue) = state.waiting.get_mut(&peer) else {
                continue;
            };
            let next = queue.pop_front();
            if queue.is_empty() {
                state.waiting.remove(&peer);
            } else {
                state.turns.push_back(peer);
            }
            let Some(next) = next else { continue };
            let slot = Slot {
                shared: Some(Arc::clone(self)),
            };
            match next.send(slot) {
                Ok(()) => return,
                // That waiter went away: not its slot's drop (which would
                // lock again), just the next waiter.
                Err(mut slot) => slot.shared = None,
            }
        }
        state.free += 1;
    }

    /// A slot now, or a place in `peer`'s queue for one.
    fn request(self: &Arc<Self>, peer: IpAddr) -> Result<Slot, oneshot::Receiver<Slot>> {
        let mut state = self.lock();
        if state.free > 0 && state.turns.is_empty() {
            state.free -= 1;
            return Ok(Slot {
                shared: Some(Arc::clone(self)),
            });
        }
        let (sender, receiver) = oneshot::channel();
        let queue = state.waiting.entry(peer).or_default();
        let first = queue.is_empty();
        queue.push_back(sender);
        if first {
            state.turns.push_back(peer);
        }
        Err(receiver)
    }

    /// A slot for `peer` when its turn comes, the wait counted.
    async fn slot(self: &Arc<Self>, peer: IpAddr) -> Result<Slot, Refused> {
        let asked = std::time::Instant::now();
        let slot = match self.request(peer) {
            Ok(slot) => slot,
            Err(receiver) => receiver.await.map_err(|_| Refused::Failed)?,
        };
        crate::metrics::waited(asked.elapsed());
        Ok(slot)
    }

    fn others_waiting(&self) -> bool {
        !self.lock().turns.is_empty()
    }
}

/// The right to use one core; handed to the next waiter when dropped.
struct Slot {
    shared: Option<Arc<Shared>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            shared.hand_over();
        }
    }
}

/// An admitted request: counts against its address until dropped.
struct Admission {
    shared: Arc<Shared>,
    peer: IpAddr,
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.total -= 1;
        if let Some(count) = state.admitted.get_mut(&self.peer) {
            *count -= 1;
            if *count == 0 {
                state.admitted.remove(&self.peer);
            }
        }
    }
}

/// A request admitted for async code (see [`Pool::admit`]).
pub(crate) struct Admitted {
    shared: Arc<Shared>,
    peer: IpAddr,
    _admission: Admission,
}

/// A slot held by async code; given back when dropped.
pub(crate) struct Held {
    _slot: Slot,
}

impl Admitted {
    /// Waits for this request's next turn at a slot.
    pub(crate) async fn slot(&self) -> Result<Held, Refused> {
        let slot = self.shared.slot(self.peer).await?;
        Ok(Held { _slot: slot })
    }
}

/// What a job holds while it runs: its slot, and the means to share it.
pub(crate) struct Turn<'a> {
    shared: &'a Arc<Shared>,
    peer: IpAddr,
    slot: Option<Slot>,
    gone: &'a dyn Fn() -> bool,
}

impl Turn<'_> {
    /// Called between steps (private-key operations) of a longer job: lets
    /// waiting addresses go first, then goes on. `false` when nobody waits
    /// for the answer any more, and the job should stop.
    pub(crate) fn pace(&mut self) -> bool {
        if (self.gone)() {
            return false;
        }
        if !self.shared.others_waiting() {
            return true;
        }
        let next = match self.shared.request(self.peer) {
            Ok(slot) => slot,
            Err(receiver) => {
                // Handing ours over only after queueing keeps our place.
                drop(self.slot.take());
                match receiver.blocking_recv() {
                    Ok(slot) => slot,
                    Err(_) => return false,
                }
            }
        };
        drop(self.slot.replace(next));
        !(self.gone)()
    }
}

impl Pool {
    /// A pool with `slots` slots (at least one).
    pub(crate) fn new(slots: usize) -> Pool {
        let slots = slots.max(1);
        Pool {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    free: slots,
                    ..State::default()
                }),
            }),
            slots,
        }
    }

    /// Requests waiting for a slot, holding one, and admitted in all.
    pub(crate) fn depth(&self) -> Depth {
        let state = self.shared.lock();
        let waiting: usize = state.waiting.values().map(VecDeque::len).sum();
        Depth {
            waiting,
            running: self.slots.saturating_sub(state.free),
            admitted: state.total,
        }
    }

    /// One slot per core.
    pub(crate) fn per_core() -> Pool {
        Pool::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    }

    fn admission(&self, peer: IpAddr) -> Result<Admission, Refused> {
        let mut state = self.shared.lock();
        let mine = state.admitted.get(&peer).copied().unwrap_or(0);
        let limit = if mine == 0 {
            MAX_JOBS + NEWCOMER_JOBS
        } else {
            MAX_JOBS
        };
        if mine >= PER_PEER_JOBS || state.total >= limit {
            return Err(Refused::Busy);
        }
        state.admitted.insert(peer, mine + 1);
        state.total += 1;
        Ok(Admission {
            shared: Arc::clone(&self.shared),
            peer,
        })
    }

    /// Admits a request from `peer` whose slots the caller takes itself,
    /// as many times as it needs ([`Admitted::slot`]): for async code that
    /// does its private-key work in place (with `block_in_place`) between
    /// the writes of a stream it sends, and cannot hand that work to a
    /// thread of its own. Admitted once, so that a long stream is never
    /// refused as busy at its end.
    pub(crate) fn admit(&self, peer: IpAddr) -> Result<Admitted, Refused> {
        let peer = fairness_key(peer);
        Ok(Admitted {
            shared: Arc::clone(&self.shared),
            peer,
            _admission: self.admission(peer)?,
        })
    }

    /// Runs `work` for a request from `peer` once its turn comes, on a
    /// blocking thread, and returns its result. Dropping the returned
    /// future (the connection closed or timed out) withdraws the request:
    /// not started, it never runs; started, it stops at its next
    /// [`Turn::pace`].
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        peer: IpAddr,
        work: impl FnOnce(&mut Turn<'_>) -> T + Send + 'static,
    ) -> Result<T, Refused> {
        let peer = fairness_key(peer);
        let admission = self.admission(peer)?;
        let slot = self.shared.slot(peer).await?;
        let (answer, result) = oneshot::channel();
        let shared = Arc::clone(&self.shared);
        let job = tokio::task::spawn_blocking(move || {
            let _admission = admission;
            if answer.is_closed() {
                return;
            }
            let gone = || answer.is_closed();
            let mut turn = Turn {
                shared: &shared,
                peer,
                slot: Some(slot),
                gone: &gone,
            };
            let out = work(&mut turn);
            drop(turn);
            let _ = answer.send(out);
        });
        match result.await {
            Ok(out) => Ok(out),
            Err(_) => {
                if let Err(e) = job.await {
                    error!(%peer, "request processing failed: {e}");
                }
                Err(Refused::Failed)
            }
        }
    }
}

#[cfg(test)]
mod tests;
