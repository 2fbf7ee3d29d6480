//! A running server's authorized clients, re-read when the key folder
//! changes (see the parent module): the watcher thread, the change
//! detection by file stamps, and the snapshot it publishes.

use std::fs;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::thread;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use cloak_core::keydir::KeyDir;
use tracing::{debug, info};

use super::{Authorized, Client, KeyFile, key_files};

/// How often a running server looks for changes in its key folder.
pub const POLL: Duration = Duration::from_secs(1);

/// The authorized clients of a running server: the snapshot in force,
/// replaced as a whole when the key folder changes.
#[derive(Debug)]
pub struct Live {
    current: RwLock<Arc<Authorized>>,
}

impl Live {
    /// Loads `keys` (failing as [`Authorized::load`] does) and watches the
    /// folder, from a thread of its own, for as long as the returned value
    /// lives.
    pub fn start(keys: KeyDir) -> anyhow::Result<Arc<Live>> {
        // Looked at before the keys are read, so that a change made while
        // they load shows as a change at the first look.
        let stamp = Stamp::of(&keys);
        let live = Arc::new(Live {
            current: RwLock::new(Arc::new(Authorized::load(&keys)?)),
        });
        let watched = Arc::downgrade(&live);
        thread::Builder::new()
            .name("authorized-keys".into())
            .spawn(move || watch(&keys, stamp, &watched))
            .context("starting the key folder watcher")?;
        Ok(live)
    }

    /// The snapshot in force.
    pub fn current(&self) -> Arc<Authorized> {
        // Only whole `Arc`s are ever stored, so a panic elsewhere while the
        // lock was held cannot have left a partial value.
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn replace(&self, authorized: Arc<Authorized>) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = authorized;
    }
}

/// Re-reads the folder whenever its stamp changes, until `live` is gone.
fn watch(keys: &KeyDir, mut stamp: Stamp, live: &Weak<Live>) {
    loop {
        thread::sleep(POLL);
        let Some(live) = live.upgrade() else {
            return;
        };
        let now = Stamp::of(keys);
        if now == stamp {
            continue;
        }
        // Recorded before the keys are read: a file changed during the read
        // changes the next stamp, and is read again then.
        stamp = now;
        let before = live.current();
        if let Some(after) = before.reload(keys) {
            let after = Arc::new(after);
            // In force before it is said to be.
            live.replace(Arc::clone(&after));
            log_changes(&before, &after);
        }
    }
}

fn log_changes(before: &Authorized, after: &Authorized) {
    let same = |a: &Client, b: Option<&Client>| b.is_some_and(|b| b.name == a.name);
    for gone in before.clients() {
        if !same(gone, after.get(&gone.key.fingerprint())) {
            info!(
                "no longer authorized: `{}` ({})",
                gone.name,
                gone.key.fingerprint()
            );
        }
    }
    for new in after.clients() {
        if !same(new, before.get(&new.key.fingerprint())) {
            info!(
                "now authorized: `{}` ({}) from {}",
                new.name,
                new.key.fingerprint(),
                new.file.display()
            );
        }
    }
    debug!("key folder re-read: {} authorized client(s)", after.len());
}

/// What the key files look like from outside: for each, its path and
/// size, modification and change times and inode (or that it could not be
/// looked at). Adding, removing, replacing or editing a file changes it.
#[derive(Debug, PartialEq, Eq)]
struct Stamp(Result<Vec<(PathBuf, Option<FileStamp>)>, String>);

#[derive(Debug, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
    /// Inode and change time: a file renamed over another has a new inode,
    /// and a change time moves on any change, even one that keeps the
    /// size and sets the modification time back.
    identity: (u64, u64, i64, i64),
}

impl Stamp {
    fn of(keys: &KeyDir) -> Stamp {
        Stamp(
            key_files(keys)
                .map(|files| {
                    files
                        .into_iter()
                        .map(|KeyFile { file, .. }| {
                            let stamp = fs::metadata(&file).ok().map(|m| FileStamp {
                                len: m.len(),
                                modified: m.modified().ok(),
                                identity: identity(&m),
                            });
                            (file, stamp)
                        })
                        .collect()
                })
                .map_err(|e| format!("{e:#}")),
        )
    }
}

#[cfg(unix)]
fn identity(meta: &fs::Metadata) -> (u64, u64, i64, i64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino(), meta.ctime(), meta.ctime_nsec())
}

#[cfg(not(unix))]
fn identity(_meta: &fs::Metadata) -> (u64, u64, i64, i64) {
    (0, 0, 0, 0)
}
