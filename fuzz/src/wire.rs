//! CloakRoom's bincode encoding written piece by piece, so that a short
//! description can become what the real encoders write, and also what they
//! never would (a length prefix that lies, a million copies of one item)
//! without first building the value in memory. Every primitive goes
//! through `cloak_core::codec::encode`, the one real configuration
//! (big-endian, varint), so the two cannot drift apart.

use cloak_core::codec;
use cloak_core::limits::MAX_FRAME_LEN;

/// Bytes under construction, never more than a frame holds: nothing
/// longer reaches a peer, and building it would only cost the fuzzer time
/// and memory. Each method returns `None` when the frame is full; the input
/// is then skipped.
#[derive(Debug)]
pub struct Writer {
    out: Vec<u8>,
    limit: usize,
}

impl Default for Writer {
    fn default() -> Self {
        Writer::limited(MAX_FRAME_LEN)
    }
}

impl Writer {
    /// An empty writer that holds up to a frame.
    pub fn new() -> Self {
        Writer::default()
    }

    /// An empty writer that holds up to `limit` bytes.
    pub fn limited(limit: usize) -> Self {
        Writer {
            out: Vec::new(),
            limit,
        }
    }

    /// Bytes that still fit.
    pub fn room(&self) -> usize {
        self.limit.saturating_sub(self.out.len())
    }

    /// Appends bytes as they are (fixed-size arrays encode this way).
    pub fn raw(&mut self, bytes: &[u8]) -> Option<()> {
        (bytes.len() <= self.room()).then(|| self.out.extend_from_slice(bytes))
    }

    /// Appends `count` copies of `item`.
    pub fn repeat(&mut self, item: &[u8], count: usize) -> Option<()> {
        if item.len().checked_mul(count)? > self.room() {
            return None;
        }
        for _ in 0..count {
            self.out.extend_from_slice(item);
        }
        Some(())
    }

    /// A `u16` field.
    pub fn u16(&mut self, value: u16) -> Option<()> {
        self.raw(&codec::encode(&value))
    }

    /// A `u32` field, or an enum's variant index.
    pub fn u32(&mut self, value: u32) -> Option<()> {
        self.raw(&codec::encode(&value))
    }

    /// A `u64` field, or the length of a sequence.
    pub fn u64(&mut self, value: u64) -> Option<()> {
        self.raw(&codec::encode(&value))
    }

    /// A `Vec<u8>` (or `String`) field: its length, then its bytes.
    pub fn bytes(&mut self, bytes: &[u8]) -> Option<()> {
        self.u64(bytes.len() as u64)?;
        self.raw(bytes)
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// The encoding.
    pub fn into_bytes(self) -> Vec<u8> {
        self.out
    }
}

/// What `write` writes, on its own and at most `limit` bytes (an item to
/// repeat, or a value nested as bytes inside another).
pub fn encoded(limit: usize, write: impl FnOnce(&mut Writer) -> Option<()>) -> Option<Vec<u8>> {
    let mut w = Writer::limited(limit);
    write(&mut w)?;
    Some(w.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the mirror relies on: arrays are bare, a byte string is its
    /// length then its bytes, an enum is its variant index, a tuple is its
    /// fields in order.
    #[test]
    fn primitives_match_the_derived_encoding() {
        assert_eq!(codec::encode(&[7u8; 16]), [7u8; 16]);
        let mut w = Writer::new();
        w.bytes(&[1, 2, 3]).unwrap();
        assert_eq!(w.into_bytes(), codec::encode(&vec![1u8, 2, 3]));
        let mode = codec::encode(&cloak_core::Mode::Hybrid);
        assert_eq!(mode, codec::encode(&1u32));
        let mut w = Writer::new();
        w.u32(300).unwrap();
        w.bytes(&[]).unwrap();
        w.raw(&[9; 4]).unwrap();
        assert_eq!(
            w.into_bytes(),
            codec::encode(&(300u32, Vec::<u8>::new(), [9u8; 4]))
        );
    }

    #[test]
    fn a_frame_is_the_most_a_writer_holds() {
        let mut w = Writer::new();
        assert!(w.repeat(&[0; 1024], MAX_FRAME_LEN / 1024).is_some());
        assert!(w.repeat(&[0; 1024], 1).is_none());
        assert!(w.raw(&vec![0; w.room()]).is_some());
        assert!(w.raw(&[0]).is_none());
    }
}
