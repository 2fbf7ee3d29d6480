//! The message operations on PostgreSQL. Each is one transaction; the
//! checks that guard an insert (the mailbox count, a sender's share) are
//! made under a transaction advisory lock on that mailbox or sender, so
//! two instances cannot both pass a check that only one insert fits, while
//! different mailboxes and senders never wait for each other.

use std::collections::HashMap;
use std::net::IpAddr;

use cloak_core::limits::MAX_FRAME_LEN;
use cloak_core::{Fingerprint, MessageId};
use postgres::Transaction;

use super::inner::{Inner, PgStore};
use super::locks::{MAILBOX_LOCKS, SENDER_LOCKS};
use super::room;
use super::streams::{RowFrames, RowSink, stream_id};
use crate::store::rows::{fingerprint, id_prefix, mode, parse_id};
use crate::store::{
    Content, FrameSource, Inbound, InboxQuery, Insert, MessageStore, Outbound, StoreError,
    StreamRef, StreamSink, Usage,
};

/// The columns every inbound query selects first, in [`inbound_row`]'s order.
const INBOUND_COLUMNS: &str = "sender, id, sender_name, received_at, mode, size, text_digest";

/// An envelope column as the queries select it: the bytes only when no
/// longer than any envelope the store writes (one frame), so that a row
/// written by someone else cannot make a reader allocate what it declares.
const ENVELOPE: &str = "CASE WHEN octet_length(envelope) <= 16846848 THEN envelope END";
const _: () = assert!(MAX_FRAME_LEN == 16_846_848, "ENVELOPE's bound is one frame");

/// Column `i` of a row, or damage (a NULL or another type where the
/// schema has none: a row not written by this store).
fn column<'a, T: postgres::types::FromSql<'a>>(
    row: &'a postgres::Row,
    i: usize,
) -> Result<T, StoreError> {
    row.try_get(i)
        .map_err(|e| StoreError::Damaged(format!("a stored row: {e}")))
}

/// The envelope column `i` (see [`ENVELOPE`]).
fn envelope(row: &postgres::Row, i: usize) -> Result<Vec<u8>, StoreError> {
    column::<Option<Vec<u8>>>(row, i)?
        .ok_or_else(|| StoreError::Damaged("a stored envelope is longer than a frame".into()))
}

fn inbound_row(row: &postgres::Row, content: Content) -> Result<Inbound, StoreError> {
    Ok(Inbound {
        message_id: parse_id(column(row, 1)?)?,
        sender: fingerprint(column(row, 0)?)?,
        sender_name: column(row, 2)?,
        received_at: column::<i64>(row, 3)?.max(0) as u64,
        mode: mode(column(row, 4)?)?,
        size: column::<i64>(row, 5)?.max(0) as u64,
        text_digest: column::<Option<Vec<u8>>>(row, 6)?.and_then(|d| d.try_into().ok()),
        content,
    })
}

/// Takes the transaction lock of `key` in `space` (a mailbox or sender):
/// 64 bits of the key's fingerprint (a digest, which no client can steer
/// to collide with another's short of 2^32 work), told apart by space.
fn lock(tx: &mut Transaction<'_>, space: i64, key: &Fingerprint) -> Result<(), StoreError> {
    let mut first = [0u8; 8];
    first.copy_from_slice(&key.0[..8]);
    let key = i64::from_be_bytes(first) ^ space;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&key])?;
    Ok(())
}

impl Inner {
    /// Makes committed stream `id` the message's in `tx`: it is then no
    /// longer this instance's to clean up. Returns its bytes.
    fn adopt(&self, tx: &mut Transaction<'_>, id: i64) -> Result<u64, StoreError> {
        let row = tx.query_opt(
            "UPDATE streams SET owner = NULL WHERE id = $1 AND owner = $2 AND committed
             RETURNING bytes",
            &[&id, &self.live.owner()],
        )?;
        let row = row.ok_or_else(|| {
            StoreError::Damaged(format!(
                "stream {id} is not a committed stream of this instance"
            ))
        })?;
        Ok(row.get::<_, i64>(0).max(0) as u64)
    }

