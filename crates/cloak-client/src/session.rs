//! Opening a session: connect with a timeout, read the server's hello,
//! check its protocol version, pinned key and modes, and turn a refusal
//! from the server into one clear sentence.

use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use cloak_core::keydir::KeyDir;
use cloak_core::session::{
    Connection, ConnectionError, ErrorCode, PayloadError, ServerHello, ServerMessage,
};
use cloak_core::{Mode, PublicKey};
use tokio::net::TcpStream;

/// What every client command needs.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `HOST:PORT` of the server.
    pub addr: String,
    /// The key folder.
    pub keys: KeyDir,
    /// How messages are sealed, both ways.
    pub mode: Mode,
    /// Print every frame as an eavesdropper sees it.
    pub show_wire: bool,
    /// Limit on connecting and on every read and write.
    pub timeout: Duration,
}

/// Largest frame read before the hello is checked: a hello, or an error
/// with its detail (1 KiB) and room around it.
const HELLO_FRAME_MAX: usize = 4096;

/// Connects and checks the hello against the pinned server key.
pub(crate) async fn open(
    config: &ClientConfig,
    pinned: &PublicKey,
) -> anyhow::Result<(Connection, ServerHello)> {
    let stream = tokio::time::timeout(config.timeout, TcpStream::connect(&config.addr))
        .await
        .map_err(|_| anyhow!("cannot reach the server at {}: timed out", config.addr))?
        .with_context(|| format!("cannot reach the server at {}", config.addr))?;
    let mut conn = Connection::new(stream, config.timeout);
    if config.show_wire {
        conn.set_tap(crate::show_wire::tap());
    }
    // A hello is a few dozen bytes (an error in its place, at most a
    // sentence): nobody, unauthenticated as the hello is, gets to make us
    // read megabytes before it is checked.
    conn.set_max_frame(HELLO_FRAME_MAX);
    let hello = match conn.expect_message::<ServerMessage>().await {
        Ok(ServerMessage::Hello(hello)) => hello,
        Ok(ServerMessage::Error { code, detail }) => return Err(refusal(code, &detail)),
        Ok(_) => bail!("the server did not start with a hello"),
        Err(ConnectionError::Payload(PayloadError::UnsupportedVersion { theirs, ours })) => bail!(
            "the server speaks protocol version {theirs}, this client speaks version {ours}: upgrade the older side"
        ),
        Err(e) => return Err(anyhow!(e).context("no greeting from the server")),
    };
    conn.set_max_frame(cloak_core::limits::MAX_FRAME_LEN);
    if hello.modes.is_empty() || hello.modes.len() > 2 {
        bail!(
            "malformed hello from the server: it lists {} modes",
            hello.modes.len()
        );
    }
    // A server lists each mode once; a list that repeats one was altered
    // on the way (the mode actually used is bound into every signature,
    // so this only catches the alteration early).
    if hello.modes.len() == 2 && hello.modes[0] == hello.modes[1] {
        bail!("malformed hello from the server: it lists a mode twice");
    }
    if hello.server != pinned.fingerprint() {
        bail!(
            "server key mismatch: the server at {} presented {}, but {} pins {}; refusing to talk \
             (if the server's key really changed, replace that file)",
            config.addr,
            hello.server,
            config
                .keys
                .public_path(cloak_core::keydir::Role::Server)
                .display(),
            pinned.fingerprint()
        );
    }
    if !hello.modes.contains(&config.mode) {
        let accepted: Vec<_> = hello.modes.iter().map(|m| m.as_str()).collect();
        bail!(
            "the server does not accept {} mode (it accepts {}); use --mode {}",
            config.mode,
            accepted.join(", "),
            accepted.first().copied().unwrap_or("hybrid")
        );
    }
    Ok((conn, hello))
}

/// One sentence for a refusal from the server.
pub(crate) fn refusal(code: ErrorCode, detail: &str) -> anyhow::Error {
    // The detail is the server's text: bounded and with control characters
    // escaped before it reaches the terminal.
    let cut = detail
        .char_indices()
        .nth(cloak_core::limits::MAX_ERROR_DETAIL)
        .map_or(detail.len(), |(i, _)| i);
    let detail = cloak_core::text::printable_line(&detail.as_bytes()[..cut]);
    match code {
        ErrorCode::NotAuthorized => anyhow!("not authorized: {detail}"),
        ErrorCode::Rejected => anyhow!("rejected by the server: {detail}"),
        ErrorCode::ModeNotAccepted => anyhow!("mode not accepted: {detail}"),
        ErrorCode::UnsupportedVersion => anyhow!("protocol version mismatch: {detail}"),
        ErrorCode::StorageFull => anyhow!("the server is full: {detail}"),
        ErrorCode::Internal => anyhow!("the server failed: {detail}"),
        _ => anyhow!("the server refused: {detail} ({code:?})"),
    }
}
