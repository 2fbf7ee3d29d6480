//! The aws-lc-rs backend (cargo feature `aws-lc`): RSA and AES-256-GCM
//! from aws-lc, the library rustls uses by default.
//!
//! aws-lc blinds every RSA private-key operation and runs its modular
//! arithmetic in constant time; RSA-PSS uses a salt of the digest's length
//! both ways, as the RustCrypto backend does. Keys are parsed once, when a
//! key is loaded, from the DER the `rsa` crate decoded (so both backends
//! read the same files the same way, and fingerprints never depend on the
//! backend); aws-lc frees and clears its copy of a private key on drop.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{
    OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, OaepPublicEncryptingKey,
    PrivateDecryptingKey, PublicEncryptingKey,
};
use aws_lc_rs::signature::{self, ParsedPublicKey, RsaKeyPair};
use std::sync::Arc;

use zeroize::Zeroizing;

use super::primitive_error::PrimitiveError;
use crate::limits::{AEAD_KEY_LEN, AEAD_NONCE_LEN, AEAD_TAG_LEN};

/// AES-256-GCM keyed once.
pub(crate) type Cipher = LessSafeKey;

/// A private key parsed by aws-lc, for decryption and for signing.
pub(crate) struct PrivateKey {
    decrypting: OaepPrivateDecryptingKey,
    signing: RsaKeyPair,
}

impl PrivateKey {
    /// Parses PKCS#8 DER; `None` if aws-lc refuses the key.
    pub(crate) fn from_pkcs8(der: &[u8]) -> Option<Self> {
        let decrypting = PrivateDecryptingKey::from_pkcs8(der).ok()?;
        Some(PrivateKey {
            decrypting: OaepPrivateDecryptingKey::new(decrypting).ok()?,
            signing: RsaKeyPair::from_pkcs8(der).ok()?,
        })
    }
}

/// A public key parsed by aws-lc, for encryption and for verification.
#[derive(Clone)]
pub(crate) struct PublicKey {
    // Shared: aws-lc's OAEP key type cannot be cloned.
    encrypting: Arc<OaepPublicEncryptingKey>,
    verifying: ParsedPublicKey,
}

impl PublicKey {
    /// Parses SubjectPublicKeyInfo DER; `None` if aws-lc refuses the key.
    pub(crate) fn from_spki(der: &[u8]) -> Option<Self> {
        let encrypting = PublicEncryptingKey::from_der(der).ok()?;
        Some(PublicKey {
            encrypting: Arc::new(OaepPublicEncryptingKey::new(encrypting).ok()?),
            verifying: ParsedPublicKey::new(&signature::RSA_PSS_2048_8192_SHA256, der).ok()?,
        })
    }

    /// The SubjectPublicKeyInfo DER as aws-lc encodes it (for the test that
    /// fingerprints agree across backends).
    #[cfg(test)]
    pub(crate) fn spki_der(&self) -> Vec<u8> {
        use aws_lc_rs::encoding::AsDer;
        self.verifying.as_der().unwrap().as_ref().to_vec()
    }
}

pub(crate) fn oaep_encrypt(
    key: &PublicKey,
    label: &[u8],
    msg: &[u8],
) -> Result<Vec<u8>, PrimitiveError> {
    let mut out = vec![0; key.encrypting.ciphertext_size()];
    let len = key
        .encrypting
        .encrypt(&OAEP_SHA256_MGF1SHA256, msg, &mut out, Some(label))
        .map_err(|_| PrimitiveError::Encrypt)?
        .len();
    out.truncate(len);
    Ok(out)
}

pub(crate) fn oaep_decrypt(
    key: &PrivateKey,
    label: &[u8],
    ct: &[u8],
) -> Result<Zeroizing<Vec<u8>>, PrimitiveError> {
    let mut out = Zeroizing::new(vec![0; key.decrypting.min_output_size()]);
    let len = key
        .decrypting
        .decrypt(&OAEP_SHA256_MGF1SHA256, ct, &mut out, Some(label))
        .map_err(|_| PrimitiveError::Decrypt)?
        .len();
    out.truncate(len);
    Ok(out)
}

pub(crate) fn pss_sign(key: &PrivateKey, msg: &[u8]) -> Result<Vec<u8>, PrimitiveError> {
    let mut sig = vec![0; key.signing.public_modulus_len()];
    key.signing
        .sign(
            &signature::RSA_PSS_SHA256,
            &SystemRandom::new(),
            msg,
            &mut sig,
        )
        .map_err(|_| PrimitiveError::Sign)?;
    Ok(sig)
}

pub(crate) fn pss_verify(key: &PublicKey, msg: &[u8], sig: &[u8]) -> bool {
    key.verifying.verify_sig(msg, sig).is_ok()
}

pub(super) fn aead(key: &[u8; AEAD_KEY_LEN]) -> Cipher {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).expect("a 32-byte key"))
}

pub(super) fn seal_in_place(
    cipher: &Cipher,
    nonce: &[u8; AEAD_NONCE_LEN],
    aad: &[u8],
    buffer: &mut [u8],
) -> Result<[u8; AEAD_TAG_LEN], PrimitiveError> {
    let tag = cipher
        .seal_in_place_separate_tag(Nonce::from(nonce), Aad::from(aad), buffer)
        .map_err(|_| PrimitiveError::Seal)?;
    Ok(tag.as_ref().try_into().expect("a 16-byte tag"))
}

pub(super) fn open_into(
    cipher: &Cipher,
    nonce: &[u8; AEAD_NONCE_LEN],
    aad: &[u8],
    ciphertext: &[u8],
    tag: &[u8; AEAD_TAG_LEN],
    out: &mut [u8],
) -> bool {
    cipher
        .open_separate_gather(Nonce::from(nonce), Aad::from(aad), ciphertext, tag, out)
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
        .open_in_place_separate_tag(Nonce::from(nonce), Aad::from(aad), tag, buffer)
        .is_ok()
}