    /// Where a message's bytes go: a committed stream adopted (its room
    /// already granted), or an envelope's bytes charged to a shard.
    pub(super) fn place(
        &self,
        tx: &mut Transaction<'_>,
        stream: Option<i64>,
        envelope: &[u8],
    ) -> Result<(Option<i32>, u64), StoreError> {
        match stream {
            Some(id) => Ok((None, self.adopt(tx, id)?)),
            None => {
                let bytes = envelope.len() as u64;
                Ok((Some(room::charge(tx, bytes, self.limits.max_bytes)?), bytes))
            }
        }
    }

    /// Takes the sender's lock when its share is checked.
    fn lock_sender(
        &self,
        tx: &mut Transaction<'_>,
        sender: &Fingerprint,
    ) -> Result<(), StoreError> {
        if self.limits.sender_share.is_some() {
            lock(tx, SENDER_LOCKS, sender)?;
        }
        Ok(())
    }

    fn check_sender_share(
        &self,
        tx: &mut Transaction<'_>,
        sender: &Fingerprint,
        adding: u64,
    ) -> Result<(), StoreError> {
        if self.limits.sender_share.is_none() {
            return Ok(());
        }
        let used: i64 = tx
            .query_one(
                "SELECT COALESCE(SUM(bytes), 0)::bigint FROM inbound WHERE sender = $1",
                &[&sender.as_bytes().as_slice()],
            )?
            .get(0);
        self.limits.sender_fits(used.max(0) as u64, adding)
    }

    fn insert_inbound(&self, m: &Inbound, stream: Option<i64>) -> Result<Insert, StoreError> {
        let envelope: &[u8] = match &m.content {
            Content::Envelope(envelope) => envelope,
            _ => &[],
        };
        self.transaction_or_not(|tx| {
            // The sender's lock before any shard's: a sender's messages
            // waiting for each other must not hold shards others need.
            self.lock_sender(tx, &m.sender)?;
            let (shard, bytes) = self.place(tx, stream, envelope)?;
            self.check_sender_share(tx, &m.sender, bytes)?;
            let inserted = tx.execute(
                "INSERT INTO inbound (sender, id, sender_name, received_at, mode, size, bytes,
                                      envelope, stream, shard, text_digest)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (sender, id) DO NOTHING",
                &[
                    &m.sender.as_bytes().as_slice(),
                    &m.message_id.to_string(),
                    &m.sender_name,
                    &(m.received_at as i64),
                    &m.mode.as_str(),
                    &(m.size as i64),
                    &(bytes as i64),
                    &envelope,
                    &stream,
                    &shard,
                    &m.text_digest.as_ref().map(|d| d.as_slice()),
                ],
            )?;
            if inserted == 1 {
                return Ok((Insert::Stored, true));
            }
            // Stored already, maybe by another instance a moment ago:
            // this transaction's charge and adoption roll back.
            let stored: Option<Vec<u8>> = tx
                .query_one(
                    "SELECT text_digest FROM inbound WHERE sender = $1 AND id = $2",
                    &[&m.sender.as_bytes().as_slice(), &m.message_id.to_string()],
                )?
                .get(0);
            let seen = match (stored, m.text_digest) {
                (Some(stored), Some(new)) if stored != new => Insert::Conflict,
                _ => Insert::Duplicate,
            };
            Ok((seen, false))
        })
    }

    fn insert_outbound(&self, m: &Outbound, stream: Option<i64>) -> Result<(), StoreError> {
        self.transaction(|tx| {
            lock(tx, MAILBOX_LOCKS, &m.recipient)?;
            let queued: i64 = tx
                .query_one(
                    "SELECT count(*) FROM outbound WHERE recipient = $1 AND NOT quarantined",
                    &[&m.recipient.as_bytes().as_slice()],
                )?
                .get(0);
            (self.limits).mailbox_fits(queued.max(0) as u64, &m.recipient_name)?;
            let (shard, bytes) = self.place(tx, stream, &m.envelope)?;
            tx.execute(
                "INSERT INTO outbound (id, recipient, recipient_name, created_at, size, bytes,
                                       envelope, stream, shard)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[
                    &m.message_id.to_string(),
                    &m.recipient.as_bytes().as_slice(),
                    &m.recipient_name,
                    &(m.created_at as i64),
                    &(m.size as i64),
                    &(bytes as i64),
                    &m.envelope,
                    &stream,
                    &shard,
                ],
            )?;
            Ok(())
        })
    }

    /// After a message refused its stream: the stream is deleted.
    pub(super) fn settle(&self, stream: Option<i64>, taken: bool) {
        if let (Some(id), false) = (stream, taken) {
            self.discard(id);
        }
    }
}

