//! `cloak-bench`: the measurements `scripts/bench.sh` cannot make with the
//! command-line programs alone.
//!
//! - `rsa`: private-key operations per second of the RSA backend in use, for
//!   a key file (the bound on small-message throughput).
//! - `small`: N concurrent clients sending 100-byte messages to a running
//!   server for a fixed time, each waiting for its verified receipt; prints
//!   throughput and p50/p99 latency. Keys are loaded once, as a long-running
//!   client would.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use cloak_client::{ClientConfig, Source, send_with};
use cloak_core::keydir::{KeyDir, Role};
use cloak_core::{FreshnessCheck, Mode, OpenOptions, SealOptions};

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
    let bits = pair.public().bits();
    // A hybrid envelope costs the recipient one private operation (the key
    // unwrap); sealing costs the sender one (the signature).
    let sealed = cloak_core::seal(
        &pair,
        pair.public(),
        Mode::Hybrid,
        b"f",
        b"x",
        &SealOptions::default(),
    )?;
    let decrypt = rate(seconds, || {
        let _ = cloak_core::decrypt(&pair, &sealed.bytes, &OpenOptions::default());
    });
    let sign = rate(seconds, || {
        let _ = cloak_core::seal(
            &pair,
            pair.public(),
            Mode::Hybrid,
            b"f",
            b"x",
            &SealOptions::default(),
        );
    });
    let verify = rate(seconds, || {
        let _ = cloak_core::open(
            &pair,
            pair.public(),
            &sealed.bytes,
            FreshnessCheck::Expect(b"f"),
            &OpenOptions::default(),
        );
    });
    println!("rsa_bits {bits}");
    println!("open_hybrid_per_sec {decrypt:.1}");
    println!("seal_hybrid_per_sec {sign:.1}");
    println!("open_and_verify_hybrid_per_sec {verify:.1}");
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
    let latencies = runtime.block_on(async move {
        let tasks: Vec<_> = (0..clients)
            .map(|_| {
                let (config, me, server) = (config.clone(), me.clone(), server.clone());
                tokio::spawn(async move {
                    let mut samples = Vec::new();
                    while Instant::now() < deadline {
                        let start = Instant::now();
                        send_with(&config, &me, &server, Source::Text(vec![b'x'; size]))
                            .await
                            .expect("send");
                        samples.push(start.elapsed());
                    }
                    samples
                })
            })
            .collect();
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.expect("client task"));
        }
        all
    });
    let elapsed = seconds.max(0.001);
    let mut sorted = latencies;
    sorted.sort();
    let pick = |q: f64| sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)];
    println!(
        "mode {mode} clients {clients} messages {} throughput_per_sec {:.1} p50_ms {:.2} p99_ms {:.2}",
        sorted.len(),
        sorted.len() as f64 / elapsed,
        pick(0.50).as_secs_f64() * 1e3,
        pick(0.99).as_secs_f64() * 1e3
    );
    Ok(())
}
