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
//!
//! bincode reserves a vector's declared length before reading its items
//! (`vec![0; len]` for bytes, `len` slots for anything else), bounded only
//! by the configured limit. A limit of `N` alone would let a ten-byte input
//! that declares a 16 MiB vector cost 16 MiB. So every decode here runs
//! under the smallest limit that is at least [`RESERVE_PER_INPUT_BYTE`]
//! times the input's length (and never above `N`): what a decoder may
//! reserve is bounded by bytes actually received, whatever they declare.

use bincode::config::{BigEndian, Configuration, Limit, Varint};
use bincode::{Decode, Encode};

use crate::limits::MAX_ENVELOPE_LEN;

/// How much a decode may reserve per input byte. The densest honest
/// encoding is a list of empty byte strings: one input byte each, and 24
/// bytes of `Vec` each once decoded.
pub const RESERVE_PER_INPUT_BYTE: usize = 24;

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
    Ok(decode_within::<T, N>(bytes)?.0)
}

/// Decodes exactly one `T` from `bytes`, allocating at most `N` bytes,
/// accepting non-minimal integer encodings.
pub fn decode_lenient<T: Decode<()>, const N: usize>(bytes: &[u8]) -> Result<T, DecodeError> {
    let (value, used) = decode_within::<T, N>(bytes)?;
    if used != bytes.len() {
        return Err(DecodeError::TrailingBytes(bytes.len() - used));
    }
    Ok(value)
}

/// Decodes the `T` that `bytes` starts with under the smallest limit of at
/// least [`RESERVE_PER_INPUT_BYTE`] bytes per input byte, and at most `N`.
/// (bincode's limit is a type parameter, hence a fixed ladder of limits:
/// powers of two, so the limit is at most twice the proportional one.)
fn decode_within<T: Decode<()>, const N: usize>(
    bytes: &[u8],
) -> Result<(T, usize), bincode::error::DecodeError> {
    let wanted = bytes.len().saturating_mul(RESERVE_PER_INPUT_BYTE);
    macro_rules! ladder {
        ($($limit:expr),*) => {$(
            if wanted <= $limit && $limit < N {
                return bincode::decode_from_slice(bytes, config::<{ $limit }>());
            }
        )*};
    }
    ladder!(
        1 << 12,
        1 << 13,
        1 << 14,
        1 << 15,
        1 << 16,
        1 << 17,
        1 << 18,
        1 << 19,
        1 << 20,
        1 << 21,
        1 << 22,
        1 << 23,
        1 << 24,
        1 << 25,
        1 << 26,
        1 << 27,
        1 << 28
    );
    bincode::decode_from_slice(bytes, config::<N>())
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
    fn what_a_decode_reserves_follows_the_input_length() {
        // Twelve bytes that declare a 16 MiB byte string, and a list of
        // 600,000 entries: refused on the limit, not reserved.
        let mut bytes = vec![253];
        bytes.extend_from_slice(&(16u64 << 20).to_be_bytes());
        bytes.extend_from_slice(&[1, 2, 3]);
        assert!(matches!(
            decode_lenient::<Vec<u8>, { 32 << 20 }>(&bytes),
            Err(DecodeError::Malformed(
                bincode::error::DecodeError::LimitExceeded
            ))
        ));
        let mut list = vec![252];
        list.extend_from_slice(&600_000u32.to_be_bytes());
        list.extend_from_slice(&[0; 16]);
        assert!(matches!(
            decode_lenient::<Vec<Vec<u8>>, { 32 << 20 }>(&list),
            Err(DecodeError::Malformed(
                bincode::error::DecodeError::LimitExceeded
            ))
        ));
        // The densest honest encoding still decodes: empty strings, one
        // byte each.
        let dense = encode(&vec![Vec::<u8>::new(); 100_000]);
        assert_eq!(
            decode::<Vec<Vec<u8>>, { 32 << 20 }>(&dense).unwrap().len(),
            100_000
        );
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
