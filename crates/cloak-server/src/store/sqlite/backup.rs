//! `cloak-server backup DIR`: a copy of the data folder that is consistent
//! while the server runs, and that a server can be started on as it is.
//!
//! The database is copied with SQLite's online backup in one step, so the
//! copy is one snapshot of the store (the server goes on writing: in WAL
//! mode a reader blocks no writer). Then every stream file a row of that
//! snapshot names is copied. Committed stream files never change (a stream
//! is fsync'd and renamed into place before its row is written), but one
//! may be deleted after the snapshot was taken (its message acknowledged or
//! deleted); the snapshot would then name a file the copy lacks, so the
//! whole copy is taken again from a newer snapshot, keeping the files
//! already copied. Files being written (`spool/`) belong to no row and are
//! not copied.
//!
//! Nothing is written at `DIR` until the copy is complete: it is built in a
//! hidden folder beside it, fsync'd file by file, and renamed to `DIR` at
//! the end, so a backup cut short by a crash or a full disk is never
//! mistaken for a good one.

use std::collections::BTreeSet;
use std::fs::File;
use std::io;
use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;
use rusqlite::backup::{Backup, StepResult};

use super::folder::{DB_FILE, create_private_dir, create_private_file};
use super::spool::{MESSAGES_DIR, SPOOL_DIR};
use super::{SqliteStore, backend};
use crate::store::{BackupSummary, StoreError};

/// Snapshots taken at most, when stream files keep vanishing under the
/// copy (a busy mailbox being acknowledged): each retry copies only the
/// files it does not have yet.
const ATTEMPTS: usize = 5;

/// How long a step waits when the database is locked, and how many times.
const LOCKED_PAUSE: Duration = Duration::from_millis(50);
const LOCKED_TRIES: usize = 200;

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |e| StoreError::io(path, e)
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_at(dir))
}

impl SqliteStore {
    /// Copies the store to `target`, a folder that must not exist yet or be
    /// empty (see the module documentation).
    pub fn backup(&self, target: &Path) -> Result<BackupSummary, StoreError> {
        let partial = Partial::create(target)?;
        let copy = partial.path().to_path_buf();
        let messages = copy.join(MESSAGES_DIR);
        for sub in [&messages, &copy.join(SPOOL_DIR)] {
            create_private_dir(sub)?;
        }
        let db = copy.join(DB_FILE);
        create_private_file(&db)?;
        let mut names = None;
        for _ in 0..ATTEMPTS {
            self.snapshot_to(&db)?;
            let wanted = stream_names(&db)?;
            if self.copy_streams(&wanted, &messages)? {
                names = Some(wanted);
                break;
            }
        }
        let names = names.ok_or_else(|| {
            StoreError::Backup(format!(
                "stream files kept vanishing under {ATTEMPTS} snapshots (the store is very busy); try again"
            ))
        })?;
        remove_unnamed(&messages, &names)?;
        let mut summary = summarize(&db, target)?;
        summary.streams = names.len() as u64;
        summary.bytes += names
            .iter()
            .map(|name| std::fs::metadata(messages.join(name)).map_or(0, |m| m.len()))
            .sum::<u64>();
        File::open(&db)
            .and_then(|f| f.sync_all())
            .map_err(io_at(&db))?;
        sync_dir(&messages)?;
        sync_dir(&copy)?;
        partial.finish(target)?;
        Ok(summary)
    }

    /// Copies the database into `db` as one snapshot of the store.
    fn snapshot_to(&self, db: &Path) -> Result<(), StoreError> {
        let mut to = Connection::open(db).map_err(|source| StoreError::Open {
            path: db.to_path_buf(),
            source,
        })?;
        let from = self.conn();
        let backup = Backup::new(&from, &mut to).map_err(backend)?;
        for _ in 0..LOCKED_TRIES {
            // All pages in one step: one read transaction on the source, so
            // one snapshot however the server writes meanwhile.
            match backup.step(-1).map_err(backend)? {
                StepResult::Done => return Ok(()),
                _ => std::thread::sleep(LOCKED_PAUSE),
            }
        }
        Err(StoreError::Backup(
            "the database stayed locked; try again".into(),
        ))
    }

