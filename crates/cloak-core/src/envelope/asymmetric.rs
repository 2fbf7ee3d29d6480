//! Asymmetric mode (Part 1): the encoded inner message, signature included,
//! is cut into blocks that fit one RSA-OAEP-SHA256 encryption each (190 bytes
//! at 2048 bits, 318 at 3072) and every block is encrypted to the recipient.

use zeroize::Zeroizing;

use super::wire::Body;
use crate::error::SealError;
use crate::keys::{KeyPair, PublicKey};
use crate::limits::{ASYMMETRIC_BLOCK_LABEL, oaep_block_capacity};
use crate::primitives;

/// Upper bound on the encoded inner message beyond the plaintext itself
/// (ids, lengths, freshness, a 4096-bit signature), used to bound the number
/// of blocks a recipient agrees to decrypt.
const INNER_OVERHEAD: usize = 1024;

/// The OAEP label of block `index` of `count`: binding position and count
/// means blocks cannot be reordered, dropped or spliced between envelopes.
fn block_label(index: usize, count: usize) -> Vec<u8> {
    let mut label = ASYMMETRIC_BLOCK_LABEL.to_vec();
    label.extend_from_slice(&(index as u32).to_be_bytes());
    label.extend_from_slice(&(count as u32).to_be_bytes());
    label
}

/// The most blocks an envelope carrying at most `max_plaintext` bytes needs.
pub(crate) fn max_blocks(modulus_len: usize, max_plaintext: usize) -> usize {
    (max_plaintext + INNER_OVERHEAD).div_ceil(oaep_block_capacity(modulus_len))
}

pub(crate) fn encrypt(recipient: &PublicKey, inner: &[u8]) -> Result<Body, SealError> {
    let capacity = oaep_block_capacity(recipient.modulus_len());
    let count = inner.len().div_ceil(capacity).max(1);
    let blocks = inner
        .chunks(capacity)
        .enumerate()
        .map(|(i, chunk)| {
            primitives::oaep_encrypt(recipient, &block_label(i, count), chunk)
                .map_err(SealError::from)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Body::Asymmetric { blocks })
}

/// Structural checks on public data only, made before any private-key
/// operation (so they may return early): bounds the RSA work an envelope can
/// cost us.
pub(crate) fn shape_acceptable(
    modulus_len: usize,
    blocks: &[Vec<u8>],
    max_plaintext: usize,
) -> bool {
    !blocks.is_empty()
        && blocks.len() <= max_blocks(modulus_len, max_plaintext)
        && blocks.iter().all(|b| b.len() == modulus_len)
}

/// Decrypts the blocks in order, or returns `None` at the first that does
/// not decrypt (or when `pace` says to stop).
///
/// Stopping early tells a sender only which of the blocks it sent failed:
/// what it would learn by sending them one at a time. OAEP stays secure
/// with a decryption oracle (IND-CCA2); what must not leak is *why* one
/// block failed, and each block's decoding is constant-time. Going on after
/// a failure would only let anyone holding the public key make us spend
/// every block's private-key operation on random bytes.
///
/// `pace` runs before every private-key operation after the first, so a
/// caller can let other work go first, or stop when nobody waits for the
/// answer any more.
pub(crate) fn decrypt(
    recipient: &KeyPair,
    blocks: &[Vec<u8>],
    max_plaintext: usize,
    pace: &mut dyn FnMut() -> bool,
) -> Option<Zeroizing<Vec<u8>>> {
    let modulus_len = recipient.public().modulus_len();
    if !shape_acceptable(modulus_len, blocks, max_plaintext) {
        return None;
    }
    let count = blocks.len();
    // Bounded by the blocks present: each holds `modulus_len` bytes.
    let mut inner = Zeroizing::new(Vec::with_capacity(count * oaep_block_capacity(modulus_len)));
    for (i, block) in blocks.iter().enumerate() {
        if i > 0 && !pace() {
            return None;
        }
        let chunk = primitives::oaep_decrypt(recipient, &block_label(i, count), block).ok()?;
        inner.extend_from_slice(&chunk);
    }
    Some(inner)
}
