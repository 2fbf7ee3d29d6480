//! `cloak-server migrate --from-data DIR --to postgres://…`: moves an
//! embedded store into PostgreSQL. The data folder is held as its server
//! holds it, so no server writes to it meanwhile; the target must hold no
//! messages yet, so that a migration is never merged into another store.
//! Every message is copied as stored (still sealed; nothing is decrypted),
//! then read back from PostgreSQL and compared (a stream by the digest of
//! what was read from the folder while copying) before the next one.

use anyhow::{Context, bail};

use crate::store::postgres::PgStore;
use crate::store::sqlite::SqliteStore;
use crate::store::{Content, Inbound, Insert, MessageStore, Outbound, Queue, StreamRef};

/// What a migration moved.
#[derive(Debug, Default)]
pub(crate) struct Moved {
    received: u64,
    queued: u64,
    streams: u64,
    bytes: u64,
}

impl std::fmt::Display for Moved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "Moved {} received and {} queued message(s), {} of them streams, {} bytes, \
             each read back and compared.",
            self.received, self.queued, self.streams, self.bytes
        )
    }
}

/// Copies every message of `from` into `to`.
pub(crate) fn migrate(from: &SqliteStore, to: &PgStore) -> anyhow::Result<Moved> {
    if !from.legacy_sealed()?.is_empty() {
        bail!(
            "queued messages in the data folder are sealed the old way: start the server on it \
             once (it re-seals them), stop it, then migrate"
        );
    }
    let there = to.usage()?;
    if there.received > 0 || there.queued > 0 {
        bail!(
            "the target database already holds {} received and {} queued message(s): \
             migrate into an empty one",
            there.received,
            there.queued
        );
    }
    let mut moved = Moved::default();
    from.each_inbound(|message| {
        let bytes = copy_inbound(from, to, message)
            .with_context(|| format!("moving received message {}", message.message_id))?;
        moved.received += 1;
        moved.bytes += bytes;
        moved.streams += u64::from(matches!(message.content, Content::Stream(_)));
        Ok(())
    })?;
    let aside: Vec<_> = from.quarantined()?.iter().map(|m| m.message_id).collect();
    for message in from.all_queued()? {
        let bytes = copy_outbound(from, to, &message)
            .with_context(|| format!("moving queued message {}", message.message_id))?;
        if aside.contains(&message.message_id) {
            to.quarantine(message.message_id)?;
        }
        moved.queued += 1;
        moved.bytes += bytes;
        moved.streams += u64::from(message.stream.is_some());
    }
    Ok(moved)
}

fn copy_inbound(from: &SqliteStore, to: &PgStore, message: &Inbound) -> anyhow::Result<u64> {
    let mut copy = message.clone();
    let mut source_digest = None;
    let bytes = match &message.content {
        Content::Stream(stream) => {
            let copied = copy_stream(from, to, stream)?;
            copy.content = Content::Stream(copied.stream);
            source_digest = Some(copied.digest);
            copied.bytes
        }
        Content::Envelope(envelope) => envelope.len() as u64,
        Content::Unloaded => bail!("no content"),
    };
    if to.store_inbound(&copy)? != Insert::Stored {
        bail!("the target already holds a message under this sender and id");
    }
    let back = to.find_inbound_exact(&message.sender, &message.message_id)?;
    let same = match (&message.content, &back.content, source_digest) {
        (Content::Envelope(a), Content::Envelope(b), _) => a == b,
        (Content::Stream(_), Content::Stream(b), Some(copied)) => digest(to, b)? == copied,
        _ => false,
    };
    if !same || back.text_digest != message.text_digest || back.sender_name != message.sender_name {
        bail!("read back from PostgreSQL, it differs from the original");
    }
    Ok(bytes)
}

fn copy_outbound(from: &SqliteStore, to: &PgStore, message: &Outbound) -> anyhow::Result<u64> {
    let mut copy = message.clone();
    let mut bytes = message.envelope.len() as u64;
    let mut source_digest = None;
    if let Some(stream) = &message.stream {
        let copied = copy_stream(from, to, stream)?;
        copy.stream = Some(copied.stream);
        source_digest = Some(copied.digest);
        bytes = copied.bytes;
    }
    to.enqueue(&copy)?;
    let back = to
        .queued_message(&message.message_id)?
        .context("not found in PostgreSQL after it was written")?;
    let same = match (&back.stream, source_digest) {
        (None, None) => back.envelope == message.envelope,
        (Some(b), Some(copied)) => digest(to, b)? == copied,
        _ => false,
    };
    if !same || back.recipient != message.recipient {
        bail!("read back from PostgreSQL, it differs from the original");
    }
    Ok(bytes)
}

/// A stream copied: its name in the target, its bytes, and the digest of
/// what was read from the source (see [`digest`]).
struct Copied {
    stream: StreamRef,
    bytes: u64,
    digest: [u8; 32],
}

/// Copies a stream frame by frame (memory stays at one frame), digesting
/// the source as it is read, so that it is read once.
fn copy_stream(
    from: &dyn MessageStore,
    to: &dyn MessageStore,
    stream: &StreamRef,
) -> anyhow::Result<Copied> {
    let mut frames = from.open_stream(stream)?;
    let mut sink = to.begin_stream()?;
    let mut hasher = blake3::Hasher::new();
    while let Some(frame) = frames.next_frame()? {
        hash_frame(&mut hasher, &frame);
        sink.write_frame(&frame)?;
    }
    let bytes = sink.bytes();
    Ok(Copied {
        stream: sink.commit()?,
        bytes,
        digest: *hasher.finalize().as_bytes(),
    })
}

/// Adds a frame to a stream's digest, its length first.
fn hash_frame(hasher: &mut blake3::Hasher, frame: &[u8]) {
    hasher.update(&(frame.len() as u32).to_be_bytes());
    hasher.update(frame);
}

/// A digest of a stream's frames, lengths included.
fn digest(store: &dyn MessageStore, stream: &StreamRef) -> anyhow::Result<[u8; 32]> {
    let mut frames = store.open_stream(stream)?;
    let mut hasher = blake3::Hasher::new();
    while let Some(frame) = frames.next_frame()? {
        hash_frame(&mut hasher, &frame);
    }
    Ok(*hasher.finalize().as_bytes())
}
