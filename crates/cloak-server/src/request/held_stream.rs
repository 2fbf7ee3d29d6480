//! Where a stream's sealed frames wait until it verifies: in memory while
//! the stream is short, in a spool file once it grows past
//! [`INLINE_MAX`]. A short stream is then kept as one envelope in the
//! database (one fsync, no file per message); a long one as its own file.
//! Either way nothing is stored until [`HeldStream::commit`], which the
//! caller reaches only after the stream verified.

use std::net::IpAddr;
use std::sync::Arc;

use cloak_core::envelope::stream;

use crate::store::{Content, MessageStore, StoreError, StreamSink};

/// Sealed bytes (head and chunks) a stream may hold in memory before it
/// goes to a spool file: every text message fits, and a server holding
/// this much for each of its connections stays within its read buffers'
/// own bound.
pub(crate) const INLINE_MAX: usize = 64 * 1024;

/// A stream's frames so far.
pub(crate) enum HeldStream {
    /// Short so far: kept in memory.
    Memory {
        /// The sender's address, which a spool file is counted against.
        sender: Option<IpAddr>,
        /// The encoded stream head.
        head: Vec<u8>,
        /// Sealed data chunks, in order.
        chunks: Vec<Vec<u8>>,
        /// Bytes held (head and chunks).
        bytes: usize,
    },
    /// Longer: appended to a spool file.
    Spooled(Box<dyn StreamSink>),
}

impl HeldStream {
    /// A stream that starts with `head`, from `sender` (see
    /// [`MessageStore::begin_stream_from`]).
    pub(crate) fn new(head: &[u8], sender: Option<IpAddr>) -> Self {
        HeldStream::Memory {
            sender,
            head: head.to_vec(),
            chunks: Vec::new(),
            bytes: head.len(),
        }
    }

    /// Whether a chunk of `len` bytes stays in memory (no store I/O).
    pub(crate) fn keeps_in_memory(&self, len: usize) -> bool {
        matches!(self, HeldStream::Memory { bytes, .. } if *bytes + len <= INLINE_MAX)
    }

    /// Keeps one sealed data chunk, moving everything to a spool file when
    /// the stream outgrows memory.
    pub(crate) fn push(
        &mut self,
        store: &Arc<dyn MessageStore>,
        chunk: &[u8],
    ) -> Result<(), StoreError> {
        match self {
            HeldStream::Spooled(spool) => spool.write_frame(chunk),
            HeldStream::Memory { chunks, bytes, .. } if *bytes + chunk.len() <= INLINE_MAX => {
                chunks.push(chunk.to_vec());
                *bytes += chunk.len();
                Ok(())
            }
            HeldStream::Memory {
                head,
                chunks,
                sender,
                ..
            } => {
                let mut spool = store.begin_stream_from(*sender)?;
                spool.write_frame(head)?;
                for held in chunks.iter() {
                    spool.write_frame(held)?;
                }
                spool.write_frame(chunk)?;
                *self = HeldStream::Spooled(spool);
                Ok(())
            }
        }
    }

    /// Adds the final chunk and makes the stream ready to store: one
    /// envelope, or a durable file under its final name.
    pub(crate) fn commit(self, final_chunk: Vec<u8>) -> Result<Content, StoreError> {
        match self {
            HeldStream::Memory { head, chunks, .. } => stream::join(&head, chunks, final_chunk)
                .map(Content::Envelope)
                .map_err(|_| StoreError::Damaged("the stream head does not decode".into())),
            HeldStream::Spooled(mut spool) => {
                spool.write_frame(&final_chunk)?;
                spool.commit().map(Content::Stream)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use cloak_core::envelope::stream::StreamSealer;
    use cloak_core::{FreshnessCheck, KeyPair, OpenOptions, SealOptions};

    use super::*;
    use crate::store::sqlite::spool::SPOOL_DIR;
    use crate::store::{Limits, sqlite::SqliteStore};
    use crate::test_key::key;

    /// A real stream of `len` bytes: head, sealed data chunks, final chunk.
    fn stream(key: &KeyPair, len: usize) -> (Vec<u8>, Vec<Vec<u8>>, Vec<u8>) {
        let (mut sealer, head) =
            StreamSealer::new(key, key.public(), b"fresh", &SealOptions::default()).unwrap();
        let mut chunks = sealer.push(&vec![5u8; len]).unwrap();
        let end = sealer.finish().unwrap();
        chunks.extend(end.last_data);
        (head, chunks, end.final_chunk)
    }

    fn store_in(dir: &std::path::Path) -> Arc<dyn MessageStore> {
        Arc::new(SqliteStore::open(dir, Limits::default()).unwrap())
    }

    fn spool_files(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir.join(SPOOL_DIR)).unwrap().count()
    }

    #[test]
    fn short_streams_become_envelopes_and_long_ones_files() {
        let key = key();
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path());
        let keep = |len: usize| {
            let (head, chunks, last) = stream(key, len);
            let mut held = HeldStream::new(&head, None);
            for chunk in &chunks {
                held.push(&store, chunk).unwrap();
            }
            let spooled = matches!(held, HeldStream::Spooled(_));
            assert_eq!(spool_files(dir.path()), usize::from(spooled), "{len}");
            (held.commit(last.clone()).unwrap(), head, chunks, last)
        };

        // Short: one envelope that opens and verifies; no file anywhere.
        let (content, ..) = keep(INLINE_MAX - 2000);
        let Content::Envelope(envelope) = content else {
            panic!("a short stream is kept as an envelope")
        };
        let opened = cloak_core::open(
            key,
            key.public(),
            &envelope,
            FreshnessCheck::Expect(b"fresh"),
            &OpenOptions::default(),
        )
        .unwrap();
        assert_eq!(opened.plaintext.len(), INLINE_MAX - 2000);
        assert_eq!(spool_files(dir.path()), 0);

        // Long: every frame, in order, in a committed file.
        let (content, head, chunks, last) = keep(INLINE_MAX + 1);
        let Content::Stream(path) = content else {
            panic!("a long stream is kept as a file")
        };
        let mut reader = store.open_stream(&path).unwrap();
        let mut frames = Vec::new();
        while let Some(frame) = reader.next_frame().unwrap() {
            frames.push(frame);
        }
        let expected: Vec<Vec<u8>> = std::iter::once(head)
            .chain(chunks)
            .chain(std::iter::once(last))
            .collect();
        assert_eq!(frames, expected);
        assert_eq!(spool_files(dir.path()), 0, "renamed out of the spool");
    }

    #[test]
    fn an_abandoned_long_stream_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path());
        let (head, chunks, _) = stream(key(), 3 * INLINE_MAX);
        let mut held = HeldStream::new(&head, None);
        for chunk in &chunks {
            held.push(&store, chunk).unwrap();
        }
        assert_eq!(spool_files(dir.path()), 1);
        drop(held);
        assert_eq!(spool_files(dir.path()), 0);
    }
}
