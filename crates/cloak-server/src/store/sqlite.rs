//! The embedded store: SQLite (bundled) in WAL mode with `synchronous=FULL`,
//! so a committed transaction survives power loss and `kill -9`, and the
//! operator commands can read and write while the server runs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloak_core::{Fingerprint, MessageId};
use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};

mod backup;
mod folder;
mod queue;
mod read_out;
pub mod spool;

use folder::{create_data_dir, create_private_dir, create_private_file, take_lock};

use super::room::Room;
use super::{
    Content, FrameSource, Inbound, InboxQuery, Insert, Limits, MessageStore, Outbound, StoreError,
    StreamRef, StreamSink, Usage,
};
use spool::{FrameReader, MESSAGES_DIR, SPOOL_DIR, Spool};

pub use folder::{DB_FILE, LOCK_FILE};

/// Bumped when the schema changes; an unknown version is refused.
const SCHEMA_VERSION: i64 = 4;

/// From version 1: hybrid messages are streams kept in files.
const MIGRATE_1_TO_2: &str = "ALTER TABLE inbound ADD COLUMN path TEXT;";

/// From versions 1 and 2: large queued messages are streams kept in files.
const MIGRATE_OUTBOUND_PATH: &str = "ALTER TABLE outbound ADD COLUMN path TEXT;";

/// From version 3: which at-rest seal a queued message has (1: bound to
/// nothing, upgraded by the server at start; 2: bound to its mailbox and
/// id), and whether it was set aside because it does not open.
/// And the digest of each received message's text, to tell a retry from
/// another message under the same id (NULL for older rows: those are taken
/// as retries, as before).
const MIGRATE_SEAL: &str = "
ALTER TABLE outbound ADD COLUMN seal INTEGER NOT NULL DEFAULT 1;
ALTER TABLE outbound ADD COLUMN quarantined INTEGER NOT NULL DEFAULT 0;
ALTER TABLE inbound ADD COLUMN text_digest BLOB;
";

/// The at-rest seal new queued messages have (see `at_rest::Place`).
const SEAL_BOUND: i64 = 2;

/// From version 2: the bytes in store, kept up to date by triggers in the
/// same transaction as every insert and delete. Summing both tables for
/// every message cost time in proportion to the messages stored.
const USAGE: &str = "
CREATE TABLE IF NOT EXISTS usage (
    id    INTEGER PRIMARY KEY CHECK (id = 0),
    bytes INTEGER NOT NULL
);
INSERT OR IGNORE INTO usage (id, bytes) VALUES (0,
    (SELECT COALESCE(SUM(bytes), 0) FROM inbound)
    + (SELECT COALESCE(SUM(bytes), 0) FROM outbound));
CREATE TRIGGER IF NOT EXISTS inbound_added AFTER INSERT ON inbound
    BEGIN UPDATE usage SET bytes = bytes + NEW.bytes WHERE id = 0; END;
CREATE TRIGGER IF NOT EXISTS inbound_removed AFTER DELETE ON inbound
    BEGIN UPDATE usage SET bytes = bytes - OLD.bytes WHERE id = 0; END;
CREATE TRIGGER IF NOT EXISTS inbound_resized AFTER UPDATE OF bytes ON inbound
    BEGIN UPDATE usage SET bytes = bytes - OLD.bytes + NEW.bytes WHERE id = 0; END;
CREATE TRIGGER IF NOT EXISTS outbound_added AFTER INSERT ON outbound
    BEGIN UPDATE usage SET bytes = bytes + NEW.bytes WHERE id = 0; END;
CREATE TRIGGER IF NOT EXISTS outbound_removed AFTER DELETE ON outbound
    BEGIN UPDATE usage SET bytes = bytes - OLD.bytes WHERE id = 0; END;
CREATE TRIGGER IF NOT EXISTS outbound_resized AFTER UPDATE OF bytes ON outbound
    BEGIN UPDATE usage SET bytes = bytes - OLD.bytes + NEW.bytes WHERE id = 0; END;
