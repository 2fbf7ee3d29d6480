//! The one bincode configuration used for everything CloakRoom encodes:
//! big-endian, variable-length integers, and an allocation limit so that a
//! forged length inside a message can never make the decoder reserve more
//! than the limit. Trailing bytes are an error, so every value has exactly
//! one encoding.

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
}

/// Encodes `value` (encoding into a `Vec` cannot fail for our types).
pub fn encode<T: Encode>(value: &T) -> Vec<u8> {
    bincode::encode_to_vec(value, config::<MAX_ENVELOPE_LEN>())
        .expect("encoding into a Vec does not fail")
}

/// Decodes exactly one `T` from `bytes`, allocating at most `N` bytes.
pub fn decode<T: Decode<()>, const N: usize>(bytes: &[u8]) -> Result<T, DecodeError> {
    let (value, used) = bincode::decode_from_slice(bytes, config::<N>())?;
    if used != bytes.len() {
        return Err(DecodeError::TrailingBytes(bytes.len() - used));
    }
    Ok(value)
}
