//! The one seam between CloakRoom and its cryptographic primitives.
//!
//! Two backends implement RSA-OAEP, RSA-PSS and AES-256-GCM: the pure-Rust
//! RustCrypto crates (`rsa`, `aes-gcm`; always built, the default) and,
//! with the cargo feature `aws-lc`, aws-lc-rs (the default when built in).
//! As rustls lets each configuration name its crypto provider, each key
//! carries the backend it was parsed for ([`crate::KeyPair::with_backend`]):
//! an RSA operation runs on its key's backend, and a symmetric key on the
//! backend of the RSA key that wrapped it. Both backends can therefore run
//! side by side in one process, which is how their interoperability is
//! tested; nothing outside this module and the key types knows which runs.
//!
//! Randomness, SHA-256, HMAC-SHA256 and the BLAKE3 plaintext digest are
//! the same for both: they are not where the time goes (RSA and AES-GCM
//! are), and one implementation of each keeps the formats' hashes
//! identical by construction.
//!
//! The primitives (these, and the RSA ones of [`crate::primitives`]) are
//! public so that conformance vectors (Wycheproof) and benchmarks run
//! against exactly what the envelopes call; a protocol is built from
//! [`crate::envelope`] and [`crate::session`], never from them.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

#[cfg(feature = "aws-lc")]
pub(crate) mod aws_lc;
mod primitive_error;
pub(crate) mod rust_crypto;
#[cfg(test)]
pub(crate) mod seeded;

pub use primitive_error::PrimitiveError;

use crate::limits::{
    AEAD_KEY_LEN, AEAD_NONCE_LEN, AEAD_TAG_LEN, HASH_LEN, PLAINTEXT_DIGEST_CONTEXT,
};

/// A crypto backend: which library performs a key's RSA operations and the
/// AES-256-GCM of the messages that key wraps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// The pure-Rust `rsa` and `aes-gcm` crates (constant-time RSA from
    /// rsa 0.10, blinded private-key operations).
    RustCrypto,
    /// aws-lc-rs, AWS's fork of BoringSSL (blinded, constant-time RSA;
    /// hardware AES-GCM). Built only with the cargo feature `aws-lc`.
    #[cfg(feature = "aws-lc")]
    AwsLc,
}

impl Default for Backend {
    /// The fastest backend built in.
    fn default() -> Self {
        #[cfg(feature = "aws-lc")]
        return Backend::AwsLc;
        #[cfg(not(feature = "aws-lc"))]
        Backend::RustCrypto
    }
}

impl Backend {
    /// Every backend built into this program.
    pub const ALL: &'static [Backend] = &[
        Backend::RustCrypto,
        #[cfg(feature = "aws-lc")]
        Backend::AwsLc,
    ];

    /// A short name for logs and `--version`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::RustCrypto => "RustCrypto (rsa, aes-gcm)",
            #[cfg(feature = "aws-lc")]
            Backend::AwsLc => "aws-lc-rs",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Fills `buf` from a cryptographically secure generator.
pub fn fill_random(buf: &mut [u8]) {
    rust_crypto::fill_random(buf);
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; HASH_LEN] {
    Sha256::digest(data).into()
}

/// SHA-256 of the concatenation of `parts`, without copying them.
pub fn sha256_parts(parts: &[&[u8]]) -> [u8; HASH_LEN] {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part);
    }
    hash.finalize().into()
}

/// A fresh incremental plaintext digest. BLAKE3 rather than SHA-256 for the
/// (possibly huge) plaintext: measured here at ~5 GB/s against SHA-256's
/// ~1.2 GB/s, it was over half the crypto time per byte of a stream. The
/// derive-key context separates it from any other use of BLAKE3.
pub fn hasher() -> blake3::Hasher {
    blake3::Hasher::new_derive_key(PLAINTEXT_DIGEST_CONTEXT)
}

/// The plaintext digest of `data` in one go.
pub fn digest(data: &[u8]) -> [u8; HASH_LEN] {
    hasher().update(data).finalize().into()
}