";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS inbound (
    sender      BLOB NOT NULL,
    id          TEXT NOT NULL,
    sender_name TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    mode        TEXT NOT NULL,
    size        INTEGER NOT NULL,
    bytes       INTEGER NOT NULL,
    envelope    BLOB NOT NULL,
    path        TEXT,
    PRIMARY KEY (sender, id)
);
CREATE INDEX IF NOT EXISTS inbound_id ON inbound (id);
CREATE TABLE IF NOT EXISTS outbound (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    recipient      BLOB NOT NULL,
    recipient_name TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    size           INTEGER NOT NULL,
    bytes          INTEGER NOT NULL,
    envelope       BLOB NOT NULL,
    path           TEXT
);
CREATE INDEX IF NOT EXISTS outbound_recipient ON outbound (recipient, seq);
";

/// The columns every inbound query selects first, in [`InboundRow`]'s order.
const INBOUND_COLUMNS: &str = "sender, id, sender_name, received_at, mode, size, text_digest";

/// An inbound row's metadata as stored, before it is checked.
struct InboundRow {
    sender: Vec<u8>,
    id: String,
    sender_name: String,
    received_at: i64,
    mode: String,
    size: i64,
    text_digest: Option<Vec<u8>>,
}

impl InboundRow {
    fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(InboundRow {
            sender: row.get(0)?,
            id: row.get(1)?,
            sender_name: row.get(2)?,
            received_at: row.get(3)?,
            mode: row.get(4)?,
            size: row.get(5)?,
            text_digest: row.get(6)?,
        })
    }

    fn into_inbound(self, content: Content) -> Result<Inbound, StoreError> {
        Ok(Inbound {
            message_id: parse_id(&self.id)?,
            sender: fingerprint(self.sender)?,
            sender_name: self.sender_name,
            received_at: self.received_at as u64,
            mode: mode(&self.mode)?,
            size: self.size as u64,
            // NULL in rows from before digests were kept.
            text_digest: self.text_digest.and_then(|d| d.try_into().ok()),
            content,
        })
    }
}

/// The SQLite store. One connection per process, behind a mutex: SQLite
/// serialises writers anyway, and each transaction is short.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    limits: Limits,
    room: Arc<Room>,
    path: PathBuf,
    dir: PathBuf,
    /// The server's lock on the data folder (see [`SqliteStore::open_as_server`]).
    _lock: Option<std::fs::File>,
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e)
}

pub(super) use super::rows::{fingerprint, mode, parse_id};

impl SqliteStore {
    /// Opens (creating if needed) the store in `dir`: the folder mode
    /// 0700, the store's files 0600 (see [`create_data_dir`]).
    ///
    /// This is how operator commands open it, beside a running server:
    /// they never remove a file they did not create (a server's stream in
    /// flight looks just like a crash's leftover), and they write only in
    /// transactions that take the write lock first.
    pub fn open(dir: &Path, limits: Limits) -> Result<Self, StoreError> {
        Self::open_with(dir, limits, None)
    }

    /// Opens the store as its server: takes the data folder's lock (a
    /// second server on the same folder is refused, naming the holder),
    /// then removes what a crash left behind. Only the lock holder sweeps,
    /// so nothing a running server is writing is ever swept away.
    pub fn open_as_server(dir: &Path, limits: Limits) -> Result<Self, StoreError> {
        create_data_dir(dir)?;
        let lock = take_lock(dir)?;
        let store = Self::open_with(dir, limits, Some(lock))?;
        store.sweep()?;
        Ok(store)
    }

