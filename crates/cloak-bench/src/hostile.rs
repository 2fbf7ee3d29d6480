//! Sending forged requests (see `forge`) the way an attacker would: from
//! a chosen source address, one connection each, waiting for the answer
//! or hanging up as soon as the request is out. What the server spends on
//! them is read from outside the process (`scripts/bench.sh` reads its
//! CPU time); here are only the requests and a tally of their answers.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cloak_core::session::{Connection, ErrorCode, ServerMessage};
use tokio::net::{TcpSocket, TcpStream};

/// How long an attacker waits for an answer: longer than any queue of
/// work a server could build, so a slow answer still counts as one.
const ANSWER_WAIT: Duration = Duration::from_secs(120);

/// What became of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Out, and the connection closed at once without waiting.
    HungUp,
    /// Answered `Rejected`, the answer to a message that fails its checks.
    Rejected,
    /// Answered `Internal`: the server had no room for it (busy).
    Busy,
    /// Answered `NotAuthorized`, which servers gave an unknown sender
    /// before they answered it like any other failed message.
    NotAuthorized,
    /// Answered anything else.
    Other,
    /// The connection ended without an answer.
    NoAnswer,
    /// No connection, or no hello: the request never went out.
    Failed,
}

/// Counts of outcomes, shared between attacker tasks.
#[derive(Default)]
pub struct Tally {
    counts: [AtomicU64; 7],
}

impl Tally {
    const NAMES: [&'static str; 6] = [
        "hung_up",
        "rejected",
        "busy",
        "other",
        "no_answer",
        "failed",
    ];

    pub fn add(&self, outcome: Outcome) {
        self.counts[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Requests that went out, answered or not.
    pub fn sent(&self) -> u64 {
        let failed = self.counts[Outcome::Failed as usize].load(Ordering::Relaxed);
        self.counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum::<u64>()
            - failed
    }

    /// `name count` pairs for the output line.
    pub fn fields(&self) -> String {
        Self::NAMES
            .iter()
            .zip(&self.counts)
            .map(|(name, count)| format!("{name} {}", count.load(Ordering::Relaxed)))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A connection to `server` from `source` (any local address if `None`),
/// as another host would make it. Ports are reused from connections that
/// closed recently, since a flood that hangs up leaves thousands of them
/// waiting out TIME_WAIT.
async fn connect(server: SocketAddr, source: Option<IpAddr>) -> std::io::Result<TcpStream> {
    let socket = match server {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    if let Some(source) = source {
        socket.set_reuseaddr(true)?;
        socket.bind(SocketAddr::new(source, 0))?;
    }
    socket.connect(server).await
}

/// One request: connect, take the hello (so that hanging up is a clean
/// close the server reads, not a reset of unread data), write `frames`,
/// then hang up or wait for the answer.
pub async fn one(
    server: SocketAddr,
    source: Option<IpAddr>,
    frames: &[u8],
    hang_up: bool,
) -> Outcome {
    let Ok(stream) = connect(server, source).await else {
        return Outcome::Failed;
    };
    let mut conn = Connection::new(stream, ANSWER_WAIT);
    if !matches!(
        conn.expect_message::<ServerMessage>().await,
        Ok(ServerMessage::Hello(_))
    ) {
        return Outcome::Failed;
    }
    if conn.write_frames(frames).await.is_err() {
        return Outcome::NoAnswer;
    }
    if hang_up {
        return Outcome::HungUp;
    }
    match conn.read_message::<ServerMessage>().await {
        Ok(Some(ServerMessage::Error { code, .. })) => match code {
            ErrorCode::Rejected => Outcome::Rejected,
            ErrorCode::Internal => Outcome::Busy,
            ErrorCode::NotAuthorized => Outcome::NotAuthorized,
            _ => Outcome::Other,
        },
        Ok(Some(_)) => Outcome::Other,
        Ok(None) | Err(_) => Outcome::NoAnswer,
    }
}
