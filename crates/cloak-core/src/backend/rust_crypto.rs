//! The pure-Rust backend: RSA from the `rsa` crate (constant-time since
//! 0.10, private-key operations blinded) and AES-256-GCM from `aes-gcm`.

use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use rand::{CryptoRng, RngExt};
use rsa::{Oaep, PrivateKey, PublicKey};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::primitive_error::PrimitiveError;
use crate::limits::{AEAD_KEY_LEN, AEAD_NONCE_LEN, AEAD_TAG_LEN};

/// AES-256-GCM keyed once.
pub(crate) type Cipher = Aes256Gcm;

/// The generator behind every random byte this backend uses (keys, ids,
/// nonces, OAEP seeds, PSS salts, blinding): the thread generator, a
/// ChaCha12 CSPRNG seeded and periodically reseeded from the operating
/// system. Test builds alone can swap in a seeded one
/// (`seeded::with_seeded_rng`), so that a sealed known-answer vector can be
/// reproduced byte for byte.
fn with_rng<T>(f: impl FnOnce(&mut dyn CryptoRng) -> T) -> T {
    #[cfg(test)]
    let f = match super::seeded::try_with(f) {
        Ok(out) => return out,
        Err(f) => f,
    };
    f(&mut rand::rng())
}

pub(super) fn fill_random(buf: &mut [u8]) {
    with_rng(|rng| rng.fill(buf));
}

fn oaep(label: &[u8]) -> Oaep<Sha256> {
    Oaep::<Sha256>::new_with_label(label.to_vec())
}

pub(crate) fn oaep_encrypt(
    key: &PublicKey,
    label: &[u8],
    msg: &[u8],
) -> Result<Vec<u8>, PrimitiveError> {
    with_rng(|rng| key.encrypt(rng, oaep(label), msg)).map_err(|_| PrimitiveError::Encrypt)
}

pub(crate) fn oaep_decrypt(
    key: &PrivateKey,
    label: &[u8],
    ct: &[u8],
) -> Result<Zeroizing<Vec<u8>>, PrimitiveError> {
    with_rng(|rng| key.decrypt_blinded(rng, oaep(label), ct))
        .map(Zeroizing::new)
        .map_err(|_| PrimitiveError::Decrypt)
}

pub(crate) fn pss_sign(key: &PrivateKey, msg: &[u8]) -> Result<Vec<u8>, PrimitiveError> {
    with_rng(|rng| key.pss_sign_with_rng::<Sha256, _>(rng, msg)).map_err(|_| PrimitiveError::Sign)
}

pub(crate) fn pss_verify(key: &PublicKey, msg: &[u8], sig: &[u8]) -> bool {
    key.pss_verify::<Sha256>(msg, sig).is_ok()
}

pub(super) fn aead(key: &[u8; AEAD_KEY_LEN]) -> Cipher {
    // From the slice: a `Key` array copied out of `key` would be a stack
    // copy of the key that nothing zeroizes.
    Aes256Gcm::new_from_slice(key).expect("a 32-byte key")
}

pub(super) fn seal_in_place(
    cipher: &Cipher,
    nonce: &[u8; AEAD_NONCE_LEN],
    aad: &[u8],
    buffer: &mut [u8],
) -> Result<[u8; AEAD_TAG_LEN], PrimitiveError> {
    cipher
        .encrypt_inout_detached(&Nonce::from(*nonce), aad, buffer.into())
        .map(Into::into)
        .map_err(|_| PrimitiveError::Seal)
}

pub(super) fn open_into(
    cipher: &Cipher,
    nonce: &[u8; AEAD_NONCE_LEN],
    aad: &[u8],
    ciphertext: &[u8],
    tag: &[u8; AEAD_TAG_LEN],
    out: &mut [u8],
) -> bool {
    let buffer = InOutBuf::new(ciphertext, out).expect("the output was sized to the input");
    cipher
        .decrypt_inout_detached(&Nonce::from(*nonce), aad, buffer, &Tag::from(*tag))
        .is_ok()
}

pub(super) fn open_in_place(
    cipher: &Cipher,
    nonce: &[u8; AEAD_NONCE_LEN],
    aad: &[u8],
    buffer: &mut [u8],
    tag: &[u8; AEAD_TAG_LEN],
) -> bool {
    cipher
        .decrypt_inout_detached(&Nonce::from(*nonce), aad, buffer.into(), &Tag::from(*tag))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::super::seeded::with_seeded_rng;

    fn draw() -> [u8; 32] {
        let mut buf = [0; 32];
        super::fill_random(&mut buf);
        buf
    }

    #[test]
    fn a_seed_fixes_the_bytes_and_only_inside_the_closure() {
        let first = with_seeded_rng(7, draw);
        assert_eq!(first, with_seeded_rng(7, draw));
        assert_ne!(first, with_seeded_rng(8, draw));
        // Outside, the system generator again.
        assert_ne!(draw(), first);
        assert_ne!(draw(), draw());
    }
}
