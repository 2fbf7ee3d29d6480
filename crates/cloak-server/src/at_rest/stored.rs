//! Reading a stored stream back: its head, read first; its key,
//! unwrapped with the server key when the caller is ready to spend that
//! private-key operation; then its chunks' plaintext one by one; and its
//! final chunk, whose signature the caller verifies for the message's
//! place. Memory stays at a chunk or two.

use cloak_core::envelope::stream::{StreamDecrypted, StreamOpener};
use cloak_core::{KeyPair, OpenError, OpenOptions};

use crate::store::{FrameSource, MessageStore, StoreError, StreamRef};

/// Why a stored stream does not open.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoredStreamError {
    /// The stream could not be read, or its framing is damaged.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A chunk does not decrypt, or the end does not.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The file holds no head.
    #[error("an empty stored stream")]
    Empty,
    /// The stream ends before its final chunk.
    #[error("no final chunk")]
    NoFinalChunk,
}

/// A stored stream whose head was read but not yet unwrapped.
pub struct StoredHead {
    frames: Box<dyn FrameSource>,
    head: Vec<u8>,
}

/// A stored stream being read.
pub struct StoredStream {
    frames: Box<dyn FrameSource>,
    opener: StreamOpener,
    /// The last frame read: the final chunk once the stream ends.
    pending: Option<Vec<u8>>,
}

impl StoredHead {
    /// Opens `stream` in `store` and reads its head.
    pub fn read(
        store: &dyn MessageStore,
        stream: &StreamRef,
    ) -> Result<StoredHead, StoredStreamError> {
        let mut frames = store.open_stream(stream)?;
        let head = frames.next_frame()?.ok_or(StoredStreamError::Empty)?;
        Ok(StoredHead { frames, head })
    }

    /// Unwraps the stream's key with `key` (one private-key operation).
    pub fn unwrap(self, key: &KeyPair) -> Result<StoredStream, StoredStreamError> {
        let opener = StreamOpener::new(key, &self.head, &OpenOptions::default())?;
        Ok(StoredStream {
            frames: self.frames,
            opener,
            pending: None,
        })
    }
}

impl StoredHead {
    /// Unwraps the stream's key with `key` (one private-key operation) and
    /// hands back the stream's remaining frames with the opener, for a relay
    /// that reads each chunk into its own buffer (see `fetch_stream`).
    pub fn unwrap_for_relay(
        self,
        key: &KeyPair,
    ) -> Result<(Box<dyn FrameSource>, StreamOpener), StoredStreamError> {
        let opener = StreamOpener::new(key, &self.head, &OpenOptions::default())?;
        Ok((self.frames, opener))
    }
}

impl StoredStream {
    /// Opens `stream` in `store` and unwraps its key with `key`.
    pub fn open(
        key: &KeyPair,
        store: &dyn MessageStore,
        stream: &StreamRef,
    ) -> Result<StoredStream, StoredStreamError> {
        StoredHead::read(store, stream)?.unwrap(key)
    }

    fn pending(&mut self) -> Result<Vec<u8>, StoredStreamError> {
        match self.pending.take() {
            Some(frame) => Ok(frame),
            None => (self.frames.next_frame()?).ok_or(StoredStreamError::NoFinalChunk),
        }
    }

    /// The next data chunk's plaintext; `None` when only the final chunk
    /// is left.
    pub fn next_chunk(&mut self) -> Result<Option<&[u8]>, StoredStreamError> {
        let sealed = self.pending()?;
        let Some(next) = self.frames.next_frame()? else {
            self.pending = Some(sealed);
            return Ok(None);
        };
        self.pending = Some(next);
        Ok(Some(self.opener.chunk(&sealed)?))
    }

    /// Decrypts the final chunk, whose signature is then to be verified.
    pub fn finish(mut self) -> Result<StreamDecrypted, StoredStreamError> {
        let last = self.pending()?;
        Ok(self.opener.finish(&last)?)
    }
}

impl StoredStreamError {
    /// As an `anyhow` error that a store failure can still be told from
    /// (`is::<StoreError>()`).
    pub fn into_anyhow(self) -> anyhow::Error {
        match self {
            StoredStreamError::Store(e) => e.into(),
            other => other.into(),
        }
    }
}
