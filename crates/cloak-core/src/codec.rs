//! The one bincode configuration used for everything CloakRoom encodes:
//! big-endian, variable-length integers, and an allocation limit so that a
//! forged length inside a message can never make the decoder reserve more
//! than the limit. Trailing bytes are an error.
//!
//! bincode itself accepts non-minimal integer encodings (5 as `fb 00 05`),
//! so [`decode`] also re-encodes what it decoded and refuses anything but
//! the one canonical encoding: signatures and AEAD associated data are
//! computed over re-encoded values, so without this some bytes of a sealed
//! message could change unnoticed. The session messages around sealed data
//! use [`decode_lenient`], where an alternative encoding changes nothing.

use bincode::config::{BigEndian, Configuration, Limit, Varint};
use bincode::{Decode, Encode};

use crate::limits::MAX_ENVELOPE_LEN;

/// The configuration with a decode allocation limit of `N` bytes.
pub type Config<const N: usize> = Configuration<BigEndian, Varint, Limit<N>>;

/// The configuration with the given decode limit.
pub const fn config<const N: usize>() -> Config<N> {
    bincode::config::standard()
        .with_big_endian()
        .with_variable_int_encoding()
        .with_limit::<N>()
}

/// Why a byte string did not decode.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// bincode refused the bytes (bad tag, length beyond the limit, EOF...).
    #[error("malformed encoding: {0}")]
    Malformed(#[from] bincode::error::DecodeError),
    /// A value decoded but bytes were left over.
    #[error("{0} trailing bytes after the encoded value")]
    TrailingBytes(usize),
    /// The value was not in its one canonical encoding.
    #[error("non-canonical encoding")]
    NonCanonical,
}

/// Encodes `value` (encoding into a `Vec` cannot fail for our types).
pub fn encode<T: Encode>(value: &T) -> Vec<u8> {
    bincode::encode_to_vec(value, config::<MAX_ENVELOPE_LEN>())
        .expect("encoding into a Vec does not fail")
}

/// Decodes exactly one `T` from `bytes`, allocating at most `N` bytes, and
/// only from its canonical encoding.
pub fn decode<T: Decode<()> + Encode, const N: usize>(bytes: &[u8]) -> Result<T, DecodeError> {
    let value: T = decode_lenient::<T, N>(bytes)?;
    if encode(&value) != bytes {
        return Err(DecodeError::NonCanonical);
    }
    Ok(value)
}

/// Decodes the `T` that `bytes` starts with, ignoring what follows (to read
/// a cleartext header without decoding the body behind it).
pub fn decode_prefix<T: Decode<()>, const N: usize>(bytes: &[u8]) -> Result<T, DecodeError> {
    Ok(bincode::decode_from_slice(bytes, config::<N>())?.0)
}

/// Decodes exactly one `T` from `bytes`, allocating at most `N` bytes,
/// accepting non-minimal integer encodings.
pub fn decode_lenient<T: Decode<()>, const N: usize>(bytes: &[u8]) -> Result<T, DecodeError> {
    let (value, used) = bincode::decode_from_slice(bytes, config::<N>())?;
    if used != bytes.len() {
        return Err(DecodeError::TrailingBytes(bytes.len() - used));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_bytes_are_refused() {
        let bytes = encode(&(7u32, vec![1u8, 2, 3]));
        assert!(decode::<(u32, Vec<u8>), 64>(&bytes).is_ok());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            decode::<(u32, Vec<u8>), 64>(&longer),
            Err(DecodeError::TrailingBytes(1))
        ));
    }

    #[test]
    fn only_the_canonical_encoding_is_accepted() {
        // 5 as a one-byte varint, and as marker 251 followed by a u16.
        assert_eq!(decode::<u64, 64>(&[5]).unwrap(), 5);
        assert!(matches!(
            decode::<u64, 64>(&[251, 0, 5]),
            Err(DecodeError::NonCanonical)
        ));
        assert_eq!(decode_lenient::<u64, 64>(&[251, 0, 5]).unwrap(), 5);
        // A byte string whose length is written long.
        assert!(matches!(
            decode::<Vec<u8>, 64>(&[251, 0, 2, 9, 9]),
            Err(DecodeError::NonCanonical)
        ));
    }
}
