//! `send_msg`: seal the message to the pinned server key over the server's
//! challenge, send it, and succeed only on a receipt that only the real
//! server could have produced.
//!
//! Asymmetric mode sends one envelope (its size is limited). Hybrid mode
//! streams: the message is read, sealed and sent 256 KiB at a time, so a
//! file of any size goes through in bounded memory.

use std::fs::File;
use std::io::{Cursor, Read};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, anyhow};
use cloak_core::envelope::stream::StreamSealer;
use cloak_core::keydir::Role;
use cloak_core::limits::{AEAD_TAG_LEN, DEFAULT_MAX_ASYMMETRIC_PLAINTEXT, STREAM_CHUNK_LEN};
use cloak_core::session::proofs::{self, RECEIPT_KEY_LEN};
use cloak_core::session::sender_proof;
use cloak_core::session::{
    ClientMessage, Connection, ConnectionError, ServerHello, ServerMessage, messages,
};
use cloak_core::{KeyPair, MessageId, Mode, PublicKey, SealOptions};
use zeroize::Zeroizing;

use crate::progress::Progress;
use crate::session::{self, ClientConfig};

/// Largest asymmetric message text, leaving room for the receipt key.
pub(crate) const MAX_ASYMMETRIC_TEXT: usize = DEFAULT_MAX_ASYMMETRIC_PLAINTEXT - RECEIPT_KEY_LEN;

/// Attempts per message. A retry reuses the message id, so the server
/// stores the message once however many receipts were lost.
const ATTEMPTS: u32 = 3;

/// Where the message comes from.
#[derive(Debug)]
pub enum Source {
    /// Given on the command line.
    Text(Vec<u8>),
    /// A file, read as it is sent (and again on a retry).
    File(PathBuf),
    /// Standard input, read as it is sent (so it cannot be retried).
    Stdin,
}

impl Source {
    fn open(&self) -> anyhow::Result<(Box<dyn Read + Send>, Option<u64>)> {
        Ok(match self {
            Source::Text(text) => (Box::new(Cursor::new(text.clone())), Some(text.len() as u64)),
            Source::File(path) => {
                let file =
                    File::open(path).with_context(|| format!("reading {}", path.display()))?;
                let len = file.metadata().ok().map(|m| m.len());
                (Box::new(file), len)
            }
            Source::Stdin => (Box::new(std::io::stdin()), None),
        })
    }

    fn retryable(&self) -> bool {
        !matches!(self, Source::Stdin)
    }
}

/// Why one attempt failed.
enum Failure {
    /// The network failed after the hello (possibly after the server stored
    /// the message): worth retrying with the same id.
    Network(anyhow::Error),
    /// A definite answer: retrying would not change it.
    Final(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Final(e)
    }
}

fn network(what: &'static str) -> impl FnOnce(ConnectionError) -> Failure {
    move |e| Failure::Network(anyhow::Error::new(e).context(what))
}

/// Sends the message with the keys in `config`'s folder; returns the line
/// to print on success.
pub(crate) async fn send(config: &ClientConfig, source: Source) -> anyhow::Result<String> {
    let me = cloak_cli::load_own_key(&config.keys, Role::Client)?;
    let server = config.keys.load_peer(Role::Server)?;
    send_with(config, &me, &server, source).await
}

/// Sends the message with keys already loaded (so a program sending many
/// messages parses its keys once).
pub async fn send_with(
    config: &ClientConfig,
    me: &KeyPair,
    server: &PublicKey,
    source: Source,
) -> anyhow::Result<String> {
    let message_id = cloak_core::MessageId::random();
    let mut attempt = 1;
    loop {
        let result = match config.mode {
            Mode::Asymmetric => send_envelope(config, me, server, &source, message_id).await,
            _ => send_stream(config, me, server, &source, message_id).await,
        };
        match result {
            Ok(()) => {
                return Ok(format!(
                    "Message delivered: id {message_id}, {} mode, receipt verified.",
                    config.mode
                ));
            }
            Err(Failure::Final(e)) => return Err(e),
            Err(Failure::Network(e)) if attempt >= ATTEMPTS || !source.retryable() => {
                return Err(e.context(format!(
                    "no receipt after {attempt} attempt(s): the message may not have been delivered"
                )));
            }
            Err(Failure::Network(e)) => {
                eprintln!("cloak-client: attempt {attempt} failed ({e:#}); retrying");
                tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt))).await;
                attempt += 1;
            }
        }
    }
}

