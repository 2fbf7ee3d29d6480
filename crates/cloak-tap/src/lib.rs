//! `cloak-tap`: a man-in-the-middle relay between a client and a server.
//!
//! By default it relays and prints, frame by frame, what an interceptor
//! captures in each direction. Attack switches alter the client's stream
//! (or, with `--downstream`, the server's) on every connection (a client
//! that retries meets the same attacker). Every attack on the client's
//! stream must end with the server refusing the message; every attack on
//! the server's stream with the client refusing what it was sent.
#![forbid(unsafe_code)]

mod attack;
mod relay;

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

pub use attack::Attack;

/// CloakRoom tap: see and attack the wire.
#[derive(Debug, Parser)]
#[command(name = "cloak-tap", version, about)]
pub struct Cli {
    /// Address to listen on for the client (port 0 picks one; the first
    /// line on stdout is `listening on ADDR`).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The server to relay to.
    #[arg(long)]
    to: SocketAddr,
    /// Flip byte N (0-based) of the client's stream.
    #[arg(long, value_name = "N", group = "attack")]
    flip: Option<u64>,
    /// With --flip: connection i flips byte N + i·S instead, so one tap can
    /// sweep every position of a session.
    #[arg(long, value_name = "S", requires = "flip", default_value_t = 0)]
    flip_step: u64,
    /// With --flip: flip the server's stream to the client instead.
    #[arg(long, requires = "flip")]
    downstream: bool,
    /// Forward only the first N bytes of the client's stream, then cut.
    #[arg(long, value_name = "N", group = "attack")]
    truncate: Option<u64>,
    /// Drop the client's K-th stream chunk (0-based).
    #[arg(long, value_name = "K", num_args = 0..=1, default_missing_value = "0", group = "attack")]
    drop_chunk: Option<usize>,
    /// Forward the client's first N frames, then cut (N one less than a
    /// session's frames cuts just before its last chunk).
    #[arg(long, value_name = "N", group = "attack")]
    cut_after_frames: Option<usize>,
    /// Swap the client's first two frames after its request.
    #[arg(long, group = "attack")]
    swap_frames: bool,
    /// Send the client's stream to this server instead (re-addressing a
    /// captured message); the client still sees the first server's hello.
    #[arg(long, value_name = "ADDR", group = "attack")]
    forward_to: Option<SocketAddr>,
    /// Write the client's bytes of the first connection to FILE.
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    /// Write the server's bytes of the first connection to FILE.
    #[arg(long, value_name = "FILE", conflicts_with = "forward_to")]
    record_server: Option<PathBuf>,
    /// No client: connect to the server, send the bytes recorded in FILE
    /// after its hello, print the answer. Exits 1 if the server refused.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["attack", "record", "record_server"])]
    replay: Option<PathBuf>,
    /// Relay this many connections, then exit (default: until killed).
    #[arg(long)]
    connections: Option<usize>,
}

impl Cli {
    /// The attacks on connection `connection`: on the client's stream, and
    /// on the server's.
    fn attacks(&self, connection: usize) -> (Attack, Attack) {
        let attack = self.attack(connection);
        match attack {
            Attack::Flip(_) if self.downstream => (Attack::None, attack),
            _ => (attack, Attack::None),
        }
    }

    fn attack(&self, connection: usize) -> Attack {
        if let Some(n) = self.flip {
            Attack::Flip(n + connection as u64 * self.flip_step)
        } else if let Some(n) = self.cut_after_frames {
            Attack::CutAfterFrames(n)
        } else if let Some(n) = self.truncate {
            Attack::Truncate(n)
        } else if let Some(k) = self.drop_chunk {
            Attack::DropChunk(k)
        } else if self.swap_frames {
            Attack::SwapFrames
        } else {
            Attack::None
        }
    }
}

/// Parses the command line and runs the tap.
pub fn run() -> ExitCode {
    cloak_cli::run("cloak-tap", execute)
}

fn execute(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Some(file) = &cli.replay {
        return relay::replay(cli.to, file);
    }
    let listener = TcpListener::bind(cli.listen)?;
    println!("listening on {}", listener.local_addr()?);
    let mut served = 0;
    for incoming in listener.incoming() {
        let client = match incoming {
            Ok(client) => client,
            Err(e) => {
                eprintln!("cloak-tap: accept failed: {e}");
                continue;
            }
        };
        let (attack, downstream) = cli.attacks(served);
        let first = served == 0;
        let setup = relay::Setup {
            hello_from: cli.to,
            send_to: cli.forward_to.unwrap_or(cli.to),
            attack,
            downstream,
            record: cli.record.clone().filter(|_| first),
            record_server: cli.record_server.clone().filter(|_| first),
            label: served,
        };
        if let Err(e) = relay::relay(client, &setup) {
            eprintln!("cloak-tap: connection {served}: {e:#}");
        }
        served += 1;
        if cli.connections.is_some_and(|n| served >= n) {
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}