    fn open_with(
        dir: &Path,
        limits: Limits,
        lock: Option<std::fs::File>,
    ) -> Result<Self, StoreError> {
        create_data_dir(dir)?;
        let path = dir.join(DB_FILE);
        // SQLite creates a database with mode 0644 less the umask, and its
        // `-wal` and `-shm` files with the database's mode: created here
        // first, mode 0600, all three are private whatever the umask.
        create_private_file(&path)?;
        let conn = Connection::open(&path).map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(backend)?;
        // WAL lets operator commands read while the server writes;
        // synchronous=FULL makes every commit durable before it returns.
        let journal: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
            .map_err(backend)?;
        if !journal.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Unfit(format!(
                "{}: cannot enable WAL (journal mode is {journal})",
                path.display()
            )));
        }
        conn.execute_batch("PRAGMA synchronous=FULL;")
            .map_err(backend)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(backend)?;
        let upgrade = match version {
            0 => format!("{SCHEMA} {USAGE} {MIGRATE_SEAL}"),
            1 => format!("{MIGRATE_1_TO_2} {MIGRATE_OUTBOUND_PATH} {USAGE} {MIGRATE_SEAL}"),
            2 => format!("{MIGRATE_OUTBOUND_PATH} {USAGE} {MIGRATE_SEAL}"),
            3 => MIGRATE_SEAL.to_owned(),
            SCHEMA_VERSION => String::new(),
            other => {
                return Err(StoreError::Unfit(format!(
                    "{} has schema version {other}; this server knows version {SCHEMA_VERSION}",
                    path.display()
                )));
            }
        };
        if !upgrade.is_empty() {
            conn.execute_batch(&format!(
                "BEGIN; {upgrade} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
            ))
            .map_err(backend)?;
        }
        for sub in [SPOOL_DIR, MESSAGES_DIR] {
            create_private_dir(&dir.join(sub))?;
        }
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            room: Room::new(limits.max_bytes),
            limits,
            path,
            dir: dir.to_path_buf(),
            _lock: lock,
        })
    }

    /// Removes what a crash left behind: spool files, and stream files no
    /// database row refers to. Only for the lock holder.
    fn sweep(&self) -> Result<(), StoreError> {
        let spool_dir = self.dir.join(SPOOL_DIR);
        let messages_dir = self.dir.join(MESSAGES_DIR);
        let listing = |dir: &Path| -> Result<Vec<PathBuf>, StoreError> {
            Ok(std::fs::read_dir(dir)
                .map_err(|e| StoreError::io(dir, e))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .collect())
        };
        for leftover in listing(&spool_dir)? {
            let _ = std::fs::remove_file(leftover);
        }
        let referenced: std::collections::HashSet<String> = {
            let conn = self.conn();
            let mut stmt = conn
                .prepare(
                    "SELECT path FROM inbound WHERE path IS NOT NULL
                     UNION ALL SELECT path FROM outbound WHERE path IS NOT NULL",
                )
                .map_err(backend)?;
            stmt.query_map([], |row| row.get::<_, String>(0))
                .map_err(backend)?
                .collect::<Result<_, _>>()
                .map_err(backend)?
        };
        for file in listing(&messages_dir)? {
            let name = file
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if !referenced.contains(name) {
                let _ = std::fs::remove_file(&file);
            }
        }
        Ok(())
    }

    fn used(&self, conn: &Connection) -> Result<u64, StoreError> {
        let used: i64 = conn
            .query_row("SELECT bytes FROM usage WHERE id = 0", [], |row| row.get(0))
            .map_err(backend)?;
        Ok(used.max(0) as u64)
    }

    fn insert_outbound(&self, m: &Outbound) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(write_error)?;
        let queued: i64 = tx
            .query_row(
                "SELECT COUNT(*) FROM outbound WHERE recipient = ?1 AND quarantined = 0",
                params![m.recipient.as_bytes().as_slice()],
                |row| row.get(0),
            )
            .map_err(backend)?;
        (self.limits).mailbox_fits(queued.max(0) as u64, &m.recipient_name)?;
        let (path, bytes) = match &m.stream {
            None => (None, m.envelope.len() as u64),
            Some(stream) => (Some(stream.name()), self.stream_len(stream)?),
        };
        // A stream file's bytes were counted as it was spooled; the row is
        // what makes them count for good.
        self.check_room(&tx, bytes)?;
        tx.execute(
            "INSERT INTO outbound
                 (id, recipient, recipient_name, created_at, size, bytes, envelope, path, seal)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                m.message_id.to_string(),
                m.recipient.as_bytes().as_slice(),
                m.recipient_name,
                m.created_at as i64,
                m.size as i64,
                bytes as i64,
                m.envelope,
                path,
                SEAL_BOUND,
            ],
        )
        .map_err(write_error)?;
        tx.commit().map_err(write_error)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent
        // (transactions roll back), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts the stored bytes again after a write that failed after its
    /// room was checked (which counted it as stored already), so that a
    /// stream in flight is not refused room that is free.
    fn recount_room(&self) {
        if let Ok(used) = self.used(&self.conn()) {
            // Only the recount matters here, not whether anything fits.
            let _ = self.room.check(used, 0);
        }
    }

    /// Whether `adding` bytes fit beside those stored (read in `tx`) and
    /// those reserved by streams in flight.
    fn check_room(&self, tx: &rusqlite::Transaction<'_>, adding: u64) -> Result<(), StoreError> {
        self.room.check(self.used(tx)?, adding)
    }

    /// Whether `sender`'s received messages stay within their share of the
    /// store with `adding` more bytes.
    fn check_sender_share(
        &self,
        tx: &rusqlite::Transaction<'_>,
        sender: &Fingerprint,
        adding: u64,
    ) -> Result<(), StoreError> {
        if self.limits.sender_share.is_none() {
            return Ok(());
        }
        let used: i64 = tx
            .query_row(
                "SELECT COALESCE(SUM(bytes), 0) FROM inbound WHERE sender = ?1",
                params![sender.as_bytes().as_slice()],
                |row| row.get(0),
            )
            .map_err(backend)?;
        self.limits.sender_fits(used.max(0) as u64, adding)
    }

    /// Deletes the rows `condition` selects from `table` in one immediate
    /// transaction, then their stream files (a crash in between leaves
    /// files no row refers to, which the server's start-up sweep removes).
    fn delete_where(
        &self,
        table: &str,
        condition: &str,
        values: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(write_error)?;
        let rows: Vec<(String, Option<String>)> = {
            let mut stmt = tx
                .prepare(&format!("SELECT id, path FROM {table} WHERE {condition}"))
                .map_err(backend)?;
            stmt.query_map(values, |row| Ok((row.get(0)?, row.get(1)?)))
                .map_err(backend)?
                .collect::<Result<_, _>>()
                .map_err(backend)?
        };
        tx.execute(&format!("DELETE FROM {table} WHERE {condition}"), values)
            .map_err(write_error)?;
        tx.commit().map_err(write_error)?;
        let mut ids = Vec::with_capacity(rows.len());
        for (id, path) in rows {
            if let Some(path) = path.and_then(|name| self.stream_path(&name).ok()) {
                let _ = std::fs::remove_file(path);
            }
            ids.push(id);
        }
        Ok(ids)
    }
}

