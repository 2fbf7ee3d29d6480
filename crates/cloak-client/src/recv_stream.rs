//! Receiving a queued message that the server sends as a stream (one too
//! large for one envelope): each chunk is decrypted as it arrives and
//! written to a temporary file beside `--out FILE`, which becomes `FILE`
//! only once the final chunk decrypted and the server's signature over the
//! whole stream, bound to our challenge, verified. Without `--out`, a
//! message is gathered in memory up to the terminal limit and shown only
//! after it verified.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use cloak_core::envelope::stream::StreamOpener;
use cloak_core::session::messages::Challenge;
use cloak_core::session::{Connection, ServerMessage};
use cloak_core::{FreshnessCheck, KeyPair, MessageId, Mode, OpenOptions, PublicKey, text};
use zeroize::Zeroizing;

use crate::progress::Progress;
use crate::recv::{MAX_TERMINAL_MESSAGE, out_path, temp_beside};
use crate::session;

/// Where the plaintext goes until it verified.
enum Sink {
    /// A temporary file, and the name it takes once verified.
    File(tempfile::NamedTempFile, PathBuf),
    Memory(Zeroizing<Vec<u8>>),
}

/// Receives, verifies and shows (or writes) the stream that `head` starts;
/// returns its id for the acknowledgement. Nothing is shown or written
/// under `out` unless the whole stream verified.
pub(crate) async fn receive(
    conn: &mut Connection,
    me: &KeyPair,
    server: &PublicKey,
    challenge: &Challenge,
    head: &[u8],
    out: Option<&Path>,
    progress: &Progress,
) -> anyhow::Result<MessageId> {
    // A stream is hybrid by construction (the server refuses to stream to
    // a client fetching in asymmetric mode).
    let options = OpenOptions {
        only_mode: Some(Mode::Hybrid),
        ..OpenOptions::default()
    };
    let confidentiality_failed =
        "Message confidentiality failed: a message from the server does not decrypt with our key";
    let Ok(mut opener) = StreamOpener::new(me, head, &options) else {
        bail!(confidentiality_failed);
    };
    let mut sink = match out {
        Some(file) => {
            let path = out_path(file, 0);
            Sink::File(temp_beside(&path)?, path)
        }
        None => Sink::Memory(Zeroizing::new(Vec::new())),
    };
    let end = loop {
        let data = match conn
            .expect_message::<ServerMessage>()
            .await
            .context("the message broke off; it stays queued")?
        {
            ServerMessage::StreamChunk { data } => data,
            ServerMessage::StreamEnd { data } => break data,
            ServerMessage::Error { code, detail } => return Err(session::refusal(code, &detail)),
            _ => bail!("unexpected answer from the server in the middle of a message"),
        };
        let Ok(plaintext) = opener.chunk(&data) else {
            bail!(confidentiality_failed);
        };
        progress.advance(plaintext.len() as u64);
        match &mut sink {
            Sink::File(file, _) => file.write_all(plaintext).context("writing the message")?,
            Sink::Memory(bytes) if bytes.len() + plaintext.len() > MAX_TERMINAL_MESSAGE => bail!(
                "the next message is over {} bytes: receive it into a file with `recv_msg --out FILE`",
                MAX_TERMINAL_MESSAGE
            ),
            Sink::Memory(bytes) => bytes.extend_from_slice(plaintext),
        }
    };
    let Ok(decrypted) = opener.finish(&end) else {
        bail!(confidentiality_failed);
    };
    let mut shown = String::from("Message confidentiality passed.\n");
    let Ok(opened) = decrypted.verify(server, FreshnessCheck::Expect(challenge)) else {
        bail!(
            "Message integrity & sender authentication failed: a message is not signed by the pinned server key for this session"
        );
    };
    shown.push_str("Message integrity & sender authentication passed.\n");
    shown.push_str(&format!(
        "Message from server ({}, hybrid mode, id {}):\n",
        opened.sender, opened.message_id,
    ));
    match sink {
        Sink::File(file, path) => {
            file.as_file()
                .sync_all()
                .with_context(|| format!("writing {}", path.display()))?;
            file.persist(&path)
                .with_context(|| format!("writing {}", path.display()))?;
            shown.push_str(&format!(
                "[{} bytes written to {}]\n",
                opened.len,
                path.display()
            ));
        }
        Sink::Memory(bytes) => {
            shown.push_str(&text::printable(&bytes));
            shown.push('\n');
        }
    }
    print!("{shown}");
    Ok(opened.message_id)
}
