//! Keeping queued messages sound and the store from only growing: the
//! seal upgrade, setting aside what does not open, deletion and expiry.

use std::path::PathBuf;

use cloak_core::MessageId;
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::spool::MESSAGES_DIR;
use super::{SEAL_BOUND, SqliteStore, backend, fingerprint, parse_id, write_error};
use crate::store::{Outbound, Queue, StoreError, StreamRef};

impl SqliteStore {
    /// The file a stream row names, once the name is one the store itself
    /// gives (hex, `.stream`): a name written into the database by someone
    /// else must not lead outside `messages/`.
    pub(super) fn stream_path(&self, name: &str) -> Result<PathBuf, StoreError> {
        let valid = name.strip_suffix(".stream").is_some_and(|stem| {
            stem.len() == 32 && stem.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        });
        if !valid {
            return Err(StoreError::Damaged(format!(
                "the database names a stream file `{name}` that is not the store's"
            )));
        }
        Ok(self.dir.join(MESSAGES_DIR).join(name))
    }

    /// A stream row's name as a stream of this store, checked as
    /// [`SqliteStore::stream_path`] checks it.
    pub(super) fn stream_ref(&self, name: String) -> Result<StreamRef, StoreError> {
        self.stream_path(&name)?;
        Ok(StreamRef::new(name))
    }

    /// A committed stream file's length, as its row counts it.
    pub(super) fn stream_len(&self, stream: &StreamRef) -> Result<u64, StoreError> {
        let path = self.stream_path(stream.name())?;
        Ok(std::fs::metadata(&path)
            .map_err(|e| StoreError::io(&path, e))?
            .len())
    }

    /// Removes a committed stream file no row refers to (a refused or
    /// deleted message); one left behind by a crash is swept at start-up.
    pub(super) fn remove_stream(&self, stream: &StreamRef) {
        if let Ok(path) = self.stream_path(stream.name()) {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Queued messages matching `filter` (an SQL condition), with
    /// everything needed to open them.
    pub(super) fn outbound_where(&self, filter: &str) -> Result<Vec<Outbound>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT id, recipient, recipient_name, created_at, size, envelope, path
                 FROM outbound WHERE {filter} ORDER BY seq"
            ))
            .map_err(backend)?;
        let rows = stmt
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, Vec<u8>>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, i64>(4)?,
                    row.get::<_, Vec<u8>>(5)?,
                    row.get::<_, Option<String>>(6)?,
                ))
            })
            .map_err(backend)?;
        rows.map(|row| {
            let (id, recipient, recipient_name, created_at, size, envelope, path) =
                row.map_err(backend)?;
            Ok(Outbound {
                message_id: parse_id(&id)?,
                recipient: fingerprint(recipient)?,
                recipient_name,
                created_at: created_at as u64,
                size: size as u64,
                envelope,
                stream: path.map(|name| self.stream_ref(name)).transpose()?,
            })
        })
        .collect()
    }
}

#[cfg(test)]
impl SqliteStore {
    /// Marks every queued message as sealed the old way (for upgrade tests).
    pub(crate) fn mark_legacy(&self) {
        self.conn()
            .execute("UPDATE outbound SET seal = 1", [])
            .unwrap();
    }
}

impl Queue for SqliteStore {
    fn legacy_sealed(&self) -> Result<Vec<Outbound>, StoreError> {
        self.outbound_where(&format!("seal < {SEAL_BOUND} AND quarantined = 0"))
    }

    fn resealed(&self, message: &Outbound) -> Result<(), StoreError> {
        let (path, bytes) = match &message.stream {
            None => (None, message.envelope.len() as u64),
            Some(stream) => (Some(stream.name()), self.stream_len(stream)?),
        };
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(write_error)?;
        let old: Option<Option<String>> = tx
            .query_row(
                "SELECT path FROM outbound WHERE id = ?1",
                params![message.message_id.to_string()],
                |row| row.get(0),
            )
            .optional()
            .map_err(backend)?;
        tx.execute(
            "UPDATE outbound SET envelope = ?2, path = ?3, bytes = ?4, seal = ?5 WHERE id = ?1",
            params![
                message.message_id.to_string(),
                message.envelope,
                path,
                bytes as i64,
                SEAL_BOUND
            ],
        )
        .map_err(write_error)?;
        tx.commit().map_err(write_error)?;
        if let Some(Some(old)) = old
            && Some(old.as_str()) != path
        {
            self.remove_stream(&StreamRef::new(old));
        }
        Ok(())
    }

    fn quarantine(&self, message_id: MessageId) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(write_error)?;
        tx.execute(
            "UPDATE outbound SET quarantined = 1 WHERE id = ?1",
            params![message_id.to_string()],
        )
        .map_err(write_error)?;
        tx.commit().map_err(write_error)
    }

    fn quarantined(&self) -> Result<Vec<Outbound>, StoreError> {
        self.outbound_where("quarantined = 1")
    }

    fn delete(&self, ids: &[MessageId]) -> Result<Vec<MessageId>, StoreError> {
        let mut deleted = Vec::new();
        for id in ids {
            let hex = id.to_string();
            for table in ["inbound", "outbound"] {
                for found in self.delete_where(table, "id = ?1", &[&hex])? {
                    deleted.push(parse_id(&found)?);
                }
            }
        }
        Ok(deleted)
    }

    fn expire(&self, before: u64) -> Result<usize, StoreError> {
        let before = before.min(i64::MAX as u64) as i64;
        Ok(self
            .delete_where("inbound", "received_at < ?1", &[&before])?
            .len())
    }
}
