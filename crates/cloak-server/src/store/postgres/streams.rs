//! Streams as rows: a stream's frames are kept exactly as a stream file
//! holds them (each frame's 4-byte length, then the frame), cut at frame
//! boundaries into rows of about [`ROW_TARGET`] bytes, so that a reader
//! holds one row at a time and a migrated file is rows of its own bytes.
//!
//! A stream being written belongs to the instance writing it (`owner`,
//! that instance's liveness key, see `liveness`) until the row of a
//! message names it (`owner` becomes NULL in the message's transaction).
//! Chunk rows are committed without waiting for the disk: the commit of
//! the stream itself waits, and PostgreSQL's log is written in order, so
//! once that commit returns every chunk before it is durable too.
//! The room a stream takes is granted in pieces as it grows (see `room`),
//! recorded per shard in `stream_room`, and given back when the stream is
//! deleted (by its message's deletion, or by the cleanup of an instance
//! that died while writing it).

use std::sync::Arc;

use cloak_core::limits::MAX_FRAME_LEN;
use cloak_core::session::frame;

use super::inner::Inner;
use super::room;
use crate::store::{FrameSource, StoreError, StreamRef, StreamSink};

/// Rows are cut once they hold this much: a chunk's frame (256 KiB of
/// sealed data) is one row, and a reader never holds more than one row and
/// one frame.
const ROW_TARGET: usize = 256 * 1024;

/// The longest row the store writes: a row is cut once it reaches the
/// target, so at most the target less a byte plus one whole frame.
const MAX_ROW: i32 = (ROW_TARGET + frame::HEADER_LEN + MAX_FRAME_LEN) as i32;

/// Room is granted to a stream this much at a time (or exactly what it
/// needs, near the limit): one shard update per MiB, not per frame.
const GRANT: u64 = 1024 * 1024;

/// The row key of a stream this store named.
pub(super) fn stream_id(stream: &StreamRef) -> Result<i64, StoreError> {
    stream
        .name()
        .parse()
        .map_err(|_| StoreError::Damaged(format!("`{stream}` is not a stream of this store")))
}

/// A stream being written into rows.
pub(super) struct RowSink {
    inner: Arc<Inner>,
    id: i64,
    row: Vec<u8>,
    seq: i32,
    bytes: u64,
    /// Room granted so far, and the shard of the last grant (the one any
    /// unused room is given back to).
    granted: u64,
    last_shard: i32,
    committed: bool,
}

impl RowSink {
    /// A new stream row owned by this instance.
    pub(super) fn begin(inner: Arc<Inner>) -> Result<RowSink, StoreError> {
        // A stream written under a lock this instance lost (the database
        // restarted) would be swept by another instance as dead.
        inner.live.renew(&inner.target)?;
        let id: i64 = inner
            .conn()?
            .query_one(
                "INSERT INTO streams (owner) VALUES ($1) RETURNING id",
                &[&inner.live.owner()],
            )?
            .get(0);
        Ok(RowSink {
            inner,
            id,
            row: Vec::with_capacity(ROW_TARGET + frame::HEADER_LEN),
            seq: 0,
            bytes: 0,
            granted: 0,
            last_shard: 0,
            committed: false,
        })
    }

    /// Makes sure `more` bytes are granted, asking for a whole grant when
    /// the store has it.
    fn reserve(&mut self, more: u64) -> Result<(), StoreError> {
        if self.bytes + more <= self.granted {
            return Ok(());
        }
        let need = self.bytes + more - self.granted;
        match self.grant(need.max(GRANT)) {
            Err(StoreError::Full { .. }) if need < GRANT => self.grant(need),
            other => other,
        }
    }

    fn grant(&mut self, bytes: u64) -> Result<(), StoreError> {
        let max = self.inner.limits.max_bytes;
        let id = self.id;
        let shard = self.inner.transaction(|tx| {
            tx.batch_execute("SET LOCAL synchronous_commit = off")?;
            let shard = room::charge(tx, bytes, max)?;
            tx.execute(
                "INSERT INTO stream_room (stream, shard, bytes) VALUES ($1, $2, $3)
                 ON CONFLICT (stream, shard) DO UPDATE SET bytes = stream_room.bytes + $3",
                &[&id, &shard, &(bytes as i64)],
            )?;
            Ok(shard)
        })?;
        self.granted += bytes;
        self.last_shard = shard;
        Ok(())
    }

    /// Writes the row gathered so far, without waiting for the disk.
    fn flush(&mut self) -> Result<(), StoreError> {
        if self.row.is_empty() {
            return Ok(());
        }
        let (id, seq, row) = (self.id, self.seq, &self.row);
        self.inner.transaction(|tx| {
            tx.batch_execute("SET LOCAL synchronous_commit = off")?;
            tx.execute(
                "INSERT INTO stream_chunks (stream, seq, data) VALUES ($1, $2, $3)",
                &[&id, &seq, row],
            )?;
            Ok(())
        })?;
        self.seq += 1;
        self.row.clear();
        Ok(())
    }
}

impl StreamSink for RowSink {
    fn write_frame(&mut self, payload: &[u8]) -> Result<(), StoreError> {
        let added = (frame::HEADER_LEN + payload.len()) as u64;
        self.reserve(added)?;
        self.row
            .extend_from_slice(&(payload.len() as u32).to_be_bytes());
        self.row.extend_from_slice(payload);
        self.bytes += added;
        if self.row.len() >= ROW_TARGET {
            self.flush()?;
        }
        Ok(())
    }

