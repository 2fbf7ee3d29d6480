//! Why a store operation failed, typed so that callers can tell a full
//! store from a damaged one without reading the message.

use std::path::PathBuf;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Storing would exceed the total size limit.
    #[error("the message store is full ({used} of {max} bytes used)")]
    Full {
        /// Bytes in use.
        used: u64,
        /// The limit.
        max: u64,
    },
    /// The client's mailbox holds the maximum number of messages.
    #[error("the mailbox of `{name}` is full ({max} messages waiting)")]
    MailboxFull {
        /// The client.
        name: String,
        /// The limit.
        max: usize,
    },
    /// No message has this id.
    #[error("no message with id `{0}` (see `cloak-server inbox`)")]
    NotFound(String),
    /// Several messages start with this id prefix.
    #[error("id `{0}` is ambiguous: give more characters")]
    Ambiguous(String),
    /// Another server holds the data folder.
    #[error(
        "the data folder is in use by another cloak-server (process {holder}, lock {}): one server per data folder",
        lock.display()
    )]
    Locked {
        /// The lock file.
        lock: PathBuf,
        /// What the lock file says of its holder (its process id).
        holder: String,
    },
    /// The disk holding the data folder is full.
    #[error("message store failed: the disk is full")]
    DiskFull,
    /// The data folder cannot be written.
    #[error("message store failed: the data folder is read-only")]
    ReadOnly,
    /// The database file could not be opened.
    #[error("message store failed: {}: {source}", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The database failed.
    #[error("message store failed: {0}")]
    Database(#[from] rusqlite::Error),
    /// PostgreSQL failed (the shared store).
    #[error("message store failed: {}", causes(.0))]
    Postgres(#[source] postgres::Error),
    /// No connection to PostgreSQL could be had in time (the database is
    /// down or every pooled connection is busy).
    #[error("message store unavailable: {0}")]
    Unavailable(String),
    /// A file or folder of the store could not be read or written.
    #[error("message store failed: {}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// Something the store keeps is not what the store wrote (a damaged,
    /// truncated or foreign row or file).
    #[error("message store failed: {0}")]
    Damaged(String),
    /// A backup could not be made (its target is taken, or the store kept
    /// changing under it); nothing was left at the target.
    #[error("backup failed: {0}")]
    Backup(String),
    /// The data folder is not fit for a store (its schema is newer than
    /// this server, it cannot use WAL, every user may write to it).
    #[error("message store failed: {0}")]
    Unfit(String),
}

/// An error and its causes, as one line: the client library's own words
/// are often only the first ("invalid configuration"), the reason follows
/// ("password missing").
pub(crate) fn causes(e: &dyn std::error::Error) -> String {
    let mut line = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let said = cause.to_string();
        if !line.contains(&said) {
            line.push_str(": ");
            line.push_str(&said);
        }
        next = cause.source();
    }
    line
}

impl StoreError {
    /// An I/O failure on `path`, with the disk being full told apart.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::StorageFull {
            return StoreError::DiskFull;
        }
        StoreError::Io {
            path: path.into(),
            source,
        }
    }
}
