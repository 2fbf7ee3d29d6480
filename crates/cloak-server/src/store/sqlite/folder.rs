//! The data folder on disk: the server's lock on it, and keeping it and the
//! store's files private whatever the umask.

use std::path::Path;

use crate::store::StoreError;

/// File name of the database inside the data folder.
pub const DB_FILE: &str = "cloakroom.db";

/// The lock a server holds on its data folder while it runs, with its
/// process id inside for the operator.
pub const LOCK_FILE: &str = "server.lock";

/// Takes the data folder's lock, or says who holds it. The lock is the
/// operating system's (`flock`): it goes with the process, however that
/// ends, so a crash never leaves a stale lock behind.
pub(super) fn take_lock(dir: &Path) -> Result<std::fs::File, StoreError> {
    use std::io::{Read, Seek, Write};
    let path = dir.join(LOCK_FILE);
    let failed = |e: std::io::Error| StoreError::io(&path, e);
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).map_err(failed)?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0).map_err(failed)?;
            file.rewind().map_err(failed)?;
            writeln!(file, "{}", std::process::id()).map_err(failed)?;
            Ok(file)
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.take(32).read_to_string(&mut holder);
            Err(StoreError::Locked {
                lock: path,
                holder: holder.trim().to_owned(),
            })
        }
        Err(std::fs::TryLockError::Error(e)) => Err(failed(e)),
    }
}

/// Creates the data folder `dir` (mode 0700) if needed, and makes it and
/// the store's files in it private if they are not.
///
/// The data folder is the server's alone: mode 0700, every file of the
/// store 0600, whatever the umask and whoever made them. One found open to
/// others is closed, with a logged line, rather than refused as ssh
/// refuses a readable key: the server owns this folder, nothing in it is
/// meant for anyone else, so there is no choice for the operator to make,
/// and a refusal would only stop the server until someone typed the same
/// `chmod`. (What others read while it was open stays read; the line lets
/// the operator judge.)
///
/// Two limits keep the fix from reaching what is not the store's. A folder
/// every user may write to (`/tmp`, mode 1777) is refused: it is shared by
/// design, and others may have put anything in it. And at its top level
/// only the database files are changed, so `--data .` cannot take the
/// execute bit off a script beside them (`spool/` and `messages/` hold only
/// the store's files: every file there is made private).
pub(super) fn create_data_dir(dir: &Path) -> Result<(), StoreError> {
    create_dir(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir)
            .map_err(|e| StoreError::io(dir, e))?
            .permissions()
            .mode();
        if mode & 0o1002 != 0 {
            return Err(StoreError::Unfit(format!(
                "{} is a folder every user may write to (mode {:04o}), not one server's: choose another data folder",
                dir.display(),
                mode & 0o7777
            )));
        }
    }
    make_private(dir, |name| {
        name.to_str() == Some(LOCK_FILE)
            || ["", "-wal", "-shm", "-journal"]
                .iter()
                .any(|suffix| name.to_str() == Some(&format!("{DB_FILE}{suffix}")))
    })
}

/// Creates `dir` (mode 0700) if needed, and makes it and every file in it
/// private if they are not (see [`create_data_dir`]).
pub(super) fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    create_dir(dir)?;
    make_private(dir, |_| true)
}

fn create_dir(dir: &Path) -> Result<(), StoreError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| StoreError::io(dir, e))
}

/// Sets `dir` to mode 0700 and the regular files directly in it that
/// `ours` names to 0600 where they differ, with a logged line for each
/// folder that needed it.
///
/// The folder first: once it is 0700 and ours, no other user can add,
/// rename or replace its entries, so the files checked are the files
/// changed. Symbolic links are left alone (a `chmod` would follow them
/// out of the folder).
#[cfg(unix)]
fn make_private(dir: &Path, ours: impl Fn(&std::ffi::OsStr) -> bool) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    let failed = |path: &Path, e: std::io::Error| StoreError::io(path, e);
    let chmod = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| failed(path, e))
    };
    let mode = std::fs::metadata(dir)
        .map_err(|e| failed(dir, e))?
        .permissions()
        .mode()
        & 0o7777;
    if mode != 0o700 {
        chmod(dir, 0o700)?;
        tracing::warn!(
            "{} had mode {mode:04o}; set it to 0700: the data folder is the server's alone",
            dir.display()
        );
    }
    let mut fixed = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| failed(dir, e))? {
        let entry = entry.map_err(|e| failed(dir, e))?;
        if !ours(&entry.file_name()) {
            continue;
        }
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).map_err(|e| failed(&path, e))?;
        let mode = meta.permissions().mode() & 0o7777;
        if meta.file_type().is_file() && mode != 0o600 {
            chmod(&path, 0o600)?;
            fixed.push((path, mode));
        }
    }
    if let Some((first, mode)) = fixed.first() {
        tracing::warn!(
            "{}: set {} file(s) to mode 0600 ({} had mode {mode:04o}): the data folder is the server's alone",
            dir.display(),
            fixed.len(),
            first.display()
        );
    }
    Ok(())
}

#[cfg(not(unix))]
fn make_private(_dir: &Path, _ours: impl Fn(&std::ffi::OsStr) -> bool) -> Result<(), StoreError> {
    Ok(())
}

/// Creates `path` empty with mode 0600 unless it exists (then unchanged).
pub(super) fn create_private_file(path: &Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .map(drop)
        .map_err(|e| StoreError::io(path, e))
}
