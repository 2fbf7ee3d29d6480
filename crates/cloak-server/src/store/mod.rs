//! Where the server keeps messages: received messages (the inbox) and
//! messages queued for clients (mailboxes). Everything is kept encrypted:
//! received envelopes exactly as they arrived, sealed to the server key;
//! queued messages sealed by the server to itself until delivery re-seals
//! them to the client.
//!
//! [`MessageStore`] is the seam between the server and where it keeps
//! messages: [`sqlite::SqliteStore`], the embedded default, or
//! [`postgres::PgStore`], one database shared by several server instances.
//! Streams are the store's own too (see [`stream`]): files beside SQLite,
//! rows in PostgreSQL. Both run the same contract tests (`contract`).

#[cfg(test)]
pub(crate) mod contract;
mod error;
pub mod postgres;
mod room;
mod rows;
pub mod sqlite;
pub mod stream;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;

use cloak_core::{Fingerprint, MessageId, Mode};

pub use error::StoreError;
pub use stream::{FrameSource, StreamRef, StreamSink};

/// A received, verified message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// The sender's message id (unique per sender).
    pub message_id: MessageId,
    /// The verified sender.
    pub sender: Fingerprint,
    /// The sender's name when it arrived.
    pub sender_name: String,
    /// Seconds since the Unix epoch, server clock.
    pub received_at: u64,
    /// The mode it travelled in.
    pub mode: Mode,
    /// Length of the message text in bytes.
    pub size: u64,
    /// Digest of the text alone (see [`text_digest`]): a retry of the same
    /// text is the same message, another text under the same id is not.
    /// Not loaded in listings.
    pub text_digest: Option<[u8; 32]>,
    /// The message as received, sealed to the server's key.
    pub content: Content,
}

/// The digest that tells a retry from another message under the same id:
/// of the text alone, since each attempt draws a new receipt key before it.
pub fn text_digest() -> blake3::Hasher {
    blake3::Hasher::new_derive_key("CloakRoom 2026-11-28 stored text v1")
}

/// Where a received message's sealed bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// An asymmetric-mode envelope, kept in the database.
    Envelope(Vec<u8>),
    /// A hybrid stream's frames (head, chunks, final chunk), kept by the
    /// store under this name.
    Stream(StreamRef),
    /// Not loaded (listings).
    Unloaded,
}

/// A message queued for a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound {
    /// Its id; kept on every delivery so the client can acknowledge it.
    pub message_id: MessageId,
    /// The client it is for.
    pub recipient: Fingerprint,
    /// That client's name when it was queued.
    pub recipient_name: String,
    /// Seconds since the Unix epoch.
    pub created_at: u64,
    /// Length of the text in bytes.
    pub size: u64,
    /// The text sealed by the server to itself: one envelope (empty when
    /// the message is a stream file).
    pub envelope: Vec<u8>,
    /// A message too large for one envelope: a committed stream sealed by
    /// the server to itself, delivered as a stream.
    pub stream: Option<StreamRef>,
}

/// Whether a message was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    /// Written and committed.
    Stored,
    /// Already there (a retry with the same id and text): nothing written.
    Duplicate,
    /// Another text is stored under this sender and id: nothing written,
    /// and the sender is told, not receipted.
    Conflict,
}

/// What a backup copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    /// The backup's folder.
    pub dir: PathBuf,
    /// Received messages in the copy.
    pub received: u64,
    /// Messages queued for clients in the copy.
    pub queued: u64,
    /// Stream files copied.
    pub streams: u64,
    /// Bytes written: the database and the stream files.
    pub bytes: u64,
}

impl std::fmt::Display for BackupSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "Backed up {} received and {} queued message(s), {} stream file(s), {} bytes in all, to {}.",
            self.received,
            self.queued,
            self.streams,
            self.bytes,
            self.dir.display()
        )
    }
}

/// What the store holds, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Bytes of stored messages, as counted against the limit.
    pub used_bytes: u64,
    /// The limit.
    pub limit_bytes: u64,
    /// Bytes reserved by streams being received: by this process for the
    /// embedded store, by every instance for PostgreSQL.
    pub reserved_bytes: u64,
    /// Received messages.
    pub received: u64,
    /// Messages queued for clients (those set aside included).
    pub queued: u64,
}

/// Which received messages a listing wants, chosen in the store's query:
/// an inbox of millions of messages is not read whole to show ten.
#[derive(Debug, Clone, Copy, Default)]
pub struct InboxQuery {
    /// Only those received at or after this time (seconds since the epoch).
    pub since: Option<u64>,
    /// At most this many, the oldest first.
    pub limit: Option<usize>,
}

/// Limits the store enforces, with a clear error when reached.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Total bytes of stored envelopes.
    pub max_bytes: u64,
    /// Messages queued for one client.
    pub max_mailbox: usize,
    /// The part of `max_bytes`, in percent, that one sender's received
    /// messages may take, so that one client cannot fill the store for
    /// everyone; all of it when `None`.
    pub sender_share: Option<u8>,
}

