//! Framing: a 4-byte big-endian payload length, then the payload. Pure
//! functions over byte buffers, no I/O, so they are easy to test and fuzz.
//!
//! Hand-written rather than tokio-util's `LengthDelimitedCodec`: that
//! decoder reserves buffer space for the declared length as soon as it has
//! read the prefix, before the payload's bytes arrive, so a peer that
//! declares large frames and then sends nothing would hold that memory for
//! free. Here memory grows with the bytes actually received, and a server
//! reserves a frame's declared length from its budget before reading it.

use crate::limits::MAX_FRAME_LEN;

/// Bytes of the length prefix.
pub const HEADER_LEN: usize = 4;

/// A frame that must not be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The length prefix exceeds the maximum; detected from the 4 prefix
    /// bytes alone, before anything is allocated for the payload.
    #[error("frame of {len} bytes exceeds the maximum of {max} bytes")]
    TooLarge {
        /// The declared length.
        len: u64,
        /// The limit in force.
        max: usize,
    },
}

/// Looks for one complete frame at the start of `buf`.
///
/// Returns `Ok(None)` while the frame is incomplete, `Ok(Some(total))` when
/// `buf[HEADER_LEN..total]` is a whole payload, and an error as soon as the
/// prefix declares more than `max` bytes.
pub fn parse(buf: &[u8], max: usize) -> Result<Option<usize>, FrameError> {
    let Some(prefix) = buf.first_chunk::<HEADER_LEN>() else {
        return Ok(None);
    };
    let len = u32::from_be_bytes(*prefix) as usize;
    if len > max {
        return Err(FrameError::TooLarge {
            len: len as u64,
            max,
        });
    }
    let total = HEADER_LEN + len;
    Ok((buf.len() >= total).then_some(total))
}

/// How many more bytes `buf` needs before [`parse`] can say more: the rest
/// of the length prefix, or the rest of the frame it announces (whose
/// length [`parse`] has already checked). Zero when a whole frame is there.
pub fn missing(buf: &[u8]) -> usize {
    match buf.first_chunk::<HEADER_LEN>() {
        None => HEADER_LEN - buf.len(),
        Some(prefix) => {
            (HEADER_LEN + u32::from_be_bytes(*prefix) as usize).saturating_sub(buf.len())
        }
    }
}

/// Prefixes `payload` with its length. The caller keeps payloads within
/// [`MAX_FRAME_LEN`], which fits in a `u32`.
pub fn encode(payload: &[u8]) -> Vec<u8> {
    debug_assert!(payload.len() <= MAX_FRAME_LEN);
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incomplete_complete_and_oversize() {
        let frame = encode(b"hello");
        for cut in 0..frame.len() {
            assert_eq!(parse(&frame[..cut], 100), Ok(None), "prefix {cut}");
        }
        assert_eq!(parse(&frame, 100), Ok(Some(9)));
        let mut two = frame.clone();
        two.extend_from_slice(&encode(b"x"));
        assert_eq!(parse(&two, 100), Ok(Some(9)));
        assert_eq!(parse(&encode(b""), 0), Ok(Some(4)));
        let missing_at: Vec<usize> = (0..=frame.len())
            .map(|cut| missing(&frame[..cut]))
            .collect();
        assert_eq!(missing_at, [4, 3, 2, 1, 5, 4, 3, 2, 1, 0]);
        assert_eq!(missing(&two), 0);
        assert_eq!(
            parse(&[0, 0, 0, 101], 100),
            Err(FrameError::TooLarge { len: 101, max: 100 })
        );
        assert_eq!(
            parse(&[0xff, 0xff, 0xff, 0xff], 100),
            Err(FrameError::TooLarge {
                len: u32::MAX as u64,
                max: 100
            })
        );
    }
}