/// SQLite's "disk full" deserves its own words.
fn write_error(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => StoreError::DiskFull,
        Some(ErrorCode::ReadOnly) => StoreError::ReadOnly,
        _ => backend(e),
    }
}

impl SqliteStore {
    fn insert_inbound(
        &self,
        m: &Inbound,
        envelope: &[u8],
        path: Option<&str>,
        bytes: u64,
    ) -> Result<Insert, StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(write_error)?;
        let stored: Option<Option<Vec<u8>>> = tx
            .query_row(
                "SELECT text_digest FROM inbound WHERE sender = ?1 AND id = ?2",
                params![m.sender.as_bytes().as_slice(), m.message_id.to_string()],
                |row| row.get(0),
            )
            .optional()
            .map_err(backend)?;
        match stored {
            None => {}
            Some(Some(digest)) if m.text_digest.is_some_and(|d| digest != d) => {
                return Ok(Insert::Conflict);
            }
            Some(_) => return Ok(Insert::Duplicate),
        }
        // A stream's bytes are already on disk: count them as if not yet.
        self.check_sender_share(&tx, &m.sender, bytes)?;
        self.check_room(&tx, bytes)?;
        tx.execute(
            "INSERT INTO inbound
                 (sender, id, sender_name, received_at, mode, size, bytes, envelope, path, text_digest)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                m.sender.as_bytes().as_slice(),
                m.message_id.to_string(),
                m.sender_name,
                m.received_at as i64,
                m.mode.as_str(),
                m.size as i64,
                bytes as i64,
                envelope,
                path,
                m.text_digest.as_ref().map(|d| d.as_slice()),
            ],
        )
        .map_err(write_error)?;
        tx.commit().map_err(write_error)?;
        Ok(Insert::Stored)
    }
}