/// Connects; failing to reach the server, or a server that fails its
/// checks, is final: only a connection lost after the hello, when the
/// message may have arrived, is worth a retry.
async fn connect(
    config: &ClientConfig,
    server: &PublicKey,
) -> Result<(Connection, ServerHello), Failure> {
    Ok(session::open(config, server).await?)
}

/// Asymmetric mode: one envelope, the text read whole (it is small).
async fn send_envelope(
    config: &ClientConfig,
    me: &KeyPair,
    server: &PublicKey,
    source: &Source,
    message_id: MessageId,
) -> Result<(), Failure> {
    let receipt_key = proofs::new_receipt_key();
    let (reader, _) = source.open()?;
    let mut payload = Zeroizing::new(receipt_key.to_vec());
    let read = reader
        .take(MAX_ASYMMETRIC_TEXT as u64 + 1)
        .read_to_end(&mut payload)
        .context("reading the message")?;
    if read > MAX_ASYMMETRIC_TEXT {
        return Err(Failure::Final(anyhow!(
            "message is over the asymmetric mode limit of {MAX_ASYMMETRIC_TEXT} bytes; \
             use --mode hybrid for large messages"
        )));
    }
    let (mut conn, hello) = connect(config, server).await?;
    let options = SealOptions {
        message_id: Some(message_id),
        ..SealOptions::default()
    };
    let sealed = cloak_core::seal(
        me,
        server,
        Mode::Asymmetric,
        &hello.challenge,
        &payload,
        &options,
    )
    .map_err(|e| Failure::Final(e.into()))?;
    let first = sender_proof::prove_envelope(me, server, &hello.challenge, sealed.bytes)
        .map_err(|e| Failure::Final(e.into()))?;
    conn.write_message(&first)
        .await
        .map_err(network("sending the message"))?;
    await_receipt(
        &mut conn,
        server,
        &hello,
        &receipt_key,
        message_id,
        &sealed.plaintext_digest,
    )
    .await
}

/// Reads, seals and sends the stream's data chunks, the receipt key first.
async fn send_chunks(
    conn: &mut Connection,
    sealer: &mut StreamSealer<'_>,
    reader: &mut (dyn Read + Send),
    receipt_key: &[u8],
    progress: &Progress,
) -> Result<(), Failure> {
    let sealing = |e: cloak_core::SealError| Failure::Final(e.into());
    // Each chunk is read straight into the outgoing frame, sealed there and
    // sent with its prefix put in front: no copy, no allocation per chunk.
    const DATA_AT: usize = messages::MAX_CHUNK_FRAME_PREFIX;
    let mut frame = Zeroizing::new(vec![0u8; DATA_AT + STREAM_CHUNK_LEN + AEAD_TAG_LEN]);
    frame[DATA_AT..][..RECEIPT_KEY_LEN].copy_from_slice(receipt_key.as_ref());
    let mut filled = RECEIPT_KEY_LEN;
    loop {
        let space = &mut frame[DATA_AT + filled..DATA_AT + STREAM_CHUNK_LEN];
        let read = fill(reader, space).context("reading the message")?;
        progress.advance(read as u64);
        filled += read;
        if filled == 0 {
            break;
        }
        let tag = sealer
            .seal_chunk_in_place(&mut frame[DATA_AT..DATA_AT + filled])
            .map_err(sealing)?;
        let end = DATA_AT + filled + AEAD_TAG_LEN;
        frame[DATA_AT + filled..end].copy_from_slice(&tag);
        let prefix = messages::chunk_frame_prefix(filled + AEAD_TAG_LEN);
        let start = DATA_AT - prefix.len();
        frame[start..DATA_AT].copy_from_slice(&prefix);
        if let Err(e) = conn.write_frames(&frame[start..end]).await {
            return Err(early_answer(conn).unwrap_or_else(|| network("sending the message")(e)));
        }
        // The server may have refused mid-stream (full, or a bad chunk):
        // stop at once rather than send the rest.
        if let Some(refusal) = early_answer(conn) {
            return Err(refusal);
        }
        if filled < STREAM_CHUNK_LEN {
            break;
        }
        filled = 0;
    }
    Ok(())
}