/// HMAC-SHA256 of the concatenation of `parts` under `key`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; HASH_LEN] {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Whether `tag` is the HMAC-SHA256 of `msg` under `key`, compared in
/// constant time.
pub fn hmac_sha256_verify(key: &[u8], msg: &[u8], tag: &[u8]) -> bool {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(msg);
    mac.verify_slice(tag).is_ok()
}

/// An AES-256-GCM cipher keyed once (for a whole stream) on `backend`.
pub fn aead(backend: Backend, key: &[u8; AEAD_KEY_LEN]) -> Cipher {
    match backend {
        Backend::RustCrypto => Cipher::RustCrypto(Box::new(rust_crypto::aead(key))),
        #[cfg(feature = "aws-lc")]
        Backend::AwsLc => Cipher::AwsLc(aws_lc::aead(key)),
    }
}

/// AES-256-GCM under one key, on one backend.
pub enum Cipher {
    /// The `aes-gcm` crate's cipher.
    RustCrypto(Box<rust_crypto::Cipher>),
    /// aws-lc's.
    #[cfg(feature = "aws-lc")]
    AwsLc(aws_lc::Cipher),
}

impl Cipher {
    /// Encrypts; returns ciphertext with the tag appended.
    pub fn seal(
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
    pub fn open(
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
    pub fn seal_in_place(
        &self,
        nonce: &[u8; AEAD_NONCE_LEN],
        aad: &[u8],
        buffer: &mut [u8],
    ) -> Result<[u8; AEAD_TAG_LEN], PrimitiveError> {
        match self {
            Cipher::RustCrypto(cipher) => rust_crypto::seal_in_place(cipher, nonce, aad, buffer),
            #[cfg(feature = "aws-lc")]
            Cipher::AwsLc(cipher) => aws_lc::seal_in_place(cipher, nonce, aad, buffer),
        }
    }

    /// Decrypts `sealed` (ciphertext then tag) where it lies; the length of
    /// the plaintext now at its start, or `None` on any authentication
    /// failure, with the ciphertext zeroed (nothing unauthenticated is left
    /// behind). For a relay that re-seals in the same buffer.
    pub fn open_in_place(
        &self,
        nonce: &[u8; AEAD_NONCE_LEN],
        aad: &[u8],
        sealed: &mut [u8],
    ) -> Option<usize> {
        let split = sealed.len().checked_sub(AEAD_TAG_LEN)?;
        let (ciphertext, tag) = sealed.split_at_mut(split);
        let tag: &[u8; AEAD_TAG_LEN] = (&*tag).try_into().expect("split at the tag length");
        let ok = match self {
            Cipher::RustCrypto(cipher) => {
                rust_crypto::open_in_place(cipher, nonce, aad, ciphertext, tag)
            }
            #[cfg(feature = "aws-lc")]
            Cipher::AwsLc(cipher) => aws_lc::open_in_place(cipher, nonce, aad, ciphertext, tag),
        };
        if !ok {
            ciphertext.fill(0);
        }
        ok.then_some(split)
    }

    /// Decrypts `sealed` (ciphertext then tag) into `out`, replacing its
    /// contents and leaving `sealed` as received; `false` on any
    /// authentication failure, with `out` zeroed: nothing decrypted is
    /// released unless the tag verified.
    pub fn open_into(
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
        let tag: &[u8; AEAD_TAG_LEN] = tag.try_into().expect("split at the tag length");
        // No `clear` first: a buffer reused for chunks of one size is not
        // re-filled with zeros each time, only overwritten.
        out.resize(ciphertext.len(), 0);
        let ok = match self {
            Cipher::RustCrypto(cipher) => {
                rust_crypto::open_into(cipher, nonce, aad, ciphertext, tag, out)
            }
            #[cfg(feature = "aws-lc")]
            Cipher::AwsLc(cipher) => aws_lc::open_into(cipher, nonce, aad, ciphertext, tag, out),
        };
        if !ok {
            // aws-lc decrypts before it compares the tag: whatever the
            // backend, never leave unauthenticated plaintext behind, even
            // in a buffer the caller is told not to read.
            out.fill(0);
        }
        ok
    }
}