fn stream_of(content: Option<&StreamRef>) -> Result<Option<i64>, StoreError> {
    content.map(stream_id).transpose()
}

impl MessageStore for PgStore {
    fn begin_stream_from(
        &self,
        _sender: Option<IpAddr>,
    ) -> Result<Box<dyn StreamSink>, StoreError> {
        Ok(Box::new(RowSink::begin(self.inner.clone())?))
    }

    fn open_stream(&self, stream: &StreamRef) -> Result<Box<dyn FrameSource>, StoreError> {
        Ok(Box::new(RowFrames::open(self.inner.clone(), stream)?))
    }

    fn store_inbound(&self, m: &Inbound) -> Result<Insert, StoreError> {
        let stream = match &m.content {
            Content::Envelope(_) => None,
            Content::Stream(stream) => stream_of(Some(stream))?,
            Content::Unloaded => return Err(StoreError::Damaged("no content to store".into())),
        };
        let result = self.inner.insert_inbound(m, stream);
        self.inner
            .settle(stream, matches!(result, Ok(Insert::Stored)));
        result
    }

    fn inbox(&self, query: &InboxQuery) -> Result<Vec<Inbound>, StoreError> {
        let since = query
            .since
            .map_or(0, |t| i64::try_from(t).unwrap_or(i64::MAX));
        let limit = query.limit.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
        let rows = self.inner.conn()?.query(
            &format!(
                "SELECT {INBOUND_COLUMNS} FROM inbound WHERE received_at >= $1
                 ORDER BY received_at, seq LIMIT $2"
            ),
            &[&since, &limit],
        )?;
        rows.iter()
            .map(|row| inbound_row(row, Content::Unloaded))
            .collect()
    }

    fn find_inbound(&self, prefix: &str) -> Result<Inbound, StoreError> {
        let wanted = id_prefix(prefix)?;
        let rows = self.inner.conn()?.query(
            &format!(
                "SELECT {INBOUND_COLUMNS}, {ENVELOPE}, stream FROM inbound
                 WHERE id LIKE $1 || '%' LIMIT 2"
            ),
            &[&wanted],
        )?;
        match rows.as_slice() {
            [] => Err(StoreError::NotFound(prefix.to_owned())),
            [row] => inbound_row(row, row_content(row)?),
            _ => Err(StoreError::Ambiguous(prefix.to_owned())),
        }
    }

    fn enqueue(&self, m: &Outbound) -> Result<(), StoreError> {
        let stream = stream_of(m.stream.as_ref())?;
        let result = self.inner.insert_outbound(m, stream);
        self.inner.settle(stream, result.is_ok());
        result
    }

    fn pending(
        &self,
        recipient: &Fingerprint,
        limit: usize,
    ) -> Result<(Vec<Outbound>, usize), StoreError> {
        let mut conn = self.inner.conn()?;
        let key = recipient.as_bytes().as_slice();
        let total: i64 = conn
            .query_one(
                "SELECT count(*) FROM outbound WHERE recipient = $1 AND NOT quarantined",
                &[&key],
            )?
            .get(0);
        let rows = conn.query(
            &format!(
                "{OUTBOUND_SELECT} WHERE recipient = $1 AND NOT quarantined ORDER BY seq LIMIT $2"
            ),
            &[&key, &(limit.min(i64::MAX as usize) as i64)],
        )?;
        let messages = rows.iter().map(outbound_row).collect::<Result<_, _>>()?;
        Ok((messages, total.max(0) as usize))
    }

