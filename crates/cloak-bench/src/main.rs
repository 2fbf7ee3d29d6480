//! `cloak-bench`: the measurements `scripts/bench.sh` cannot make with the
//! command-line programs alone.
//!
//! - `rsa`: private-key operations per second of each crypto backend built
//!   in, for a key file (the bound on small-message throughput), measured
//!   in turn, round after round, so that both see the same machine.
//! - `small`: N concurrent clients sending 100-byte messages to a running
//!   server for a fixed time, each waiting for its verified receipt; prints
//!   throughput, p50/p99 latency and how many sends were refused. Keys are
//!   loaded once, as a long-running client would.
//! - `attack`: hostile requests of one kind, built as a peer holding only
//!   the server's public key can build them, one after the other; the
//!   server's CPU time over them, read by `scripts/bench.sh`, is what one
//!   unauthenticated request can cost it.
//! - `flood`: an honest client's send latency unloaded and while one other
//!   address floods the server with hostile requests.
#![forbid(unsafe_code)]

mod attack;
mod flood;
mod forge;
mod hostile;
mod latency;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use cloak_client::{ClientConfig, Source, send_with};
use cloak_core::keydir::{KeyDir, Role};
use cloak_core::{Backend, FreshnessCheck, KeyPair, Mode, OpenOptions, SealOptions};

use crate::attack::Attack;
use crate::flood::{Flood, Honest};
use crate::forge::Kind;

#[derive(Parser)]
#[command(name = "cloak-bench", about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// RSA private-key operations per second, one core.
    Rsa {
        /// Key folder holding `server_private.pem`.
        #[arg(long)]
        keys: PathBuf,
        /// Seconds to measure each operation.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
    },
    /// Small-message load against a running server.
    Small {
        /// Server address.
        #[arg(long)]
        addr: String,
        /// Client key folder.
        #[arg(long)]
        keys: PathBuf,
        /// asymmetric or hybrid.
        #[arg(long, value_parser = |s: &str| s.parse::<Mode>())]
        mode: Mode,
        /// Concurrent clients.
        #[arg(long)]
        clients: usize,
        /// Seconds to run.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Message size in bytes.
        #[arg(long, default_value_t = 100)]
        size: usize,
    },
    /// Hostile requests of one kind, one after the other.
    Attack {
        #[command(flatten)]
        request: RequestArgs,
        /// Requests to send at most.
        #[arg(long, default_value_t = 20)]
        count: u64,
        /// Start no request after this many seconds.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
    },
    /// Honest send latency, unloaded and while one address floods the
    /// server with hostile requests.
    Flood {
        #[command(flatten)]
        request: RequestArgs,
        /// Key folder of an authorized client, for the honest sends.
        #[arg(long)]
        honest_keys: PathBuf,
        /// The honest client's mode.
        #[arg(long, default_value = "hybrid", value_parser = |s: &str| s.parse::<Mode>())]
        honest_mode: Mode,
        /// The honest client's message size in bytes.
        #[arg(long, default_value_t = 100)]
        honest_size: usize,
        /// Seconds of honest sends, unloaded and again under the flood.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Seconds of flood before the honest sends start.
        #[arg(long, default_value_t = 2.0)]
        warmup: f64,
        /// Attacker connections at once.
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// The honest client's limit on connecting and on each read and
        /// write, in seconds.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
}

/// What an attacker sends, and from where.
#[derive(Args)]
struct RequestArgs {
    /// Server address.
    #[arg(long)]
    addr: String,
    /// Key folder holding the server's public key.
    #[arg(long)]
    keys: PathBuf,
    /// Key folder of a client key the server does not authorize (a fresh
    /// key of the server's size when absent).
    #[arg(long)]
    stranger: Option<PathBuf>,
    /// The request.
    #[arg(long, value_enum)]
    kind: Kind,
    /// Text bytes of the hybrid kinds' streams.
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// Source address of the attacker's connections (for `flood`,
    /// 127.0.0.2 when absent).
    #[arg(long)]
    from: Option<IpAddr>,
    /// Close each connection as soon as the request is out.
    #[arg(long)]
    hang_up: bool,
    /// Junk bytes to write after the request (before hanging up): a server
    /// that watches for its peer leaving while it works may stop watching
    /// once enough unread data waits.
    #[arg(long, default_value_t = 0)]
    trailing_bytes: usize,
}