impl MessageStore for SqliteStore {
    fn begin_stream_from(
        &self,
        sender: Option<std::net::IpAddr>,
    ) -> Result<Box<dyn StreamSink>, StoreError> {
        // Refresh the stored bytes the stream's reservation is checked
        // against (operator commands may have stored more meanwhile).
        self.room.check(self.used(&self.conn())?, 0)?;
        Ok(Box::new(Spool::create(
            &self.dir,
            self.room.reservation(sender),
        )?))
    }

    fn open_stream(&self, stream: &StreamRef) -> Result<Box<dyn FrameSource>, StoreError> {
        Ok(Box::new(FrameReader::open(
            &self.stream_path(stream.name())?,
        )?))
    }

    fn store_inbound(&self, m: &Inbound) -> Result<Insert, StoreError> {
        let (envelope, path, bytes): (&[u8], Option<&str>, u64) = match &m.content {
            Content::Envelope(envelope) => (envelope, None, envelope.len() as u64),
            Content::Stream(stream) => (&[], Some(stream.name()), self.stream_len(stream)?),
            Content::Unloaded => {
                return Err(StoreError::Damaged("no content to store".into()));
            }
        };
        let result = self.insert_inbound(m, envelope, path, bytes);
        if result.is_err() {
            self.recount_room();
        }
        // A stream file the database did not take is removed again.
        if let (Content::Stream(stream), Ok(Insert::Duplicate | Insert::Conflict) | Err(_)) =
            (&m.content, &result)
        {
            self.remove_stream(stream);
        }
        result
    }

