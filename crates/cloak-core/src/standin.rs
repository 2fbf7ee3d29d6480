//! Signature checks whose cost depends only on the signature's length.
//!
//! A server that checks a signature only for keys it knows, or checks a
//! signature that cannot be valid more cheaply than one that might be,
//! tells anyone timing it which keys it authorizes. The RSA backend returns
//! early, before its modular exponentiation, when a signature is not as
//! long as the key's modulus or is not below it; and a key the server does
//! not know has no modulus at all. So [`pss_verify`] does the one public-key
//! operation of the signature's length in every case: with the key when
//! the signature has the shape to be valid for it, otherwise with a
//! stand-in key of that length (one per supported size, public keys whose
//! private halves were thrown away when they were made), and answers
//! `false` for those.

use std::path::Path;
use std::sync::OnceLock;

use rsa::traits::PublicKeyParts;

use crate::keys::PublicKey;
use crate::primitives;

/// The stand-in keys, 2048, 3072 and 4096 bits.
const STANDINS: [&str; 3] = [
    include_str!("standin/rsa2048.pem"),
    include_str!("standin/rsa3072.pem"),
    include_str!("standin/rsa4096.pem"),
];

/// The stand-in whose modulus is `len` bytes, if that is a supported size.
fn standin(len: usize) -> Option<&'static PublicKey> {
    static KEYS: OnceLock<Vec<PublicKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        STANDINS
            .iter()
            .map(|pem| PublicKey::from_pem(pem, Path::new("stand-in")).expect("built-in key"))
            .collect()
    })
    .iter()
    .find(|key| key.modulus_len() == len)
}

/// Whether `sig` could be a signature by `key` at all: as long as its
/// modulus, and below it (both big-endian, so the byte order is the
/// numeric order). Only public values are compared.
fn in_range(key: &PublicKey, sig: &[u8]) -> bool {
    let modulus = key.rsa().n_bytes();
    modulus.len() == sig.len() && sig < &modulus[..]
}

/// Whether `sig` is `key`'s RSA-PSS-SHA256 signature of `msg`, at the cost
/// of one public-key operation on `sig.len()` bytes whatever `key` is,
/// whether there is one (`None`: the signer is unknown), and whatever the
/// signature holds. (A length no supported key has costs nothing, in every
/// case alike.)
pub(crate) fn pss_verify(key: Option<&PublicKey>, msg: &[u8], sig: &[u8]) -> bool {
    match key.filter(|key| in_range(key, sig)) {
        Some(key) => primitives::pss_verify(key, msg, sig),
        None => {
            if let Some(standin) = standin(sig.len()) {
                // Below any modulus of this length, so the operation runs.
                let mut dummy = sig.to_vec();
                dummy[0] = 0;
                let _ = primitives::pss_verify(standin, msg, &dummy);
            }
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stand_in_for_every_supported_size() {
        for (len, bits) in [(256, 2048), (384, 3072), (512, 4096)] {
            assert_eq!(standin(len).map(|k| k.bits()), Some(bits));
        }
        assert!(standin(300).is_none());
    }

    #[test]
    fn only_a_real_signature_by_the_key_verifies() {
        let key = crate::KeyPair::generate(2048).unwrap();
        let sig = primitives::pss_sign(&key, b"msg").unwrap();
        assert!(pss_verify(Some(key.public()), b"msg", &sig));
        assert!(!pss_verify(Some(key.public()), b"other", &sig));
        assert!(!pss_verify(None, b"msg", &sig));
        assert!(!pss_verify(Some(key.public()), b"msg", &[0xff; 256]));
        assert!(!pss_verify(Some(key.public()), b"msg", &sig[1..]));
        assert!(!pss_verify(standin(256), b"msg", &sig));
    }
}