    fn bytes(&self) -> u64 {
        self.bytes
    }

    fn commit(mut self: Box<Self>) -> Result<StreamRef, StoreError> {
        self.flush()?;
        let (id, bytes, owner, rows) = (self.id, self.bytes, self.inner.live.owner(), self.seq);
        let unused = self.granted - self.bytes;
        let shard = self.last_shard;
        self.inner.transaction(|tx| {
            let marked = tx.execute(
                "UPDATE streams SET committed = true, bytes = $2, rows = $4
                 WHERE id = $1 AND owner = $3",
                &[&id, &(bytes as i64), &owner, &rows],
            )?;
            if marked != 1 {
                // Only when this instance lost its liveness lock (the
                // database restarted) and another instance swept it.
                return Err(StoreError::Damaged(format!(
                    "stream {id} was removed while it was written"
                )));
            }
            if unused > 0 {
                tx.execute(
                    "UPDATE stream_room SET bytes = bytes - $3 WHERE stream = $1 AND shard = $2",
                    &[&id, &shard, &(unused as i64)],
                )?;
                room::release(tx, shard, unused)?;
            }
            Ok(())
        })?;
        self.committed = true;
        Ok(StreamRef::new(id.to_string()))
    }
}

impl Drop for RowSink {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        // A sink may be dropped on an async worker, where the blocking
        // client must not run (it panics there): within a runtime, the
        // discarder thread deletes the stream instead, a moment later.
        if tokio::runtime::Handle::try_current().is_ok() {
            (self.inner.discarder).later(self.id, self.inner.live.owner());
        } else {
            self.inner.discard(self.id);
        }
    }
}

/// A committed stream read back one row at a time.
pub(super) struct RowFrames {
    inner: Arc<Inner>,
    id: i64,
    seq: i32,
    /// Rows the stream was committed with: one missing before the last is
    /// a stream deleted while it was read, not its end.
    rows: i32,
    row: Vec<u8>,
    at: usize,
    ended: bool,
}

impl RowFrames {
    /// Opens committed stream `id`; a stream not (or no longer) there is
    /// not found.
    pub(super) fn open(inner: Arc<Inner>, stream: &StreamRef) -> Result<RowFrames, StoreError> {
        let id = stream_id(stream)?;
        let found = inner.conn()?.query_opt(
            "SELECT rows FROM streams WHERE id = $1 AND committed",
            &[&id],
        )?;
        let Some(found) = found else {
            return Err(StoreError::NotFound(format!("stream {id}")));
        };
        Ok(RowFrames {
            inner,
            id,
            seq: 0,
            rows: found.get(0),
            row: Vec::new(),
            at: 0,
            ended: false,
        })
    }

    /// The next frame's place in the current row, fetching the next row
    /// when this one is used up; `None` at the end.
    fn next_span(&mut self) -> Result<Option<(usize, usize)>, StoreError> {
        while self.at == self.row.len() {
            if self.ended || !self.fetch()? {
                self.ended = true;
                return Ok(None);
            }
        }
        let rest = &self.row[self.at..];
        let truncated = || StoreError::Damaged("stored stream is truncated".into());
        let prefix: [u8; 4] = rest
            .get(..4)
            .ok_or_else(truncated)?
            .try_into()
            .unwrap_or_default();
        let len = u32::from_be_bytes(prefix) as usize;
        if len > MAX_FRAME_LEN {
            return Err(StoreError::Damaged("stored stream is damaged".into()));
        }
        let start = self.at + 4;
        if start + len > self.row.len() {
            return Err(truncated());
        }
        self.at = start + len;
        Ok(Some((start, len)))
    }

    fn fetch(&mut self) -> Result<bool, StoreError> {
        // A row is loaded only if it is no longer than the store writes
        // them: one written by someone else cannot make a reader allocate
        // whatever it declares.
        let row = self.inner.conn()?.query_opt(
            "SELECT CASE WHEN octet_length(data) <= $3 THEN data END
             FROM stream_chunks WHERE stream = $1 AND seq = $2",
            &[&self.id, &self.seq, &MAX_ROW],
        )?;
        let Some(row) = row else {
            if self.seq < self.rows {
                return Err(StoreError::NotFound(format!(
                    "stream {} (removed while it was read)",
                    self.id
                )));
            }
            return Ok(false);
        };
        self.row = row
            .get::<_, Option<Vec<u8>>>(0)
            .ok_or_else(|| StoreError::Damaged("a stored stream row is too long".into()))?;
        self.at = 0;
        self.seq += 1;
        Ok(true)
    }
}

impl FrameSource for RowFrames {
    fn next_frame_into(&mut self, buf: &mut [u8]) -> Result<Option<usize>, StoreError> {
        let Some((start, len)) = self.next_span()? else {
            return Ok(None);
        };
        let out = buf
            .get_mut(..len)
            .ok_or_else(|| StoreError::Damaged("stored stream is damaged".into()))?;
        out.copy_from_slice(&self.row[start..start + len]);
        Ok(Some(len))
    }

    fn next_frame(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .next_span()?
            .map(|(start, len)| self.row[start..start + len].to_vec()))
    }
}
