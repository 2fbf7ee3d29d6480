//! The one seam between CloakRoom and its cryptographic primitives.
//!
//! Envelope code calls only [`Active`]'s functions (RSA-OAEP, RSA-PSS,
//! AES-256-GCM, randomness, SHA-256, the BLAKE3 plaintext digest), so a second, faster backend can be added
//! as another [`Backend`] implementation and selected here, without touching
//! the envelope format or its checks.

use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce, Tag};
use rand::{CryptoRng, RngExt};
use rsa::traits::PublicKeyParts;
use rsa::{Oaep, PrivateKey, PublicKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::limits::{
    AEAD_KEY_LEN, AEAD_NONCE_LEN, AEAD_TAG_LEN, HASH_LEN, PLAINTEXT_DIGEST_CONTEXT,
};

/// A primitive failed. Carries no detail on purpose: callers on the open path
/// must treat every failure alike.
#[derive(Debug)]
pub(crate) struct PrimitiveError(pub(crate) String);

/// The primitive operations the envelope format is built from.
pub(crate) trait Backend {
    /// Fills `buf` from a cryptographically secure generator.
    fn fill_random(buf: &mut [u8]);
    /// SHA-256 of `data`.
    fn sha256(data: &[u8]) -> [u8; HASH_LEN];
    /// SHA-256 of the concatenation of `parts`, without copying them.
    fn sha256_parts(parts: &[&[u8]]) -> [u8; HASH_LEN];
    /// RSA-OAEP-SHA256 (MGF1-SHA256) encryption with `label`.
    fn oaep_encrypt(key: &PublicKey, label: &[u8], msg: &[u8]) -> Result<Vec<u8>, PrimitiveError>;
    /// RSA-OAEP-SHA256 decryption with `label`, blinded.
    fn oaep_decrypt(
        key: &PrivateKey,
        label: &[u8],
        ct: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, PrimitiveError>;
    /// RSA-PSS-SHA256 signature (salt length = hash length) over `msg`.
    fn pss_sign(key: &PrivateKey, msg: &[u8]) -> Result<Vec<u8>, PrimitiveError>;
    /// Whether `sig` is a valid RSA-PSS-SHA256 signature of `msg` by `key`.
    fn pss_verify(key: &PublicKey, msg: &[u8], sig: &[u8]) -> bool;
    /// An AES-256-GCM cipher keyed once for a whole stream.
    type Cipher: AeadCipher;
    /// Keys an AES-256-GCM cipher.
    fn aead(key: &[u8; AEAD_KEY_LEN]) -> Self::Cipher;
    /// The incremental plaintext digest (BLAKE3 in derive-key mode, with
    /// CloakRoom's own context string).
    type Hasher: Hasher;
    /// A fresh plaintext digest.
    fn hasher() -> Self::Hasher;
    /// The plaintext digest of `data` in one go.
    fn digest(data: &[u8]) -> [u8; HASH_LEN] {
        let mut hasher = Self::hasher();
        hasher.update(data);
        hasher.finish()
    }
    /// Modulus length of `key` in bytes.
    fn modulus_len(key: &PublicKey) -> usize;
}

/// AES-256-GCM under one key. A backend provides the two in-place
/// operations; sealing and opening into fresh buffers are built on them.
pub(crate) trait AeadCipher {
    /// Encrypts; returns ciphertext with the tag appended.
    fn seal(
        &self,
        nonce: &[u8; AEAD_NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, PrimitiveError> {
        let mut sealed = Vec::with_capacity(plaintext.len() + AEAD_TAG_LEN);
        sealed.extend_from_slice(plaintext);
        let tag = self.seal_in_place(nonce, aad, &mut sealed)?;
        sealed.extend_from_slice(&tag);
        Ok(sealed)
    }
    /// Decrypts; `None` on any authentication failure.
    fn open(
        &self,
        nonce: &[u8; AEAD_NONCE_LEN],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Option<Zeroizing<Vec<u8>>> {
        let mut plaintext = Zeroizing::new(Vec::new());
        self.open_into(nonce, aad, ciphertext, &mut plaintext)
            .then_some(plaintext)
    }
    /// Encrypts `buffer` in place and returns the tag, so a sender can
    /// read plaintext straight into its outgoing frame and seal it there.
    fn seal_in_place(
        &self,
        nonce: &[u8; AEAD_NONCE_LEN],
        aad: &[u8],
        buffer: &mut [u8],
    ) -> Result<[u8; AEAD_TAG_LEN], PrimitiveError>;
    /// Decrypts `sealed` into `out` (replacing its contents), leaving
    /// `sealed` as received; `false` on any authentication failure, leaving
    /// `out` unspecified. The tag is checked before anything is decrypted.
    fn open_into(
        &self,
        nonce: &[u8; AEAD_NONCE_LEN],
        aad: &[u8],
        sealed: &[u8],
        out: &mut Vec<u8>,
    ) -> bool;
}

/// An incremental 256-bit digest.
pub(crate) trait Hasher {
    /// Absorbs `data`.
    fn update(&mut self, data: &[u8]);
    /// The digest.
    fn finish(self) -> [u8; HASH_LEN];
}

/// The pure-Rust RustCrypto backend (constant-time RSA from rsa 0.10).
pub(crate) struct RustCrypto;

/// The backend in use.
pub(crate) type Active = RustCrypto;

/// The generator behind every random byte the backend uses (keys, ids,
/// nonces, OAEP seeds, PSS salts, blinding): the OS-seeded thread generator.
/// Test builds alone can swap in a seeded one (`seeded::with_seeded_rng`),
/// so that a sealed known-answer vector can be reproduced byte for byte.
fn with_rng<T>(f: impl FnOnce(&mut dyn CryptoRng) -> T) -> T {
    #[cfg(test)]
    let f = match seeded::try_with(f) {
        Ok(out) => return out,
        Err(f) => f,
    };
    f(&mut rand::rng())
}

fn oaep(label: &[u8]) -> Oaep<Sha256> {
    Oaep::<Sha256>::new_with_label(label.to_vec())
}

impl Backend for RustCrypto {
    fn fill_random(buf: &mut [u8]) {
        // ThreadRng is a ChaCha12 CSPRNG seeded and periodically reseeded
        // from the operating system.
        with_rng(|rng| rng.fill(buf));
    }

    fn sha256(data: &[u8]) -> [u8; HASH_LEN] {
        Sha256::digest(data).into()
    }

    fn sha256_parts(parts: &[&[u8]]) -> [u8; HASH_LEN] {
        let mut hash = Sha256::new();
        for part in parts {
            hash.update(part);
        }
        hash.finalize().into()
    }

    fn oaep_encrypt(key: &PublicKey, label: &[u8], msg: &[u8]) -> Result<Vec<u8>, PrimitiveError> {
        with_rng(|rng| key.encrypt(rng, oaep(label), msg))
            .map_err(|e| PrimitiveError(e.to_string()))
    }

    fn oaep_decrypt(
        key: &PrivateKey,
        label: &[u8],
        ct: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, PrimitiveError> {
        with_rng(|rng| key.decrypt_blinded(rng, oaep(label), ct))
            .map(Zeroizing::new)
            .map_err(|_| PrimitiveError("decryption failed".into()))
    }

    fn pss_sign(key: &PrivateKey, msg: &[u8]) -> Result<Vec<u8>, PrimitiveError> {
        with_rng(|rng| key.pss_sign_with_rng::<Sha256, _>(rng, msg))
            .map_err(|e| PrimitiveError(e.to_string()))
    }

    fn pss_verify(key: &PublicKey, msg: &[u8], sig: &[u8]) -> bool {
        key.pss_verify::<Sha256>(msg, sig).is_ok()
    }

    type Cipher = Aes256Gcm;

    fn aead(key: &[u8; AEAD_KEY_LEN]) -> Aes256Gcm {
        Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key))
    }

    type Hasher = blake3::Hasher;

    fn hasher() -> blake3::Hasher {
        // BLAKE3 rather than SHA-256 for the (possibly huge) plaintext:
        // measured here at ~5 GB/s against SHA-256's ~1.2 GB/s, it was over
        // half the crypto time per byte of a stream. The derive-key context
        // separates it from any other use of BLAKE3.
        blake3::Hasher::new_derive_key(PLAINTEXT_DIGEST_CONTEXT)
    }

    fn modulus_len(key: &PublicKey) -> usize {
        key.size()
    }
}

impl AeadCipher for Aes256Gcm {
    fn seal_in_place(
        &self,
        nonce: &[u8; AEAD_NONCE_LEN],
        aad: &[u8],
        buffer: &mut [u8],
    ) -> Result<[u8; AEAD_TAG_LEN], PrimitiveError> {
        self.encrypt_inout_detached(&Nonce::from(*nonce), aad, buffer.into())
            .map(Into::into)
            .map_err(|_| PrimitiveError("AES-GCM encryption failed".into()))
    }

    fn open_into(
        &self,
        nonce: &[u8; AEAD_NONCE_LEN],
        aad: &[u8],
        sealed: &[u8],
        out: &mut Vec<u8>,
    ) -> bool {
        let Some(split) = sealed.len().checked_sub(AEAD_TAG_LEN) else {
            return false;
        };
        let (ciphertext, tag) = sealed.split_at(split);
        // No `clear` first: a buffer reused for chunks of one size is not
        // re-filled with zeros each time, only overwritten.
        out.resize(ciphertext.len(), 0);
        let buffer =
            InOutBuf::new(ciphertext, &mut out[..]).expect("the output was sized to the input");
        let tag = Tag::try_from(tag).expect("the tag was split at its length");
        self.decrypt_inout_detached(&Nonce::from(*nonce), aad, buffer, &tag)
            .is_ok()
    }
}

impl Hasher for blake3::Hasher {
    fn update(&mut self, data: &[u8]) {
        blake3::Hasher::update(self, data);
    }

    fn finish(self) -> [u8; HASH_LEN] {
        self.finalize().into()
    }
}

#[cfg(test)]
pub(crate) mod seeded;
#[cfg(test)]
mod tests;
