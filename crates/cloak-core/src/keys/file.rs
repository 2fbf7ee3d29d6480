//! Key files on disk: reading a private key (or a passphrase) only from a
//! regular file of this user that nobody else can read, checked on the
//! descriptor it is read from; and writing a key pair so that a failure
//! leaves the old pair or nothing.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;

use zeroize::Zeroizing;

use crate::error::KeyError;

/// Reads a passphrase from a file (as named by `CLOAK_PASSPHRASE_FILE`),
/// with the checks a private key file gets (a regular file of this user,
/// mode 600, not a symbolic link). One trailing newline is not part of it.
pub fn read_passphrase_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let text = read_key_file(path, Secrecy::Private).map_err(|e| passphrase_file_error(path, e))?;
    // Exactly one "\n", as `openssl -passin file:` reads its first line
    // (a "\r" before it stays part of the passphrase there too).
    let text = text.strip_suffix('\n').unwrap_or(&text);
    Ok(Zeroizing::new(text.as_bytes().to_vec()))
}

/// A key file's error, reworded for a passphrase file: the same checks,
/// but "private key" would send the reader to the wrong file.
fn passphrase_file_error(path: &Path, error: KeyError) -> KeyError {
    let shown = path.display();
    let reason = match error {
        KeyError::InsecurePermissions { mode, .. } => {
            format!("accessible by others (mode {mode:03o}); run `chmod 600 {shown}`")
        }
        KeyError::Symlink { .. } => "a symbolic link; name the file itself (mode 600)".into(),
        KeyError::WrongOwner { owner, user, .. } => {
            format!("belongs to user {owner}, not to user {user} running this program")
        }
        KeyError::NotRegularFile { .. } => "not a regular file".into(),
        KeyError::Io { source, .. } => source.to_string(),
        KeyError::Malformed { .. } => "not a text file of at most 64 KiB".into(),
        other => other.to_string(),
    };
    KeyError::PassphraseFile {
        path: path.to_path_buf(),
        reason,
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Which checks a key file gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Secrecy {
    /// Any regular file (reached through links or not).
    Public,
    /// A regular file, not a link, of this user, closed to group and others.
    Private,
}

/// Reads a key file through one open descriptor.
///
/// Every check is made on the descriptor (`fstat`) and the bytes are read
/// from it, so a key cannot be swapped between the check and the read: a
/// rename or a new link over the path after the open changes what the path
/// names, not the file already open. (Checking the path and then reading
/// the path, as `stat` then `open` would, can see two different files.)
pub(super) fn read_key_file(path: &Path, secrecy: Secrecy) -> Result<Zeroizing<String>, KeyError> {
    // Key files are a few KiB; anything far larger is not a key and is not
    // worth reading into memory.
    const MAX_KEY_FILE: u64 = 64 * 1024;
    let too_large = |len: u64| KeyError::Malformed {
        path: path.to_path_buf(),
        reason: format!("file is {len} bytes, too large for a key"),
    };
    let file = open_key_file(path, secrecy)?;
    let meta = file.metadata().map_err(io_err(path))?;
    if !meta.file_type().is_file() {
        return Err(KeyError::NotRegularFile {
            path: path.to_path_buf(),
        });
    }
    if secrecy == Secrecy::Private {
        check_private(&meta, path)?;
    }
    if meta.len() > MAX_KEY_FILE {
        return Err(too_large(meta.len()));
    }
    // Room for the whole file up front: a vector that grew would leave
    // copies of key material behind in freed memory, unzeroized.
    let mut bytes = Zeroizing::new(Vec::with_capacity(meta.len() as usize + 1));
    (&file)
        .take(MAX_KEY_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err(path))?;
    // It may have grown since the fstat.
    if bytes.len() as u64 > MAX_KEY_FILE {
        return Err(too_large(bytes.len() as u64));
    }
    match std::str::from_utf8(&bytes) {
        Ok(text) => Ok(Zeroizing::new(text.to_owned())),
        Err(_) => Err(KeyError::Malformed {
            path: path.to_path_buf(),
            reason: "not a text (PEM) file".into(),
        }),
    }
}

#[cfg(unix)]
fn open_key_file(path: &Path, secrecy: Secrecy) -> Result<File, KeyError> {
    use rustix::fs::OFlags;
    use std::os::unix::fs::OpenOptionsExt;
    // O_NONBLOCK: opening a FIFO for reading would wait for a writer (for
    // ever); with it, the open returns and the FIFO is refused as not a
    // regular file. It changes nothing for reading a regular file.
    let mut flags = OFlags::NONBLOCK;
    if secrecy == Secrecy::Private {
        // O_NOFOLLOW: a symbolic link as the last component fails to open
        // instead of being followed to a file the checks were not meant for
        // (ssh's rule for what it trusts). Links in the folders above are
        // followed: they are the operator's layout.
        flags |= OFlags::NOFOLLOW;
    }
    OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
        .map_err(|source| {
            // The open failed, so this second look cannot let anything
            // through; it only names the reason (ELOOP is not specific).
            let is_link = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
            if secrecy == Secrecy::Private && is_link {
                KeyError::Symlink {
                    path: path.to_path_buf(),
                }
            } else {
                KeyError::Io {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })
}

#[cfg(not(unix))]
fn open_key_file(path: &Path, _secrecy: Secrecy) -> Result<File, KeyError> {
    File::open(path).map_err(io_err(path))
}

/// A private key file must belong to the user this program runs as (else
/// its owner could read or replace it, whatever its mode) and be closed to
/// group and others.
#[cfg(unix)]
fn check_private(meta: &fs::Metadata, path: &Path) -> Result<(), KeyError> {
    use std::os::unix::fs::MetadataExt;
    let user = rustix::process::geteuid().as_raw();
    if meta.uid() != user {
        return Err(KeyError::WrongOwner {
            path: path.to_path_buf(),
            owner: meta.uid(),
            user,
        });
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::InsecurePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_meta: &fs::Metadata, _path: &Path) -> Result<(), KeyError> {
    Ok(())
}

/// `contents` in a new temporary file beside `path` (created 0600, then
/// given `mode`), synced: removed on drop unless [`place`]d.
pub(super) fn staged(
    path: &Path,
    contents: &[u8],
    mode: u32,
) -> Result<tempfile::NamedTempFile, KeyError> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let write = || -> std::io::Result<tempfile::NamedTempFile> {
        let mut file = tempfile::NamedTempFile::new_in(dir)?;
        file.write_all(contents)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.as_file()
                .set_permissions(fs::Permissions::from_mode(mode))?;
        }
        #[cfg(not(unix))]
        let _ = mode;
        file.as_file().sync_all()?;
        Ok(file)
    };
    write().map_err(io_err(path))
}

/// Gives a staged file its name: over an existing one only when
/// `replace`, and then syncs the folder so the name survives a crash.
pub(super) fn place(
    file: tempfile::NamedTempFile,
    path: &Path,
    replace: bool,
) -> Result<(), KeyError> {
    let placed = if replace {
        file.persist(path)
    } else {
        file.persist_noclobber(path)
    };
    placed.map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            KeyError::AlreadyExists {
                path: path.to_path_buf(),
            }
        } else {
            KeyError::Io {
                path: path.to_path_buf(),
                source: e.error,
            }
        }
    })?;
    #[cfg(unix)]
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(dir))?;
    }
    Ok(())
}
