//! `flood`: what one address flooding the server with hostile requests
//! does to an honest client on another address. The honest client's send
//! latency is measured unloaded, then again while attackers from the
//! flooding address (127.0.0.2 by default; all of 127/8 is loopback on
//! Linux) send requests as fast as the server lets them, each on its own
//! connection; both go on one output line, side by side.
//!
//! The attackers run on one thread of their own, so that on a small
//! machine they take at most one core from the server and the honest
//! client, and the honest client never waits behind them in this process.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use cloak_client::{ClientConfig, Source, send_with};
use cloak_core::keydir::{KeyDir, Role};
use cloak_core::{KeyPair, Mode, PublicKey};

use crate::attack::Attack;
use crate::hostile::{self, Tally};
use crate::latency::p50_p99;

/// The honest client's side.
pub struct Honest {
    /// Key folder of an authorized client (and the server's public key).
    pub keys: std::path::PathBuf,
    pub mode: Mode,
    /// Text bytes per message.
    pub size: usize,
    /// Seconds to send for, unloaded and again under the flood.
    pub seconds: f64,
    /// Limit on connecting and on each read and write of a send.
    pub timeout: Duration,
}

/// The flood's shape.
pub struct Flood {
    /// Attacker connections at once.
    pub connections: usize,
    /// Seconds of flood before the honest client starts measuring.
    pub warmup: f64,
}

/// Honest sends: the latencies of those that got their receipt, and how
/// many did not.
struct Samples {
    latencies: Vec<Duration>,
    failed: usize,
}

impl Samples {
    fn fields(&mut self, phase: &str) -> String {
        let max = self.latencies.iter().max().copied().unwrap_or_default();
        format!(
            "{phase}_sends {} {phase}_failed {} {} {phase}_max_ms {:.2}",
            self.latencies.len(),
            self.failed,
            p50_p99(&format!("{phase}_"), &mut self.latencies),
            max.as_secs_f64() * 1e3
        )
    }
}

pub fn run(attack: &Attack, flood: &Flood, honest: &Honest) -> anyhow::Result<()> {
    let frames = Arc::new(attack.frames()?);
    let dir = KeyDir::new(&honest.keys);
    let me = dir.load_own(Role::Client)?;
    let pinned = dir.load_peer(Role::Server)?;
    let config = ClientConfig {
        addr: attack.addr.clone(),
        keys: dir,
        mode: honest.mode,
        show_wire: false,
        timeout: honest.timeout,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("runtime")?;
    let send = |seconds| runtime.block_on(sends(&config, &me, &pinned, honest.size, seconds));

    let mut unloaded = send(honest.seconds);
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let attackers = start_flood(attack, flood.connections, &frames, &tally, &stop)?;
    std::thread::sleep(Duration::from_secs_f64(flood.warmup));
    let mut flooded = send(honest.seconds);
    stop.store(true, Ordering::Relaxed);
    let flood_seconds = started.elapsed().as_secs_f64();
    attackers
        .join()
        .map_err(|_| anyhow::anyhow!("the attackers' thread panicked"))?;

    println!(
        "flood {} connections {} from {} honest_mode {} honest_size {} {} {} attack_requests {} attack_per_sec {:.1} {}",
        attack.describe(&frames),
        flood.connections,
        attack.from.map_or("any".into(), |ip| ip.to_string()),
        honest.mode,
        honest.size,
        unloaded.fields("unloaded"),
        flooded.fields("flood"),
        tally.sent(),
        tally.sent() as f64 / flood_seconds,
        tally.fields()
    );
    Ok(())
}

/// Sends one message after the other for `seconds`.
async fn sends(
    config: &ClientConfig,
    me: &KeyPair,
    server: &PublicKey,
    size: usize,
    seconds: f64,
) -> Samples {
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let mut samples = Samples {
        latencies: Vec::new(),
        failed: 0,
    };
    while Instant::now() < until {
        let start = Instant::now();
        match send_with(config, me, server, Source::Text(vec![b'x'; size])).await {
            Ok(_) => samples.latencies.push(start.elapsed()),
            Err(_) => samples.failed += 1,
        }
    }
    samples
}

/// `connections` attackers on a thread of their own, each sending the
/// request again as soon as the last one is done, until `stop`.
fn start_flood(
    attack: &Attack,
    connections: usize,
    frames: &Arc<Vec<u8>>,
    tally: &Arc<Tally>,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<JoinHandle<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("attackers' runtime")?;
    let (server, from, hang_up) = (attack.server()?, attack.from, attack.hang_up);
    let (frames, tally, stop) = (Arc::clone(frames), Arc::clone(tally), Arc::clone(stop));
    Ok(std::thread::spawn(move || {
        runtime.block_on(async {
            for _ in 0..connections {
                let (frames, tally, stop) = (frames.clone(), tally.clone(), stop.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let outcome = hostile::one(server, from, &frames, hang_up).await;
                        tally.add(outcome);
                        if outcome == hostile::Outcome::Failed {
                            // Out of ports or refused: let the rest go on.
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                });
            }
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        // Requests still waiting for an answer are dropped, not awaited:
        // against a server with a long queue that could take minutes.
        runtime.shutdown_background();
    }))
}
