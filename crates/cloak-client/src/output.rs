//! Where a received message goes: the terminal, within a limit, or a file
//! that appears only once its content verified (a temporary file beside
//! it until then).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use cloak_core::verdict::{CONFIDENTIALITY, INTEGRITY};

/// Largest message shown on the terminal; larger ones need `--out`.
pub(crate) const MAX_TERMINAL_MESSAGE: usize = 1 << 20;

/// `FILE` for the first message of a delivery, `FILE.2`, `FILE.3`... after.
pub(crate) fn out_path(out: &Path, index: usize) -> PathBuf {
    if index == 0 {
        out.to_path_buf()
    } else {
        let mut name = out.as_os_str().to_os_string();
        name.push(format!(".{}", index + 1));
        PathBuf::from(name)
    }
}

/// A temporary file beside `path`, to be persisted as `path` once its
/// content verified.
pub(crate) fn temp_beside(path: &Path) -> anyhow::Result<tempfile::NamedTempFile> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a file in {}", dir.display()))
}

/// Writes a verified message to `path` via a temporary file beside it.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut file = temp_beside(path)?;
    file.write_all(bytes)
        .and_then(|()| file.as_file().sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    file.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The failure of a message from the server that does not decrypt.
pub(crate) fn undecryptable() -> anyhow::Error {
    anyhow!("{CONFIDENTIALITY} failed: a message from the server does not decrypt with our key")
}

/// The failure of a message not signed by the pinned server key.
pub(crate) fn unsigned() -> anyhow::Error {
    anyhow!("{INTEGRITY} failed: a message is not signed by the pinned server key for this session")
}