    fn acknowledge(&self, recipient: &Fingerprint, ids: &[MessageId]) -> Result<usize, StoreError> {
        let ids: Vec<String> = ids.iter().map(MessageId::to_string).collect();
        let removed = self.inner.transaction(|tx| {
            Ok(tx.execute(
                "DELETE FROM outbound WHERE recipient = $1 AND id = ANY($2)",
                &[&recipient.as_bytes().as_slice(), &ids],
            )?)
        })?;
        Ok(removed as usize)
    }

    fn queued_counts(&self) -> Result<HashMap<Fingerprint, usize>, StoreError> {
        let rows = self.inner.conn()?.query(
            "SELECT recipient, count(*) FROM outbound WHERE NOT quarantined GROUP BY recipient",
            &[],
        )?;
        rows.iter()
            .map(|row| {
                Ok((
                    fingerprint(row.get(0))?,
                    row.get::<_, i64>(1).max(0) as usize,
                ))
            })
            .collect()
    }

    fn check(&self) -> Result<(), StoreError> {
        // The liveness session's round trip, which renews the lock when
        // the session was lost: not a pooled connection, so that a busy
        // pool does not make a healthy instance look down.
        self.inner.live.renew(&self.inner.target)
    }

    fn usage(&self) -> Result<Usage, StoreError> {
        let row = self.inner.conn()?.query_one(
            "SELECT (SELECT COALESCE(SUM(used), 0)::bigint FROM room),
                    (SELECT COALESCE(SUM(r.bytes), 0)::bigint FROM stream_room r
                        JOIN streams s ON s.id = r.stream WHERE s.owner IS NOT NULL),
                    (SELECT count(*) FROM inbound),
                    (SELECT count(*) FROM outbound)",
            &[],
        )?;
        let total = row.get::<_, i64>(0).max(0) as u64;
        let reserved = row.get::<_, i64>(1).max(0) as u64;
        Ok(Usage {
            used_bytes: total.saturating_sub(reserved),
            limit_bytes: self.inner.limits.max_bytes,
            reserved_bytes: reserved,
            received: row.get::<_, i64>(2).max(0) as u64,
            queued: row.get::<_, i64>(3).max(0) as u64,
        })
    }
}

impl PgStore {
    /// The received message from `sender` with id `id`, content loaded.
    pub fn find_inbound_exact(
        &self,
        sender: &Fingerprint,
        id: &MessageId,
    ) -> Result<Inbound, StoreError> {
        let row = self.inner.conn()?.query_opt(
            &format!(
                "SELECT {INBOUND_COLUMNS}, {ENVELOPE}, stream FROM inbound
                 WHERE sender = $1 AND id = $2"
            ),
            &[&sender.as_bytes().as_slice(), &id.to_string()],
        )?;
        let row = row.ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        inbound_row(&row, row_content(&row)?)
    }
}

/// A row's content: its stream, or its envelope (columns 7 and 8).
fn row_content(row: &postgres::Row) -> Result<Content, StoreError> {
    Ok(match column::<Option<i64>>(row, 8)? {
        Some(id) => Content::Stream(StreamRef::new(id.to_string())),
        None => Content::Envelope(envelope(row, 7)?),
    })
}

/// The columns [`outbound_row`] reads (the envelope as [`ENVELOPE`]).
pub(super) const OUTBOUND_SELECT: &str = "SELECT id, recipient, recipient_name, created_at, size,
        CASE WHEN octet_length(envelope) <= 16846848 THEN envelope END, stream FROM outbound";

pub(super) fn outbound_row(row: &postgres::Row) -> Result<Outbound, StoreError> {
    Ok(Outbound {
        message_id: parse_id(column(row, 0)?)?,
        recipient: fingerprint(column(row, 1)?)?,
        recipient_name: column(row, 2)?,
        created_at: column::<i64>(row, 3)?.max(0) as u64,
        size: column::<i64>(row, 4)?.max(0) as u64,
        envelope: envelope(row, 5)?,
        stream: column::<Option<i64>>(row, 6)?.map(|id| StreamRef::new(id.to_string())),
    })
}
