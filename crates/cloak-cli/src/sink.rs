//! Where a program puts a message while it is still being verified: in
//! memory, for the terminal, or in a temporary file beside the file asked
//! for, which takes that file's name only once the message verified. A
//! sink dropped before then deletes its file: no partial or unverified
//! file is ever left.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use tempfile::NamedTempFile;
use zeroize::Zeroizing;

/// A message's bytes, not yet verified.
pub enum Sink {
    /// Gathered for the terminal.
    Memory(Zeroizing<Vec<u8>>),
    /// Written to a temporary file, renamed to `target` once verified.
    File {
        /// The temporary file.
        file: BufWriter<NamedTempFile>,
        /// The name it takes.
        target: PathBuf,
    },
}

/// A verified message, where it went.
pub enum Kept {
    /// In memory: the text to show.
    Memory(Zeroizing<Vec<u8>>),
    /// Written to `path`: its length.
    File {
        /// Bytes written.
        len: u64,
        /// The file.
        path: PathBuf,
    },
}

impl Sink {
    /// Memory with room for `capacity` bytes at once: growing would leave
    /// copies of the plaintext behind that are never zeroized.
    pub fn memory(capacity: usize) -> Sink {
        Sink::Memory(Zeroizing::new(Vec::with_capacity(capacity)))
    }

    /// A temporary file beside `target`.
    pub fn beside(target: &Path) -> anyhow::Result<Sink> {
        let dir = match target.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let file = NamedTempFile::new_in(dir)
            .with_context(|| format!("creating a file in {}", dir.display()))?;
        Ok(Sink::File {
            file: BufWriter::with_capacity(256 * 1024, file),
            target: target.to_path_buf(),
        })
    }

    /// The temporary file, if the sink is one.
    pub fn file(&self) -> Option<&File> {
        match self {
            Sink::File { file, .. } => Some(file.get_ref().as_file()),
            Sink::Memory(_) => None,
        }
    }

    /// Keeps `bytes`, still unverified.
    pub fn write(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        match self {
            Sink::Memory(text) => text.extend_from_slice(bytes),
            Sink::File { file, target } => file
                .write_all(bytes)
                .with_context(|| format!("writing {}", target.display()))?,
        }
        Ok(())
    }

    /// The message verified: the file, durable, under its name; or the
    /// text.
    pub fn keep(self) -> anyhow::Result<Kept> {
        let (file, target) = match self {
            Sink::Memory(text) => return Ok(Kept::Memory(text)),
            Sink::File { file, target } => (file, target),
        };
        let writing = || format!("writing {}", target.display());
        let file = file
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(writing)?;
        file.as_file().sync_all().with_context(writing)?;
        let len = file.as_file().metadata().map(|m| m.len()).unwrap_or(0);
        file.persist(&target).with_context(writing)?;
        Ok(Kept::File { len, path: target })
    }
}

/// Writes a verified message to `path` via a temporary file beside it.
pub fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut sink = Sink::beside(path)?;
    sink.write(bytes)?;
    sink.keep().map(drop)
}