    /// Copies the stream files `names` that `messages` lacks; `false` when
    /// one has vanished from the store since the snapshot.
    fn copy_streams(&self, names: &BTreeSet<String>, messages: &Path) -> Result<bool, StoreError> {
        for name in names {
            // Checked before it becomes a path, as everywhere a row names a
            // file (a name like `../x` must not even be looked at).
            let from = self.stream_path(name)?;
            let to = messages.join(name);
            if to.exists() {
                continue;
            }
            match File::open(&from) {
                Ok(mut source) => copy_file(&mut source, &to)?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(StoreError::io(&from, e)),
            }
        }
        Ok(true)
    }
}

/// Writes `source` to the new private file `to`, fsync'd.
fn copy_file(source: &mut File, to: &Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(to).map_err(io_at(to))?;
    io::copy(source, &mut file).map_err(io_at(to))?;
    file.sync_all().map_err(io_at(to))
}

/// The stream files the copied database names.
fn stream_names(db: &Path) -> Result<BTreeSet<String>, StoreError> {
    let conn = Connection::open(db).map_err(backend)?;
    let mut stmt = conn
        .prepare(
            "SELECT path FROM inbound WHERE path IS NOT NULL
             UNION SELECT path FROM outbound WHERE path IS NOT NULL",
        )
        .map_err(backend)?;
    stmt.query_map([], |row| row.get::<_, String>(0))
        .map_err(backend)?
        .collect::<Result<_, _>>()
        .map_err(backend)
}

/// Removes the files an earlier snapshot needed and the last one does not.
fn remove_unnamed(messages: &Path, names: &BTreeSet<String>) -> Result<(), StoreError> {
    for entry in std::fs::read_dir(messages).map_err(io_at(messages))? {
        let entry = entry.map_err(io_at(messages))?;
        if entry
            .file_name()
            .to_str()
            .is_none_or(|n| !names.contains(n))
        {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(io_at(&path))?;
        }
    }
    Ok(())
}

/// Counts what the copied database holds.
fn summarize(db: &Path, target: &Path) -> Result<BackupSummary, StoreError> {
    let conn = Connection::open(db).map_err(backend)?;
    let count = |table: &str| -> Result<u64, StoreError> {
        conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| {
            row.get::<_, i64>(0)
        })
        .map(|n| n.max(0) as u64)
        .map_err(backend)
    };
    Ok(BackupSummary {
        dir: target.to_path_buf(),
        received: count("inbound")?,
        queued: count("outbound")?,
        streams: 0,
        bytes: std::fs::metadata(db).map_err(io_at(db))?.len(),
    })
}

/// The hidden folder a backup is built in, beside its target; removed
/// unless finished.
struct Partial(tempfile::TempDir);

impl Partial {
    /// Checks that `target` can take a backup and makes the folder beside it.
    fn create(target: &Path) -> Result<Partial, StoreError> {
        let refuse = |why: &str| StoreError::Backup(format!("{}: {why}", target.display()));
        match std::fs::read_dir(target) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(refuse(
                        "not empty; a backup goes into a new or empty folder",
                    ));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) if e.kind() == io::ErrorKind::NotADirectory => {
                return Err(refuse("exists and is not a folder"));
            }
            Err(e) => return Err(StoreError::io(target, e)),
        }
        let name = target
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| refuse("names no folder"))?;
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        // tempfile makes it mode 0700: the copy is as private as the store.
        let dir = tempfile::Builder::new()
            .prefix(&format!(".{name}.partial-"))
            .tempdir_in(parent)
            .map_err(io_at(parent))?;
        Ok(Partial(dir))
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    /// Renames the complete copy to `target` (replacing it if it is an
    /// empty folder) and makes the rename durable.
    fn finish(self, target: &Path) -> Result<(), StoreError> {
        let built = self.0.path().to_path_buf();
        std::fs::rename(&built, target).map_err(io_at(target))?;
        // Renamed: nothing is left for the temporary folder to remove.
        let _ = self.0.keep();
        match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => sync_dir(p),
            _ => sync_dir(Path::new(".")),
        }
    }
}
