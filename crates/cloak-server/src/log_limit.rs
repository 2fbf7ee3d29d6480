//! How often a refusal may be written to the logs and the console.
//!
//! Every refused request is worth a line to the operator, but a peer that
//! sends thousands of bad requests must not fill the disk through the log.
//! Each address (counted as the pool counts it) gets a burst of
//! [`PEER_BURST`] lines and then one every [`PEER_EVERY`]; all addresses
//! together a burst of [`ALL_BURST`] and one every [`ALL_EVERY`]. Refusals
//! not written are counted, and the next line written for that address
//! says how many were left out. An operator chasing a problem (or a test
//! matching each attack to its refusal) may lift the limit with
//! `--log-every-refusal`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::pool::fairness_key;

/// Lines one address may write at once.
pub const PEER_BURST: u32 = 20;
/// Then one line per this long.
pub const PEER_EVERY: Duration = Duration::from_secs(5);
/// Lines all addresses together may write at once.
pub const ALL_BURST: u32 = 200;
/// Then one line per this long.
pub const ALL_EVERY: Duration = Duration::from_millis(100);
/// Addresses tracked at most; beyond, those with a full bucket (nothing to
/// remember) are forgotten, and if that is not enough, all of them.
const MAX_PEERS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(burst: u32, now: Instant) -> Self {
        Bucket {
            tokens: f64::from(burst),
            at: now,
        }
    }

    fn refill(&mut self, burst: u32, every: Duration, now: Instant) {
        let earned = now.duration_since(self.at).as_secs_f64() / every.as_secs_f64();
        self.tokens = (self.tokens + earned).min(f64::from(burst));
        self.at = now;
    }
}

struct Peer {
    bucket: Bucket,
    left_out: u64,
}

struct Limits {
    peers: HashMap<IpAddr, Peer>,
    all: Bucket,
}

/// The server's refusal log limiter.
pub(crate) struct RefusalLog {
    limits: Mutex<Limits>,
    unlimited: bool,
}

impl Default for RefusalLog {
    fn default() -> Self {
        RefusalLog {
            limits: Mutex::new(Limits {
                peers: HashMap::new(),
                all: Bucket::full(ALL_BURST, Instant::now()),
            }),
            unlimited: false,
        }
    }
}

impl RefusalLog {
    /// Whether a refusal from `peer` may be written now: `Some(n)` with
    /// the number of its refusals left out since its last line, or `None`
    /// (and it is counted) when it must be left out.
    pub(crate) fn admit(&self, peer: IpAddr) -> Option<u64> {
        if self.unlimited {
            return Some(0);
        }
        self.admit_at(fairness_key(peer), Instant::now())
    }

    /// A log that writes every refusal.
    pub(crate) fn unlimited() -> Self {
        RefusalLog {
            unlimited: true,
            ..RefusalLog::default()
        }
    }

    fn admit_at(&self, peer: IpAddr, now: Instant) -> Option<u64> {
        let mut limits = self.limits.lock().unwrap_or_else(|e| e.into_inner());
        let Limits { peers, all } = &mut *limits;
        if peers.len() >= MAX_PEERS && !peers.contains_key(&peer) {
            peers.retain(|_, p| {
                p.bucket.refill(PEER_BURST, PEER_EVERY, now);
                p.left_out > 0 || p.bucket.tokens < f64::from(PEER_BURST)
            });
            if peers.len() >= MAX_PEERS {
                peers.clear();
            }
        }
        let entry = peers.entry(peer).or_insert_with(|| Peer {
            bucket: Bucket::full(PEER_BURST, now),
            left_out: 0,
        });
        entry.bucket.refill(PEER_BURST, PEER_EVERY, now);
        all.refill(ALL_BURST, ALL_EVERY, now);
        if entry.bucket.tokens < 1.0 || all.tokens < 1.0 {
            entry.left_out += 1;
            return None;
        }
        entry.bucket.tokens -= 1.0;
        all.tokens -= 1.0;
        Some(std::mem::take(&mut entry.left_out))
    }
}

/// The note to add to a line written after `left_out` were not.
pub(crate) fn left_out_note(left_out: u64) -> String {
    match left_out {
        0 => String::new(),
        n => format!(" ({n} earlier refusals from this address not logged)"),
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));

    #[test]
    fn a_flood_is_cut_to_its_burst_and_the_next_line_counts_the_rest() {
        let log = RefusalLog::default();
        let start = Instant::now();
        let written = (0..1000)
            .filter(|_| log.admit_at(A, start).is_some())
            .count();
        assert_eq!(written, PEER_BURST as usize);
        // Another address is not held back by the flood.
        assert_eq!(log.admit_at(B, start), Some(0));
        // One interval later, one more line, which counts those left out.
        let later = start + PEER_EVERY;
        assert_eq!(log.admit_at(A, later), Some(1000 - u64::from(PEER_BURST)));
        assert_eq!(log.admit_at(A, later), None);
    }

    #[test]
    fn all_addresses_together_are_bounded_too() {
        let log = RefusalLog::default();
        let now = Instant::now();
        let written = (0..10_000u32)
            .filter(|i| log.admit_at(IpAddr::V4(Ipv4Addr::from(*i)), now).is_some())
            .count();
        assert_eq!(written, ALL_BURST as usize);
        assert!(log.limits.lock().unwrap().peers.len() <= MAX_PEERS);
    }

    #[test]
    fn an_unlimited_log_writes_every_refusal() {
        let log = RefusalLog::unlimited();
        assert!((0..1000).all(|_| log.admit(A) == Some(0)));
    }
}
