//! Reading everything out of the embedded store, for a migration: the
//! received messages page by page (the connection is not held while the
//! caller writes each one elsewhere), and every queued message.

use rusqlite::params;

use super::{INBOUND_COLUMNS, InboundRow, SqliteStore, backend};
use crate::store::{Content, Inbound, Outbound, StoreError};

/// Received messages read per query.
const PAGE: i64 = 100;

impl SqliteStore {
    /// Calls `each` with every received message, content loaded, in the
    /// order they were stored.
    pub fn each_inbound(
        &self,
        mut each: impl FnMut(&Inbound) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let mut after = 0i64;
        loop {
            let page = self.inbound_page(after)?;
            let Some((last, _)) = page.last() else {
                return Ok(());
            };
            after = *last;
            for (_, message) in &page {
                each(message)?;
            }
        }
    }

    fn inbound_page(&self, after: i64) -> Result<Vec<(i64, Inbound)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {INBOUND_COLUMNS}, envelope, path, rowid FROM inbound
                 WHERE rowid > ?1 ORDER BY rowid LIMIT ?2"
            ))
            .map_err(backend)?;
        let rows = stmt
            .query_map(params![after, PAGE], |row| {
                Ok((
                    InboundRow::read(row)?,
                    row.get::<_, Vec<u8>>(7)?,
                    row.get::<_, Option<String>>(8)?,
                    row.get::<_, i64>(9)?,
                ))
            })
            .map_err(backend)?;
        rows.map(|row| {
            let (row, envelope, path, rowid) = row.map_err(backend)?;
            let content = match path {
                Some(name) => Content::Stream(self.stream_ref(name)?),
                None => Content::Envelope(envelope),
            };
            Ok((rowid, row.into_inbound(content)?))
        })
        .collect()
    }

    /// Every queued message, those set aside included, oldest first.
    pub fn all_queued(&self) -> Result<Vec<Outbound>, StoreError> {
        self.outbound_where("1 = 1")
    }
}
