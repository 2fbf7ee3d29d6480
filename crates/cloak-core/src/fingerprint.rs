//! Key fingerprints: SHA-256 of the SubjectPublicKeyInfo DER encoding, shown
//! as `SHA256:<base64>` like OpenSSH, so the same key has the same
//! fingerprint whether its file is PKCS#1 or PKCS#8/SPKI.

use std::fmt;

use base64ct::{Base64Unpadded, Encoding};

use crate::limits::HASH_LEN;

/// The SHA-256 fingerprint of a public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, bincode::Encode, bincode::Decode)]
pub struct Fingerprint(pub [u8; HASH_LEN]);

impl Fingerprint {
    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; HASH_LEN] {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SHA256:{}", Base64Unpadded::encode_string(&self.0))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for Fingerprint {
    type Err = ParseFingerprintError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b64 = s.strip_prefix("SHA256:").ok_or(ParseFingerprintError)?;
        let mut out = [0u8; HASH_LEN];
        let decoded = Base64Unpadded::decode(b64, &mut out).map_err(|_| ParseFingerprintError)?;
        if decoded.len() != HASH_LEN {
            return Err(ParseFingerprintError);
        }
        Ok(Fingerprint(out))
    }
}

/// A string was not of the form `SHA256:<43 base64 characters>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a fingerprint: expected SHA256:<base64 of 32 bytes>")]
pub struct ParseFingerprintError;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_parses_back() {
        let fp = Fingerprint([7u8; HASH_LEN]);
        let s = fp.to_string();
        assert!(s.starts_with("SHA256:"));
        assert_eq!(s.len(), 7 + 43);
        assert_eq!(s.parse::<Fingerprint>().unwrap(), fp);
        assert!("SHA256:abc".parse::<Fingerprint>().is_err());
        assert!("MD5:abc".parse::<Fingerprint>().is_err());
    }
}
