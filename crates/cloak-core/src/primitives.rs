//! RSA with CloakRoom's keys: RSA-OAEP-SHA256 and RSA-PSS-SHA256, each run
//! on the backend its key was parsed for (see [`crate::backend`]). Public
//! for conformance vectors and benchmarks; a protocol is built from
//! [`crate::envelope`] and [`crate::session`], never from these.

use zeroize::Zeroizing;

use crate::backend::{self, PrimitiveError};
use crate::keys::{KeyPair, PublicKey};

/// RSA-OAEP-SHA256 (MGF1-SHA256) encryption with `label`.
pub fn oaep_encrypt(key: &PublicKey, label: &[u8], msg: &[u8]) -> Result<Vec<u8>, PrimitiveError> {
    #[cfg(feature = "aws-lc")]
    if let Some(key) = key.aws_lc() {
        return backend::aws_lc::oaep_encrypt(key, label, msg);
    }
    backend::rust_crypto::oaep_encrypt(key.rsa(), label, msg)
}

/// RSA-OAEP-SHA256 decryption with `label`, blinded. One error for every
/// failure.
pub fn oaep_decrypt(
    key: &KeyPair,
    label: &[u8],
    ct: &[u8],
) -> Result<Zeroizing<Vec<u8>>, PrimitiveError> {
    #[cfg(feature = "aws-lc")]
    if let Some(key) = key.aws_lc() {
        return backend::aws_lc::oaep_decrypt(key, label, ct);
    }
    backend::rust_crypto::oaep_decrypt(key.rsa(), label, ct)
}

/// RSA-PSS-SHA256 signature (salt length = hash length) over `msg`.
pub fn pss_sign(key: &KeyPair, msg: &[u8]) -> Result<Vec<u8>, PrimitiveError> {
    #[cfg(feature = "aws-lc")]
    if let Some(key) = key.aws_lc() {
        return backend::aws_lc::pss_sign(key, msg);
    }
    backend::rust_crypto::pss_sign(key.rsa(), msg)
}

/// Whether `sig` is a valid RSA-PSS-SHA256 signature (salt length = hash
/// length) of `msg` by `key`.
pub fn pss_verify(key: &PublicKey, msg: &[u8], sig: &[u8]) -> bool {
    #[cfg(feature = "aws-lc")]
    if let Some(key) = key.aws_lc() {
        return backend::aws_lc::pss_verify(key, msg, sig);
    }
    backend::rust_crypto::pss_verify(key.rsa(), msg, sig)
}

#[cfg(all(test, feature = "aws-lc"))]
mod tests {
    use crate::Backend;
    use crate::backend::sha256;

    /// A fingerprint is SHA-256 of the key's SubjectPublicKeyInfo as the
    /// rsa crate encodes it; aws-lc encodes the same bytes, so a key has
    /// one fingerprint whichever backend read it.
    #[test]
    fn aws_lc_encodes_the_public_key_the_fingerprint_hashes() {
        let key = crate::test_keys::keys().s.with_backend(Backend::AwsLc);
        let der = key.public().aws_lc().unwrap().spki_der();
        assert_eq!(crate::Fingerprint(sha256(&der)), key.fingerprint());
    }
}
