//! Receiving a queued message that the server sends as a stream (one too
//! large for one envelope): each chunk is decrypted as it arrives and
//! written to a temporary file beside `--out FILE`, which becomes `FILE`
//! only once the final chunk decrypted and the server's signature over the
//! whole stream, bound to our challenge, verified. Without `--out`, a
//! message is gathered in memory up to the terminal limit and shown only
//! after it verified.
//!
//! Nothing in a stream is authenticated before its end, so what is taken
//! until then is bounded by the size the stream announces (the honest
//! server announces the true length): a chunk beyond it ends the stream,
//! and a size the terminal (1 MiB) or the disk beside `FILE` cannot take
//! is refused before any chunk is read. Anyone who can seal to our public
//! key, a man in the middle included, could otherwise stream without end
//! into memory or onto the disk.

use std::path::Path;

use anyhow::{Context, bail};
use cloak_cli::sink::{Kept, Sink};
use cloak_core::envelope::stream::StreamOpener;
use cloak_core::session::messages::Challenge;
use cloak_core::session::{Connection, ConnectionError, ServerMessage, messages};
use cloak_core::verdict::{CONFIDENTIALITY_PASSED, INTEGRITY_PASSED};
use cloak_core::{FreshnessCheck, KeyPair, MessageId, Mode, OpenOptions, PublicKey, text};
use zeroize::Zeroize;

use crate::output::{MAX_TERMINAL_MESSAGE, out_path, undecryptable, unsigned};
use crate::progress::Progress;
use crate::session;

/// Where a stream announced as `size` bytes goes until it verified: a
/// temporary file beside `out`, or memory. A size the terminal or that
/// disk cannot take is refused here, before any chunk is read.
fn open_sink(out: Option<&Path>, size: u64) -> anyhow::Result<Sink> {
    let Some(file) = out else {
        if size > MAX_TERMINAL_MESSAGE as u64 {
            bail!(
                "the next message is {size} bytes, over the {MAX_TERMINAL_MESSAGE} shown on a terminal: receive it into a file with `recv_msg --out FILE`"
            );
        }
        return Ok(Sink::memory(size as usize));
    };
    let path = out_path(file, 0);
    let sink = Sink::beside(&path)?;
    if let Some(free) = sink.file().and_then(free_space)
        && size > free
    {
        bail!(
            "the next message is {size} bytes, more than the {free} bytes free on the disk of {}; it stays queued",
            path.display()
        );
    }
    Ok(sink)
}

/// What to show for a verified message kept by a sink.
fn kept_line(kept: Kept) -> String {
    match kept {
        Kept::File { len, path } => format!("[{len} bytes written to {}]\n", path.display()),
        Kept::Memory(text) => format!("{}\n", text::quoted(&text)),
    }
}

/// Bytes an unprivileged writer may still put on the file system that
/// holds `file`; `None` when the system does not say.
#[cfg(unix)]
fn free_space(file: &std::fs::File) -> Option<u64> {
    let stat = rustix::fs::fstatvfs(file).ok()?;
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

#[cfg(not(unix))]
fn free_space(_: &std::fs::File) -> Option<u64> {
    None
}

/// Receives, verifies and shows (or writes) the stream that `head` starts,
/// announced as `size` bytes; returns its id for the acknowledgement.
/// Nothing is shown or written under `out` unless the whole stream
/// verified.
pub(crate) async fn receive(
    conn: &mut Connection,
    me: &KeyPair,
    server: &PublicKey,
    challenge: &Challenge,
    head: &[u8],
    size: u64,
    out: Option<&Path>,
) -> anyhow::Result<MessageId> {
    // A stream is hybrid by construction (the server refuses to stream to
    // a client fetching in asymmetric mode).
    let options = OpenOptions {
        only_mode: Some(Mode::Hybrid),
        ..OpenOptions::default()
    };
    let Ok(mut opener) = StreamOpener::new(me, head, &options) else {
        return Err(undecryptable());
    };
    let mut sink = open_sink(out, size)?;
    let end = read_chunks(conn, &mut opener, &mut sink, size).await?;
    let Ok(decrypted) = opener.finish(&end) else {
        return Err(undecryptable());
    };
    let Ok(opened) = decrypted.verify(server, FreshnessCheck::Expect(challenge)) else {
        return Err(unsigned());
    };
    let mut shown = format!("{CONFIDENTIALITY_PASSED}\n{INTEGRITY_PASSED}\n");
    shown.push_str(&format!(
        "Message from server ({}, hybrid mode, id {}):\n",
        opened.sender, opened.message_id,
    ));
    shown.push_str(&kept_line(sink.keep()?));
    print!("{shown}");
    Ok(opened.message_id)
}

/// Reads, decrypts and keeps the data chunks; returns the final chunk.
/// Each chunk is decrypted where it lies in the connection's read buffer
/// and written out from there: no copy and no allocation per chunk.
async fn read_chunks(
    conn: &mut Connection,
    opener: &mut StreamOpener,
    sink: &mut Sink,
    size: u64,
) -> anyhow::Result<Vec<u8>> {
    let progress = Progress::new(Some(size));
    let mut received: u64 = 0;
    let end = loop {
        let mut payload = conn
            .read_frame()
            .await
            .and_then(|frame| frame.ok_or(ConnectionError::Closed))
            .context("the message broke off; it stays queued")?;
        let Some(range) = messages::stream_chunk_range(&payload) else {
            match messages::decode_payload::<ServerMessage>(&payload) {
                Ok(ServerMessage::StreamEnd { data }) => break data,
                Ok(ServerMessage::Error { code, detail }) => {
                    return Err(session::refusal(code, &detail));
                }
                _ => bail!("unexpected answer from the server in the middle of a message"),
            }
        };
        let data = &mut payload[range];
        let Ok(len) = opener.chunk_in_place(data) else {
            return Err(undecryptable());
        };
        received += len as u64;
        if received > size {
            bail!(
                "the server sent more than the {size} bytes it announced; the message stays queued"
            );
        }
        progress.advance(len as u64);
        sink.write(&data[..len])?;
        // Decrypted in the connection's buffer, which is not zeroized when
        // the next frame reuses it: clear the plaintext now.
        data[..len].zeroize();
    };
    progress.finish();
    Ok(end)
}