/// Hybrid mode: the stream head, then 256 KiB chunks as the source is read,
/// then the signed final chunk.
async fn send_stream(
    config: &ClientConfig,
    me: &KeyPair,
    server: &PublicKey,
    source: &Source,
    message_id: MessageId,
) -> Result<(), Failure> {
    let receipt_key = proofs::new_receipt_key();
    let (mut reader, len) = source.open()?;
    let (mut conn, hello) = connect(config, server).await?;
    let options = SealOptions {
        message_id: Some(message_id),
        ..SealOptions::default()
    };
    let (mut sealer, head) = StreamSealer::new(me, server, &hello.challenge, &options)
        .map_err(|e| Failure::Final(e.into()))?;
    let first = sender_proof::prove_stream(
        &mut sealer,
        me,
        server.fingerprint(),
        &hello.challenge,
        head,
    )
    .map_err(|e| Failure::Final(e.into()))?;
    conn.write_message(&first)
        .await
        .map_err(network("sending the message"))?;
    let sealing = |e: cloak_core::SealError| Failure::Final(e.into());
    let progress = Progress::new(len);
    send_chunks(
        &mut conn,
        &mut sealer,
        &mut *reader,
        receipt_key.as_ref(),
        &progress,
    )
    .await?;
    let end = sealer.finish().map_err(sealing)?;
    debug_assert!(end.last_data.is_none(), "every chunk was sealed above");
    conn.write_message(&ClientMessage::End {
        data: end.final_chunk,
    })
    .await
    .map_err(network("sending the message"))?;
    progress.finish();
    await_receipt(
        &mut conn,
        server,
        &hello,
        &receipt_key,
        message_id,
        &end.plaintext_digest,
    )
    .await
}

/// Reads until `buf` is full or the source ends; returns the bytes read.
fn fill(reader: &mut (impl Read + ?Sized), buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// A refusal the server sent before the stream ended, if any.
fn early_answer(conn: &mut Connection) -> Option<Failure> {
    match conn.try_read_message::<ServerMessage>() {
        Ok(Some(ServerMessage::Error { code, detail })) => {
            Some(Failure::Final(session::refusal(code, &detail)))
        }
        Ok(Some(_)) => Some(Failure::Final(anyhow!(
            "unexpected answer from the server in the middle of the message"
        ))),
        Ok(None) | Err(_) => None,
    }
}

async fn await_receipt(
    conn: &mut Connection,
    server: &PublicKey,
    hello: &ServerHello,
    receipt_key: &[u8; RECEIPT_KEY_LEN],
    message_id: MessageId,
    plaintext_digest: &[u8; 32],
) -> Result<(), Failure> {
    let answer = conn
        .expect_message::<ServerMessage>()
        .await
        .map_err(network("no receipt from the server"))?;
    match answer {
        ServerMessage::Receipt(receipt) => {
            let genuine = receipt.message_id == message_id
                && proofs::verify_receipt(
                    receipt_key,
                    message_id,
                    server.fingerprint(),
                    &hello.challenge,
                    plaintext_digest,
                    &receipt.mac,
                );
            if genuine {
                Ok(())
            } else {
                Err(Failure::Final(anyhow!(
                    "the server's receipt does not verify: the message may not have been delivered"
                )))
            }
        }
        ServerMessage::Error { code, detail } => {
            Err(Failure::Final(session::refusal(code, &detail)))
        }
        _ => Err(Failure::Final(anyhow!(
            "unexpected answer from the server; the message may not have been delivered"
        ))),
    }
}
