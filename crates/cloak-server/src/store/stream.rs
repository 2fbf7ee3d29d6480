//! Streams as the store keeps them: a stream's frames (head, sealed
//! chunks, final chunk) are written through a [`StreamSink`] while the
//! stream arrives and read back through a [`FrameSource`], so that the
//! rest of the server never learns where they live. The embedded store
//! keeps each stream as a file beside its database; a shared database keeps
//! it as rows, so that any instance can read what another one received.

use super::StoreError;

/// A committed stream, as its store names it (a file name, or a row key).
/// Opaque outside the store that made it: only that store can open it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamRef(String);

impl StreamRef {
    /// A store's own name for a stream.
    pub(crate) fn new(name: impl Into<String>) -> Self {
        StreamRef(name.into())
    }

    /// The store's name for the stream (what its rows keep).
    pub fn name(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for StreamRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stream being written. Nothing written is visible, nor kept after a
/// crash, until [`StreamSink::commit`] and then the row that names the
/// committed stream; dropping the sink abandons the stream and gives its
/// room back.
pub trait StreamSink: Send {
    /// Appends one frame (a head, chunk or final chunk as received), after
    /// reserving its room against the store's limit.
    fn write_frame(&mut self, payload: &[u8]) -> Result<(), StoreError>;
    /// Bytes written so far.
    fn bytes(&self) -> u64;
    /// Makes the stream durable and returns its name, for the row that is
    /// to refer to it. A stream no row comes to refer to is removed by the
    /// store (at once when the row is refused, or by its cleanup after a
    /// crash).
    fn commit(self: Box<Self>) -> Result<StreamRef, StoreError>;
}

/// A committed stream read back frame by frame, in bounded memory.
pub trait FrameSource: Send {
    /// The next frame's payload read into `buf` (at most its length): the
    /// payload's length, or `None` at the end of the stream.
    fn next_frame_into(&mut self, buf: &mut [u8]) -> Result<Option<usize>, StoreError>;
    /// The next frame's payload, or `None` at the end of the stream.
    fn next_frame(&mut self) -> Result<Option<Vec<u8>>, StoreError>;
}