    fn inbox(&self, query: &InboxQuery) -> Result<Vec<Inbound>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {INBOUND_COLUMNS} FROM inbound WHERE received_at >= ?1
                 ORDER BY received_at, rowid LIMIT ?2"
            ))
            .map_err(backend)?;
        // SQLite reads a negative LIMIT as none.
        let since = query
            .since
            .map_or(0, |t| i64::try_from(t).unwrap_or(i64::MAX));
        let limit = query
            .limit
            .map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
        let rows = stmt
            .query_map(params![since, limit], InboundRow::read)
            .map_err(backend)?;
        rows.map(|row| row.map_err(backend)?.into_inbound(Content::Unloaded))
            .collect()
    }

    fn find_inbound(&self, prefix: &str) -> Result<Inbound, StoreError> {
        let wanted = super::rows::id_prefix(prefix)?;
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {INBOUND_COLUMNS}, envelope, path
                 FROM inbound WHERE substr(id, 1, ?2) = ?1 LIMIT 2"
            ))
            .map_err(backend)?;
        let mut found = stmt
            .query_map(params![wanted, wanted.len() as i64], |row| {
                Ok((
                    InboundRow::read(row)?,
                    row.get::<_, Vec<u8>>(7)?,
                    row.get::<_, Option<String>>(8)?,
                ))
            })
            .map_err(backend)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(backend)?;
        match found.len() {
            0 => Err(StoreError::NotFound(prefix.to_owned())),
            1 => {
                let (row, envelope, path) = found.remove(0);
                let content = match path {
                    Some(name) => Content::Stream(self.stream_ref(name)?),
                    None => Content::Envelope(envelope),
                };
                row.into_inbound(content)
            }
            _ => Err(StoreError::Ambiguous(prefix.to_owned())),
        }
    }

    fn enqueue(&self, m: &Outbound) -> Result<(), StoreError> {
        let result = self.insert_outbound(m);
        if result.is_err() {
            self.recount_room();
        }
        // A stream file the database did not take is removed again.
        if let (Some(stream), Err(_)) = (&m.stream, &result) {
            self.remove_stream(stream);
        }
        result
    }

    fn pending(
        &self,
        recipient: &Fingerprint,
        limit: usize,
    ) -> Result<(Vec<Outbound>, usize), StoreError> {
        let conn = self.conn();
        let total: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM outbound WHERE recipient = ?1 AND quarantined = 0",
                params![recipient.as_bytes().as_slice()],
                |row| row.get(0),
            )
            .map_err(backend)?;
        let mut stmt = conn
            .prepare(
                "SELECT id, recipient_name, created_at, size, envelope, path FROM outbound
                 WHERE recipient = ?1 AND quarantined = 0 ORDER BY seq LIMIT ?2",
            )
            .map_err(backend)?;
        let rows = stmt
            .query_map(
                params![recipient.as_bytes().as_slice(), limit as i64],
                |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, i64>(2)?,
                        row.get::<_, i64>(3)?,
                        row.get::<_, Vec<u8>>(4)?,
                        row.get::<_, Option<String>>(5)?,
                    ))
                },
            )
            .map_err(backend)?;
        let messages = rows
            .map(|row| {
                let (id, recipient_name, created_at, size, envelope, path) =
                    row.map_err(backend)?;
                Ok(Outbound {
                    message_id: parse_id(&id)?,
                    recipient: *recipient,
                    recipient_name,
                    created_at: created_at as u64,
                    size: size as u64,
                    envelope,
                    stream: path.map(|name| self.stream_ref(name)).transpose()?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((messages, total as usize))
    }

    fn acknowledge(&self, recipient: &Fingerprint, ids: &[MessageId]) -> Result<usize, StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(write_error)?;
        let mut removed = 0;
        let mut files = Vec::new();
        for id in ids {
            let params = params![recipient.as_bytes().as_slice(), id.to_string()];
            let path: Option<Option<String>> = tx
                .query_row(
                    "SELECT path FROM outbound WHERE recipient = ?1 AND id = ?2",
                    params,
                    |row| row.get(0),
                )
                .optional()
                .map_err(backend)?;
            files.extend(path.flatten());
            removed += tx
                .execute(
                    "DELETE FROM outbound WHERE recipient = ?1 AND id = ?2",
                    params,
                )
                .map_err(write_error)?;
        }
        tx.commit().map_err(write_error)?;
        // After the commit: a crash in between leaves files no row refers
        // to, which start-up sweeps away.
        for name in files {
            if let Ok(path) = self.stream_path(&name) {
                let _ = std::fs::remove_file(path);
            }
        }
        Ok(removed)
    }

    fn queued_counts(&self) -> Result<HashMap<Fingerprint, usize>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT recipient, COUNT(*) FROM outbound WHERE quarantined = 0 GROUP BY recipient",
            )
            .map_err(backend)?;
        let rows = stmt
            .query_map([], |row| {
                Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, i64>(1)?))
            })
            .map_err(backend)?;
        rows.map(|row| {
            let (fp, count) = row.map_err(backend)?;
            Ok((fingerprint(fp)?, count as usize))
        })
        .collect()
    }

    fn usage(&self) -> Result<Usage, StoreError> {
        let conn = self.conn();
        let (received, queued): (i64, i64) = conn
            .query_row(
                "SELECT (SELECT COUNT(*) FROM inbound), (SELECT COUNT(*) FROM outbound)",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .map_err(backend)?;
        Ok(Usage {
            used_bytes: self.used(&conn)?,
            limit_bytes: self.limits.max_bytes,
            reserved_bytes: self.room.reserved(),
            received: received.max(0) as u64,
            queued: queued.max(0) as u64,
        })
    }
}

#[cfg(test)]
mod tests;
