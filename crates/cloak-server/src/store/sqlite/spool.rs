//! The embedded store's streams: spooling a hybrid stream to disk while it arrives: frames are appended
//! to a temporary file in `DATA/spool/`; only after the stream verified is
//! the file flushed, fsync'd and renamed into `DATA/messages/` (then the
//! folder fsync'd), and only then is the database row written. An abandoned
//! or rejected spool file is deleted when dropped, and leftovers of a crash
//! are swept at start-up.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use cloak_core::limits::MAX_FRAME_LEN;
use cloak_core::session::frame;
use cloak_core::session::frame_reader::{ReadFrameError, read_frame, read_frame_into};
use tempfile::NamedTempFile;

use crate::store::room::Reservation;
use crate::store::{FrameSource, StoreError, StreamRef, StreamSink};

/// Subfolder for streams being received.
pub const SPOOL_DIR: &str = "spool";
/// Subfolder for committed streams.
pub const MESSAGES_DIR: &str = "messages";

fn io(what: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |e| StoreError::io(what, e)
}

/// Start writing back to disk after this many new bytes, while the stream
/// goes on: the final fsync then has only the tail left to flush, instead of
/// the whole message after the last byte arrived. (1 GiB to disk, interleaved
/// runs: 32 MiB 644-661 MB/s, 8 MiB 692-698, 4 MiB about the same, 2 MiB
/// slower again.)
const WRITEBACK_EVERY: u64 = 8 * 1024 * 1024;

/// A stream being received.
pub struct Spool {
    /// Deleted when dropped, unless committed.
    file: Option<BufWriter<NamedTempFile>>,
    temp: PathBuf,
    messages: PathBuf,
    bytes: u64,
    room: Reservation,
    unsynced: u64,
    writeback: Option<std::thread::JoinHandle<io::Result<()>>>,
}

impl Spool {
    /// A new spool file in `data`, growing only as far as `room` can be
    /// grown (see `room`).
    pub(crate) fn create(data: &Path, room: Reservation) -> Result<Spool, StoreError> {
        let spool_dir = data.join(SPOOL_DIR);
        // Private from its first byte (tempfile creates it 0600), whatever
        // the umask: the data folder is the server's alone (renamed into
        // `messages/`, it stays so).
        let file = tempfile::Builder::new()
            .suffix(".part")
            .tempfile_in(&spool_dir)
            .map_err(io(&spool_dir))?;
        let temp = file.path().to_path_buf();
        Ok(Spool {
            // Small on purpose: chunks (256 KiB) bypass it and go straight to
            // the file without a copy; only the 4-byte prefixes gather here.
            file: Some(BufWriter::with_capacity(8 * 1024, file)),
            temp,
            messages: data.join(MESSAGES_DIR),
            bytes: 0,
            room,
            unsynced: 0,
            writeback: None,
        })
    }
}

impl StreamSink for Spool {
    fn write_frame(&mut self, payload: &[u8]) -> Result<(), StoreError> {
        let added = (frame::HEADER_LEN + payload.len()) as u64;
        self.room.grow(added)?;
        let file = self.file.as_mut().expect("spool is open until committed");
        file.write_all(&(payload.len() as u32).to_be_bytes())
            .and_then(|()| file.write_all(payload))
            .map_err(io(&self.temp))?;
        // (A chunk is larger than the buffer, so it goes straight to the
        // file after the buffered prefix: two writes, no copy.)
        self.bytes += added;
        self.unsynced += added;
        if self.unsynced >= WRITEBACK_EVERY {
            self.start_writeback()?;
        }
        Ok(())
    }

    fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Makes the stream durable under a final name and returns it. The
    /// database row must be written afterwards; a crash in between leaves
    /// an unreferenced file that start-up sweeps away.
    fn commit(mut self: Box<Self>) -> Result<StreamRef, StoreError> {
        self.finish_writeback()?;
        let writer = self.file.take().expect("spool is open until committed");
        let file = writer
            .into_inner()
            .map_err(|e| io(&self.temp)(e.into_error()))?;
        file.as_file().sync_all().map_err(io(&self.temp))?;
        // A random name (32 hex digits, as the store checks) stays unique:
        // a retried message is a new file, removed again if the database
        // already holds the message. Names only need to be unique, not
        // secret.
        let name = format!("{}.stream", cloak_core::MessageId::random());
        let target = self.messages.join(&name);
        file.persist(&target).map_err(|e| io(&target)(e.error))?;
        File::open(&self.messages)
            .and_then(|dir| dir.sync_all())
            .map_err(io(&self.messages))?;
        Ok(StreamRef::new(name))
    }
}

impl Spool {
    /// Flushes what is written so far in a background thread, unless the
    /// previous flush is still running.
    fn start_writeback(&mut self) -> Result<(), StoreError> {
        if self.writeback.as_ref().is_some_and(|t| !t.is_finished()) {
            return Ok(());
        }
        self.finish_writeback()?;
        let file = self.file.as_mut().expect("spool is open until committed");
        file.flush().map_err(io(&self.temp))?;
        let handle = file
            .get_ref()
            .as_file()
            .try_clone()
            .map_err(io(&self.temp))?;
        self.writeback = Some(std::thread::spawn(move || handle.sync_data()));
        self.unsynced = 0;
        Ok(())
    }

    fn finish_writeback(&mut self) -> Result<(), StoreError> {
        if let Some(thread) = self.writeback.take() {
            thread
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("writeback thread panicked")))
                .map_err(io(&self.temp))?;
        }
        Ok(())
    }
}

/// Reads a stored stream back, frame by frame.
pub struct FrameReader {
    reader: BufReader<File>,
    path: PathBuf,
}

impl FrameReader {
    /// Opens a stored stream file.
    pub fn open(path: &Path) -> Result<FrameReader, StoreError> {
        let file = File::open(path).map_err(io(path))?;
        Ok(FrameReader {
            reader: BufReader::with_capacity(256 * 1024, file),
            path: path.to_path_buf(),
        })
    }

    fn damaged(&self, e: ReadFrameError) -> StoreError {
        match e {
            ReadFrameError::Io(e) => StoreError::io(&self.path, e),
            ReadFrameError::TooLarge { .. } => {
                StoreError::Damaged("stored stream is damaged".into())
            }
            _ => StoreError::Damaged("stored stream is truncated".into()),
        }
    }
}

impl FrameSource for FrameReader {
    fn next_frame_into(&mut self, buf: &mut [u8]) -> Result<Option<usize>, StoreError> {
        read_frame_into(&mut self.reader, buf).map_err(|e| self.damaged(e))
    }

    fn next_frame(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        read_frame(&mut self.reader, MAX_FRAME_LEN).map_err(|e| self.damaged(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_prefix_costs_the_bytes_present_not_the_bytes_declared() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("damaged.stream");
        // A whole frame, then a prefix declaring the largest frame over
        // three bytes of payload.
        let mut bytes = vec![0, 0, 0, 2, 7, 7];
        bytes.extend_from_slice(&(MAX_FRAME_LEN as u32).to_be_bytes());
        bytes.extend_from_slice(&[1, 2, 3]);
        std::fs::write(&path, &bytes).unwrap();
        let mut reader = FrameReader::open(&path).unwrap();
        assert_eq!(reader.next_frame().unwrap(), Some(vec![7, 7]));
        assert!(
            matches!(reader.next_frame(), Err(StoreError::Damaged(why)) if why.contains("truncated"))
        );

        std::fs::write(&path, ((MAX_FRAME_LEN + 1) as u32).to_be_bytes()).unwrap();
        let mut reader = FrameReader::open(&path).unwrap();
        assert!(
            matches!(reader.next_frame(), Err(StoreError::Damaged(why)) if why.contains("damaged"))
        );
    }
}
