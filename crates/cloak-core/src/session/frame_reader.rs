//! Frames from a blocking reader (a stored stream file, a relayed socket),
//! for the code that has no async connection: the format of `frame`, and
//! memory that grows with the bytes present, not with the length a prefix
//! declares.

use std::io::{self, Read};

use super::frame::HEADER_LEN;

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadFrameError {
    /// The length prefix declares more than the limit.
    #[error("frame of {len} bytes exceeds the maximum of {max} bytes")]
    TooLarge {
        /// The declared length.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// The input ended inside a frame's payload.
    #[error("the input ended inside a frame")]
    Truncated,
    /// The reader failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// The next length prefix; `None` at a clean end (no byte of it), and
/// `Truncated` if the input ends inside it.
fn read_prefix(reader: &mut (impl Read + ?Sized)) -> Result<Option<usize>, ReadFrameError> {
    let mut prefix = [0u8; HEADER_LEN];
    let mut filled = 0;
    while filled < HEADER_LEN {
        match reader.read(&mut prefix[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err(ReadFrameError::Truncated),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Some(u32::from_be_bytes(prefix) as usize))
}

/// The next frame's payload from `reader`, up to `max` bytes; `None` when
/// the input ends before a whole length prefix.
pub fn read_frame(
    reader: &mut (impl Read + ?Sized),
    max: usize,
) -> Result<Option<Vec<u8>>, ReadFrameError> {
    let Some(len) = read_prefix(reader)? else {
        return Ok(None);
    };
    if len > max {
        return Err(ReadFrameError::TooLarge { len, max });
    }
    // Grown by the bytes the input really holds: a damaged prefix in a
    // short file must not cost a frame's worth.
    let mut payload = Vec::new();
    reader.take(len as u64).read_to_end(&mut payload)?;
    if payload.len() != len {
        return Err(ReadFrameError::Truncated);
    }
    Ok(Some(payload))
}

/// [`read_frame`] into `buf` (whose length is the limit), for a reader
/// that reuses one buffer for every frame: the payload's length, or `None`
/// when the input ends before a whole length prefix.
pub fn read_frame_into(
    reader: &mut (impl Read + ?Sized),
    buf: &mut [u8],
) -> Result<Option<usize>, ReadFrameError> {
    let Some(len) = read_prefix(reader)? else {
        return Ok(None);
    };
    let max = buf.len();
    let payload = buf
        .get_mut(..len)
        .ok_or(ReadFrameError::TooLarge { len, max })?;
    match reader.read_exact(payload) {
        Ok(()) => Ok(Some(len)),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(ReadFrameError::Truncated),
        Err(e) => Err(e.into()),
    }
}

/// [`read_frame`], with its length prefix in front: the frame as it was on
/// the wire.
pub fn read_whole_frame(
    reader: &mut (impl Read + ?Sized),
    max: usize,
) -> Result<Option<Vec<u8>>, ReadFrameError> {
    Ok(read_frame(reader, max)?.map(|payload| {
        let mut frame = Vec::with_capacity(HEADER_LEN + payload.len());
        frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        frame.extend_from_slice(&payload);
        frame
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_input_ending_inside_a_prefix_is_truncated_not_ended() {
        assert!(matches!(read_frame(&mut &[][..], 16), Ok(None)));
        assert!(matches!(
            read_frame(&mut &[0, 0][..], 16),
            Err(ReadFrameError::Truncated)
        ));
        let mut buf = [0u8; 16];
        assert!(matches!(
            read_frame_into(&mut &[0, 0, 0][..], &mut buf),
            Err(ReadFrameError::Truncated)
        ));
        assert!(matches!(
            read_frame_into(&mut &[0, 0, 0, 2, 7, 8][..], &mut buf),
            Ok(Some(2))
        ));
        assert_eq!(&buf[..2], &[7, 8]);
        assert!(matches!(
            read_frame_into(&mut &[0, 0, 0, 17][..], &mut buf),
            Err(ReadFrameError::TooLarge { len: 17, max: 16 })
        ));
    }
}
