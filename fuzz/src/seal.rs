//! What any sender can do with nothing but the recipient's public key:
//! wrap a message key of its choosing, seal stream chunks under it, and
//! encrypt asymmetric blocks (docs/PROTOCOL.md §3.3, §3.4). Inputs built so
//! pass the checks that arbitrary bytes never pass (a key that unwraps, a
//! tag that verifies, OAEP padding), so the fuzzer also reaches what lies
//! behind them: the trailer and inner encodings, the plaintext length, the
//! freshness and the signature check. Only the signature stays out of
//! reach, as it must.

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use cloak_core::limits::{
    AEAD_KEY_LEN, AEAD_NONCE_LEN, AEAD_TAG_LEN, ASYMMETRIC_BLOCK_LABEL, HASH_LEN,
    HYBRID_KEY_WRAP_LABEL,
};
use rsa::{Oaep, PublicKey};
use sha2::{Digest, Sha256};

/// RSA-OAEP-SHA256 of `message` to `key` with `label`; `None` when the
/// message is too long for one block.
pub fn oaep_encrypt(key: &PublicKey, label: &[u8], message: &[u8]) -> Option<Vec<u8>> {
    let padding = Oaep::<Sha256>::new_with_label(label.to_vec());
    key.encrypt(&mut rand::rng(), padding, message).ok()
}

/// A message key wrapped to `key`, as a hybrid sender wraps it.
pub fn wrap_key(key: &PublicKey, message_key: &[u8; AEAD_KEY_LEN]) -> Vec<u8> {
    oaep_encrypt(key, HYBRID_KEY_WRAP_LABEL, message_key).expect("a key fits any RSA block")
}

/// The OAEP label of asymmetric block `index` of `count`.
pub fn block_label(index: u32, count: u32) -> Vec<u8> {
    let mut label = ASYMMETRIC_BLOCK_LABEL.to_vec();
    label.extend_from_slice(&index.to_be_bytes());
    label.extend_from_slice(&count.to_be_bytes());
    label
}

/// The AES-256-GCM key of one stream and its associated data (the
/// SHA-256 of the encoded stream head).
pub struct StreamKey {
    cipher: Aes256Gcm,
    aad: [u8; HASH_LEN],
}

impl StreamKey {
    /// The key of the stream whose encoded head is `head`.
    pub fn new(key: &[u8; AEAD_KEY_LEN], head: &[u8]) -> Self {
        StreamKey {
            cipher: Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key)),
            aad: Sha256::digest(head).into(),
        }
    }

    /// `plaintext` sealed as chunk `counter`, the final one if `last`.
    pub fn seal(&self, counter: u64, last: bool, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; AEAD_NONCE_LEN];
        nonce[3..11].copy_from_slice(&counter.to_be_bytes());
        nonce[11] = u8::from(last);
        let mut sealed = plaintext.to_vec();
        let tag: [u8; AEAD_TAG_LEN] = self
            .cipher
            .encrypt_inout_detached(&Nonce::from(nonce), &self.aad, sealed.as_mut_slice().into())
            .expect("AES-GCM seals any chunk a frame holds")
            .into();
        sealed.extend_from_slice(&tag);
        sealed
    }
}
