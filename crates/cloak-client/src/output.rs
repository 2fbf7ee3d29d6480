//! Where a received message goes (the terminal, within a limit, or files
//! named after `--out`; see `cloak_cli::sink` for how a file appears only
//! once verified), and the failures that keep it from going anywhere.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
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

/// The failure of a message from the server that does not decrypt.
pub(crate) fn undecryptable() -> anyhow::Error {
    anyhow!("{CONFIDENTIALITY} failed: a message from the server does not decrypt with our key")
}

/// The failure of a message not signed by the pinned server key.
pub(crate) fn unsigned() -> anyhow::Error {
    anyhow!("{INTEGRITY} failed: a message is not signed by the pinned server key for this session")
}
