//! Keys derived from a message key for another use: a stream's chunks and
//! its sender proof are sealed under different keys, so they never share a
//! nonce space.

use zeroize::Zeroizing;

use crate::backend;
use crate::limits::HASH_LEN;

/// HKDF-Expand (RFC 5869 §2.3) with SHA-256, for one 32-byte output:
/// HMAC-SHA256(`prk`, `info` ‖ 0x01). `prk` must already be a uniformly
/// random key (a fresh message key is), which is why the Extract step is
/// not needed.
pub(crate) fn expand(prk: &[u8; HASH_LEN], info: &[u8]) -> Zeroizing<[u8; HASH_LEN]> {
    Zeroizing::new(backend::hmac_sha256(prk, &[info, &[1]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 5869 test case 1, Expand step only (its PRK and info), first 32
    /// of its 42 bytes of OKM: the first block is HMAC(PRK, info ‖ 0x01).
    #[test]
    fn matches_the_rfc_5869_test_vector() {
        let prk: [u8; 32] = hex("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5");
        let info = hex::<10>("f0f1f2f3f4f5f6f7f8f9");
        let okm = hex::<32>("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf");
        assert_eq!(*expand(&prk, &info), okm);
    }

    #[test]
    fn another_info_gives_another_key() {
        let prk = [7u8; 32];
        assert_ne!(*expand(&prk, b"a"), *expand(&prk, b"b"));
    }

    fn hex<const N: usize>(s: &str) -> [u8; N] {
        let bytes: Vec<u8> = (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect();
        bytes.try_into().unwrap()
    }
}
