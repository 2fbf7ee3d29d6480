//! `attack`: a number of hostile requests of one kind, one after the
//! other, so that `scripts/bench.sh` can divide the server's CPU time over
//! them by their count and compare it with an honest send's. One at a
//! time, because the question is what one request costs the server, not
//! how many it can take at once (that is `flood`).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use cloak_core::KeyPair;
use cloak_core::keydir::{KeyDir, Role};

use crate::forge::{self, Kind, Target};
use crate::hostile::{self, Tally};

/// What to send, and how.
pub struct Attack {
    /// Server address.
    pub addr: String,
    /// Key folder holding the server's public key.
    pub keys: PathBuf,
    /// Key folder whose client key the server does not authorize; a fresh
    /// key when `None`.
    pub stranger: Option<PathBuf>,
    pub kind: Kind,
    /// Text bytes of the hybrid kinds' streams.
    pub size: usize,
    /// Source address of the connections.
    pub from: Option<IpAddr>,
    pub hang_up: bool,
    /// Junk bytes written after the request.
    pub trailing: usize,
}

impl Attack {
    pub fn server(&self) -> anyhow::Result<SocketAddr> {
        self.addr
            .parse()
            .with_context(|| format!("server address `{}`", self.addr))
    }

    /// The request's frames, built once: none of the kinds depends on the
    /// connection's challenge, as what the server checks it against comes
    /// after the work being measured.
    pub fn frames(&self) -> anyhow::Result<Vec<u8>> {
        let server = KeyDir::new(&self.keys).load_peer(Role::Server)?;
        let target = Target::new(server.clone())?;
        let stranger = stranger(self.stranger.as_deref(), server.bits())?;
        let mut frames = forge::request(self.kind, &target, &stranger, self.size)?;
        frames.resize(frames.len() + self.trailing, 0);
        Ok(frames)
    }

    /// The fields every output line starts with.
    pub fn describe(&self, frames: &[u8]) -> String {
        format!(
            "kind {} hang_up {} trailing_bytes {} size {} request_bytes {}",
            self.kind.name(),
            u8::from(self.hang_up),
            self.trailing,
            self.size,
            frames.len()
        )
    }
}

/// A key the server does not authorize, of the server's size so that the
/// server's check of its signature costs what a real client's would.
fn stranger(dir: Option<&Path>, bits: usize) -> anyhow::Result<KeyPair> {
    match dir {
        Some(dir) => Ok(KeyDir::new(dir).load_own(Role::Client)?),
        None => Ok(KeyPair::generate(bits)?),
    }
}

/// Sends up to `count` requests, one after the other, starting none after
/// `seconds`; prints one line with the tally.
pub fn run(attack: &Attack, count: u64, seconds: f64) -> anyhow::Result<()> {
    let server = attack.server()?;
    let frames = attack.frames()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("runtime")?;
    let tally = Tally::default();
    let start = Instant::now();
    let stop = start + Duration::from_secs_f64(seconds);
    runtime.block_on(async {
        let mut started = 0;
        while started < count && Instant::now() < stop {
            tally.add(hostile::one(server, attack.from, &frames, attack.hang_up).await);
            started += 1;
        }
    });
    println!(
        "attack {} requests {} elapsed_s {:.2} {}",
        attack.describe(&frames),
        tally.sent(),
        start.elapsed().as_secs_f64(),
        tally.fields()
    );
    Ok(())
}
