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

/// The next frame's payload from `reader`, up to `max` bytes; `None` when
/// the input ends before a whole length prefix.
pub fn read_frame(
    reader: &mut (impl Read + ?Sized),
    max: usize,
) -> Result<Option<Vec<u8>>, ReadFrameError> {
    let mut prefix = [0u8; HEADER_LEN];
    match reader.read_exact(&mut prefix) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(prefix) as usize;
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
    let mut prefix = [0u8; HEADER_LEN];
    match reader.read_exact(&mut prefix) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(prefix) as usize;
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