impl RequestArgs {
    fn into_attack(self) -> Attack {
        Attack {
            addr: self.addr,
            keys: self.keys,
            stranger: self.stranger,
            kind: self.kind,
            size: self.size,
            from: self.from,
            hang_up: self.hang_up,
            trailing: self.trailing_bytes,
        }
    }
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Rsa { keys, seconds } => rsa(&keys, seconds),
        Command::Small {
            addr,
            keys,
            mode,
            clients,
            seconds,
            size,
        } => small(addr, keys, mode, clients, seconds, size),
        Command::Attack {
            request,
            count,
            seconds,
        } => attack::run(&request.into_attack(), count, seconds),
        Command::Flood {
            request,
            honest_keys,
            honest_mode,
            honest_size,
            seconds,
            warmup,
            connections,
            timeout,
        } => {
            let mut attack = request.into_attack();
            // Another host, unless told otherwise: the point is one
            // address against another.
            attack.from.get_or_insert(IpAddr::from([127, 0, 0, 2]));
            let flood = Flood {
                connections,
                warmup,
            };
            let honest = Honest {
                keys: honest_keys,
                mode: honest_mode,
                size: honest_size,
                seconds,
                timeout: Duration::from_secs(timeout),
            };
            flood::run(&attack, &flood, &honest)
        }
    }
}

/// Times `op` repeatedly for `seconds`; returns operations per second.
fn rate(seconds: f64, mut op: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut count = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        op();
        count += 1;
    }
    count as f64 / start.elapsed().as_secs_f64()
}

fn rsa(keys: &std::path::Path, seconds: f64) -> anyhow::Result<()> {
    let pair = KeyDir::new(keys).load_own(Role::Server)?;
    println!("rsa_bits {}", pair.public().bits());
    // Interleaved rounds: a drift in the machine's speed hits every backend.
    for round in 1..=3 {
        for &backend in Backend::ALL {
            rsa_round(&pair.with_backend(backend), seconds / 3.0, round)?;
        }
    }
    Ok(())
}

/// One round of the three operations on one backend, one line each.
fn rsa_round(pair: &KeyPair, seconds: f64, round: u32) -> anyhow::Result<()> {
    let name = match pair.backend() {
        Backend::RustCrypto => "rustcrypto",
        _ => "aws-lc",
    };
    // A hybrid envelope costs the recipient one private operation (the key
    // unwrap); sealing costs the sender one (the signature).
    let sealed = cloak_core::seal(
        pair,
        pair.public(),
        Mode::Hybrid,
        b"f",
        b"x",
        &SealOptions::default(),
    )?;
    let decrypt = rate(seconds, || {
        let _ = cloak_core::decrypt(pair, &sealed.bytes, &OpenOptions::default());
    });
    let sign = rate(seconds, || {
        let _ = cloak_core::seal(
            pair,
            pair.public(),
            Mode::Hybrid,
            b"f",
            b"x",
            &SealOptions::default(),
        );
    });
    let verify = rate(seconds, || {
        let _ = cloak_core::open(
            pair,
            pair.public(),
            &sealed.bytes,
            FreshnessCheck::Expect(b"f"),
            &OpenOptions::default(),
        );
    });
    println!("{name} round {round} open_hybrid_per_sec {decrypt:.1}");
    println!("{name} round {round} seal_hybrid_per_sec {sign:.1}");
    println!("{name} round {round} open_and_verify_hybrid_per_sec {verify:.1}");
    Ok(())
}

fn small(
    addr: String,
    keys: PathBuf,
    mode: Mode,
    clients: usize,
    seconds: f64,
    size: usize,
) -> anyhow::Result<()> {
    let dir = KeyDir::new(&keys);
    let me = Arc::new(dir.load_own(Role::Client)?);
    let server = Arc::new(dir.load_peer(Role::Server)?);
    let config = Arc::new(ClientConfig {
        addr,
        keys: dir,
        mode,
        show_wire: false,
        timeout: Duration::from_secs(60),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("runtime")?;
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let (mut latencies, refused) = runtime.block_on(async move {
        let tasks: Vec<_> = (0..clients)
            .map(|_| {
                let (config, me, server) = (config.clone(), me.clone(), server.clone());
                tokio::spawn(async move {
                    let mut samples = Vec::new();
                    let mut refused = Vec::new();
                    while Instant::now() < deadline {
                        let start = Instant::now();
                        match send_with(&config, &me, &server, Source::Text(vec![b'x'; size])).await
                        {
                            Ok(_) => samples.push(start.elapsed()),
                            Err(e) => refused.push(format!("{e:#}")),
                        }
                    }
                    (samples, refused)
                })
            })
            .collect();
        let (mut all, mut refused) = (Vec::new(), Vec::new());
        for task in tasks {
            let (samples, errors) = task.await.expect("client task");
            all.extend(samples);
            refused.extend(errors);
        }
        (all, refused)
    });
    // A server admits a bounded number of requests per address (32 at the
    // time of writing), so more clients than that on one host get some
    // sends refused as busy: counted, not fatal, since the rest still
    // measure the server at full load.
    if let Some(first) = refused.first() {
        eprintln!(
            "cloak-bench: {} sends refused, the first: {first}",
            refused.len()
        );
    }
    let elapsed = seconds.max(0.001);
    println!(
        "mode {mode} clients {clients} messages {} throughput_per_sec {:.1} {} refused {}",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        latency::p50_p99("", &mut latencies),
        refused.len()
    );
    Ok(())
}
