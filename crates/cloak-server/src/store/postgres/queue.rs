//! Keeping queued messages sound on PostgreSQL: the seal upgrade of rows
//! migrated from an older store, setting aside what does not open,
//! deletion and expiry. A deleted row's room and stream go with it, by the
//! schema's triggers, in the same transaction.

use cloak_core::MessageId;

use super::inner::PgStore;
use super::messages::{OUTBOUND_SELECT, outbound_row};
use super::room;
use super::streams::stream_id;
use crate::store::rows::parse_id;
use crate::store::{Outbound, Queue, StoreError};

/// The at-rest seal new queued messages have (see `at_rest::Place`).
const SEAL_BOUND: i32 = 2;

impl PgStore {
    fn outbound_where(&self, filter: &str) -> Result<Vec<Outbound>, StoreError> {
        let rows = self.inner.conn()?.query(
            &format!("{OUTBOUND_SELECT} WHERE {filter} ORDER BY seq"),
            &[],
        )?;
        rows.iter().map(outbound_row).collect()
    }

    fn delete_where(
        &self,
        table: &str,
        condition: &str,
        value: &(dyn postgres::types::ToSql + Sync),
    ) -> Result<Vec<MessageId>, StoreError> {
        let rows = self.inner.transaction(|tx| {
            Ok(tx.query(
                &format!("DELETE FROM {table} WHERE {condition} RETURNING id"),
                &[value],
            )?)
        })?;
        rows.iter().map(|row| parse_id(row.get(0))).collect()
    }
}

impl Queue for PgStore {
    fn legacy_sealed(&self) -> Result<Vec<Outbound>, StoreError> {
        self.outbound_where(&format!("seal < {SEAL_BOUND} AND NOT quarantined"))
    }

    fn resealed(&self, message: &Outbound) -> Result<(), StoreError> {
        let stream = message.stream.as_ref().map(stream_id).transpose()?;
        let inner = &self.inner;
        let result = inner.transaction(|tx| {
            let old = tx.query_opt(
                "SELECT stream, shard, bytes FROM outbound WHERE id = $1 FOR UPDATE",
                &[&message.message_id.to_string()],
            )?;
            let Some(old) = old else {
                return Err(StoreError::NotFound(message.message_id.to_string()));
            };
            let (old_stream, old_shard, old_bytes): (Option<i64>, Option<i32>, i64) =
                (old.get(0), old.get(1), old.get(2));
            if let Some(shard) = old_shard {
                room::release(tx, shard, old_bytes.max(0) as u64)?;
            }
            let (shard, bytes) = inner.place(tx, stream, &message.envelope)?;
            tx.execute(
                "UPDATE outbound SET envelope = $2, stream = $3, shard = $4, bytes = $5,
                                     seal = $6
                 WHERE id = $1",
                &[
                    &message.message_id.to_string(),
                    &message.envelope,
                    &stream,
                    &shard,
                    &(bytes as i64),
                    &SEAL_BOUND,
                ],
            )?;
            if let Some(old) = old_stream.filter(|old| Some(*old) != stream) {
                tx.execute("DELETE FROM streams WHERE id = $1", &[&old])?;
            }
            Ok(())
        });
        inner.settle(stream, result.is_ok());
        result
    }

    fn quarantine(&self, message_id: MessageId) -> Result<(), StoreError> {
        self.inner.transaction(|tx| {
            tx.execute(
                "UPDATE outbound SET quarantined = true WHERE id = $1",
                &[&message_id.to_string()],
            )?;
            Ok(())
        })
    }

    fn quarantined(&self) -> Result<Vec<Outbound>, StoreError> {
        self.outbound_where("quarantined")
    }

    fn delete(&self, ids: &[MessageId]) -> Result<Vec<MessageId>, StoreError> {
        let mut deleted = Vec::new();
        for id in ids {
            let hex = id.to_string();
            for table in ["inbound", "outbound"] {
                deleted.extend(self.delete_where(table, "id = $1", &hex)?);
            }
        }
        Ok(deleted)
    }

    fn expire(&self, before: u64) -> Result<usize, StoreError> {
        let before = before.min(i64::MAX as u64) as i64;
        Ok(self
            .delete_where("inbound", "received_at < $1", &before)?
            .len())
    }
}

impl PgStore {
    /// The queued message with this id, set aside or not.
    pub fn queued_message(&self, id: &MessageId) -> Result<Option<Outbound>, StoreError> {
        let row = self.inner.conn()?.query_opt(
            &format!("{OUTBOUND_SELECT} WHERE id = $1"),
            &[&id.to_string()],
        )?;
        row.as_ref().map(outbound_row).transpose()
    }
}