/// Default total size: generous for a message server, far from filling a
/// disk unnoticed.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;

/// Default mailbox size: a client that never collects its messages cannot
/// grow the store without bound.
pub const DEFAULT_MAX_MAILBOX: usize = 1000;

impl Limits {
    /// Whether a sender whose received messages take `used` bytes may
    /// store `adding` more within its share (see `sender_share`).
    pub(crate) fn sender_fits(&self, used: u64, adding: u64) -> Result<(), StoreError> {
        let Some(share) = self.sender_share else {
            return Ok(());
        };
        let max = self.max_bytes / 100 * u64::from(share);
        if used + adding > max {
            return Err(StoreError::Full { used, max });
        }
        Ok(())
    }

    /// Whether the mailbox of `name`, holding `queued` messages, takes one
    /// more.
    pub(crate) fn mailbox_fits(&self, queued: u64, name: &str) -> Result<(), StoreError> {
        if queued >= self.max_mailbox as u64 {
            return Err(StoreError::MailboxFull {
                name: name.to_owned(),
                max: self.max_mailbox,
            });
        }
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: DEFAULT_MAX_BYTES,
            max_mailbox: DEFAULT_MAX_MAILBOX,
            sender_share: None,
        }
    }
}

/// Keeping queued messages sound: upgrading their seals, and setting aside
/// those that do not open, so that one bad row never stops a mailbox.
pub trait Queue {
    /// Queued messages whose at-rest seal is not bound to their place yet
    /// (queued by an older version), to be re-sealed by the server.
    fn legacy_sealed(&self) -> Result<Vec<Outbound>, StoreError>;
    /// Replaces a queued message's sealed bytes (`envelope`, or the new
    /// committed stream file) with a seal bound to its place.
    fn resealed(&self, message: &Outbound) -> Result<(), StoreError>;
    /// Sets a queued message aside: it is delivered no more, and the rest
    /// of its mailbox is.
    fn quarantine(&self, message_id: MessageId) -> Result<(), StoreError>;
    /// Every message set aside, with its sealed bytes.
    fn quarantined(&self) -> Result<Vec<Outbound>, StoreError>;
    /// Deletes the received or queued messages with these ids (whole ids,
    /// for a deletion); returns the ids found and deleted.
    fn delete(&self, ids: &[MessageId]) -> Result<Vec<MessageId>, StoreError>;
    /// Deletes received messages that arrived before `before` (seconds
    /// since the Unix epoch); returns how many.
    fn expire(&self, before: u64) -> Result<usize, StoreError>;
}

/// The operations the server and its operator commands need.
pub trait MessageStore: Queue + Send + Sync {
    /// Starts writing an incoming stream; nothing is stored until it is
    /// committed and then named by [`MessageStore::store_inbound`] or
    /// [`MessageStore::enqueue`].
    fn begin_stream(&self) -> Result<Box<dyn StreamSink>, StoreError> {
        self.begin_stream_from(None)
    }
    /// [`MessageStore::begin_stream`] for a stream from the network, not
    /// yet verified: its room counts against its sender address's share.
    fn begin_stream_from(&self, sender: Option<IpAddr>) -> Result<Box<dyn StreamSink>, StoreError>;
    /// Reads a committed stream of this store back.
    fn open_stream(&self, stream: &StreamRef) -> Result<Box<dyn FrameSource>, StoreError>;
    /// Durably stores a received message (committed before returning), once
    /// per (sender, id). A `Content::Stream` must be a committed stream of
    /// this store, which the store removes again when it does not take it
    /// (a duplicate, a conflict or an error).
    fn store_inbound(&self, message: &Inbound) -> Result<Insert, StoreError>;
    /// The received messages `query` asks for, oldest first, without the
    /// envelopes.
    fn inbox(&self, query: &InboxQuery) -> Result<Vec<Inbound>, StoreError>;
    /// The received message whose hex id starts with `prefix`.
    fn find_inbound(&self, prefix: &str) -> Result<Inbound, StoreError>;
    /// Queues a message for a client (a committed stream it names is
    /// removed again when the message is refused).
    fn enqueue(&self, message: &Outbound) -> Result<(), StoreError>;
    /// Up to `limit` queued messages for `recipient`, oldest first, and how
    /// many are queued in all.
    fn pending(
        &self,
        recipient: &Fingerprint,
        limit: usize,
    ) -> Result<(Vec<Outbound>, usize), StoreError>;
    /// Removes the listed messages from `recipient`'s mailbox (and only
    /// from it); returns how many were removed.
    fn acknowledge(&self, recipient: &Fingerprint, ids: &[MessageId]) -> Result<usize, StoreError>;
    /// Queued messages per recipient.
    fn queued_counts(&self) -> Result<HashMap<Fingerprint, usize>, StoreError>;
    /// What the store holds.
    fn usage(&self) -> Result<Usage, StoreError>;
    /// Whether the store answers now, cheaply (for health checks): an
    /// embedded store always does.
    fn check(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
