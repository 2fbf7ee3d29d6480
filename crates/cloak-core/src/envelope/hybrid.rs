//! Hybrid mode (Part 2): a fresh AES-256-GCM key per envelope, wrapped with
//! RSA-OAEP-SHA256 to the recipient; the encoded inner message (signature
//! included) is encrypted under it with the cleartext header, the wrapped key
//! and the nonce as associated data.

use zeroize::Zeroizing;

use super::wire::{Body, Header};
use crate::backend::{Active, Backend};
use crate::codec;
use crate::error::SealError;
use crate::keys::{KeyPair, PublicKey};
use crate::limits::{AEAD_KEY_LEN, AEAD_NONCE_LEN, HYBRID_KEY_WRAP_LABEL};

/// A fresh message key and its wrapping to the recipient.
pub(crate) struct MessageKey {
    key: Zeroizing<[u8; AEAD_KEY_LEN]>,
    pub wrapped: Vec<u8>,
}

impl MessageKey {
    pub fn generate(recipient: &PublicKey) -> Result<Self, SealError> {
        let mut key = Zeroizing::new([0u8; AEAD_KEY_LEN]);
        Active::fill_random(key.as_mut());
        let wrapped = Active::oaep_encrypt(recipient.rsa(), HYBRID_KEY_WRAP_LABEL, key.as_ref())
            .map_err(|e| SealError::Crypto(e.0))?;
        Ok(MessageKey { key, wrapped })
    }
}

fn associated_data(header: &Header, wrapped_key: &[u8], nonce: &[u8; AEAD_NONCE_LEN]) -> Vec<u8> {
    codec::encode(&(header, wrapped_key, nonce))
}

pub(crate) fn encrypt(header: &Header, key: MessageKey, inner: &[u8]) -> Result<Body, SealError> {
    // A random 96-bit nonce is safe here because every key encrypts exactly
    // one message; it is random rather than zero only as defence in depth.
    let mut nonce = [0u8; AEAD_NONCE_LEN];
    Active::fill_random(&mut nonce);
    let aad = associated_data(header, &key.wrapped, &nonce);
    let ciphertext =
        Active::aead_seal(&key.key, &nonce, &aad, inner).map_err(|e| SealError::Crypto(e.0))?;
    Ok(Body::Hybrid {
        wrapped_key: key.wrapped,
        nonce,
        ciphertext,
    })
}

/// Unwraps the key and decrypts, or returns `None`.
///
/// If the key does not unwrap, decryption proceeds with a random key (which
/// then fails authentication), so a bad OAEP block and a bad AES-GCM tag take
/// the same path and cannot be told apart (no Manger-style padding oracle).
pub(crate) fn decrypt(
    recipient: &KeyPair,
    header: &Header,
    wrapped_key: &[u8],
    nonce: &[u8; AEAD_NONCE_LEN],
    ciphertext: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    let mut key = Zeroizing::new([0u8; AEAD_KEY_LEN]);
    Active::fill_random(key.as_mut());
    let modulus_len = Active::modulus_len(recipient.public().rsa());
    if wrapped_key.len() == modulus_len
        && let Ok(unwrapped) =
            Active::oaep_decrypt(recipient.rsa(), HYBRID_KEY_WRAP_LABEL, wrapped_key)
        && unwrapped.len() == AEAD_KEY_LEN
    {
        key.copy_from_slice(&unwrapped);
    }
    let aad = associated_data(header, wrapped_key, nonce);
    Active::aead_open(&key, nonce, &aad, ciphertext)
}
