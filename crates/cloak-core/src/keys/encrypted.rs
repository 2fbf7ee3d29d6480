//! Passphrase-protected private keys: PKCS#8 `ENCRYPTED PRIVATE KEY`
//! (PBES2, RFC 8018), as `openssl pkcs8 -topk8 -v2 aes-256-cbc` and ssh-keygen
//! style tools write them, so that a copied key file is useless without
//! its passphrase.
//!
//! Reading accepts PBES2 with PBKDF2-HMAC-SHA2 or scrypt and AES-CBC or
//! AES-GCM, after checking the work the file declares against a cap: the
//! parameters are the file's own, so a hostile file could otherwise ask for
//! hours of hashing or gigabytes of memory. Writing uses scrypt with fixed
//! parameters and AES-256-CBC, which openssl reads back.

use std::path::Path;

use pkcs8::der::Decode;
use pkcs8::der::pem::{self, LineEnding};
use pkcs8::pkcs5::pbes2::{self, Kdf};
use pkcs8::pkcs5::{EncryptionScheme, scrypt};
use pkcs8::{EncryptedPrivateKeyInfoRef, PrivateKeyInfoRef};
use zeroize::Zeroizing;

use crate::backend;
use crate::error::KeyError;

/// scrypt's cost N for the keys we write, 2^14: OpenSSL 3 refuses to
/// spend more than 32 MiB on a PKCS#8 key's scrypt (128·r·N bytes), so the
/// work is raised with the parallelism p instead (computed in turn, not in
/// parallel, by openssl and by us): N = 2^14, r = 8, p = 8 costs as much as
/// N = 2^17 in 16 MiB, about half a second on one core.
const SCRYPT_LOG_N: u8 = 14;
/// scrypt's block size r for the keys we write (the usual 8).
const SCRYPT_R: u32 = 8;
/// scrypt's parallelism p for the keys we write.
const SCRYPT_P: u32 = 8;

/// Most scrypt memory a key file may ask for (128·r·N bytes): 256 MiB,
/// eight times openssl's own limit.
const MAX_SCRYPT_MEMORY: u64 = 256 << 20;
/// Most scrypt work a key file may ask for (N·r·p, in 128-byte block
/// mixes): 2^24, sixteen times what our own keys ask (a few seconds).
const MAX_SCRYPT_WORK: u64 = 1 << 24;
/// Most PBKDF2 iterations a key file may ask for: RFC 8018 §4.2 calls ten
/// million suitable for "especially critical keys"; openssl writes 2,048.
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;

/// Whether `pem` holds an encrypted private key.
pub(super) fn is_encrypted(pem: &str) -> bool {
    pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
}

/// Decrypts an `ENCRYPTED PRIVATE KEY` PEM block with the passphrase
/// `passphrase` returns into the `PRIVATE KEY` PEM block it protects
/// (zeroized when dropped). The passphrase is asked for only once the
/// file's scheme and work are known to be acceptable: nobody should type
/// one for a key that is then refused.
pub(super) fn decrypt(
    pem: &str,
    passphrase: impl FnOnce() -> Result<Zeroizing<Vec<u8>>, KeyError>,
    origin: &Path,
) -> Result<Zeroizing<String>, KeyError> {
    let malformed = |reason: String| KeyError::Malformed {
        path: origin.to_path_buf(),
        reason,
    };
    let (label, der) = pem::decode_vec(pem.as_bytes()).map_err(|e| malformed(e.to_string()))?;
    if label != "ENCRYPTED PRIVATE KEY" {
        return Err(malformed(format!("unexpected PEM block `{label}`")));
    }
    let info = EncryptedPrivateKeyInfoRef::from_der(&der).map_err(|e| malformed(e.to_string()))?;
    check_work(&info.encryption_algorithm, origin)?;
    let wrong = || KeyError::WrongPassphrase {
        path: origin.to_path_buf(),
    };
    let plain = info
        .decrypt(passphrase()?.as_slice())
        .map_err(|_| wrong())?;
    // CBC padding can come out right by chance under a wrong passphrase:
    // only a well-formed key inside says the passphrase was right.
    PrivateKeyInfoRef::from_der(plain.as_bytes()).map_err(|_| wrong())?;
    let pem = pem::encode_string("PRIVATE KEY", LineEnding::LF, plain.as_bytes())
        .map_err(|e| malformed(e.to_string()))?;
    Ok(Zeroizing::new(pem))
}

/// Refuses a scheme we do not accept, or one that asks for more work or
/// memory than a key file may.
fn check_work(scheme: &EncryptionScheme, origin: &Path) -> Result<(), KeyError> {
    let refuse = |reason: String| {
        Err(KeyError::UnsupportedEncryption {
            path: origin.to_path_buf(),
            reason,
        })
    };
    let EncryptionScheme::Pbes2(params) = scheme else {
        return refuse(
            "PBES1 (DES, RC2) is too weak; re-encrypt with `openssl pkcs8 -topk8 -v2 aes-256-cbc`"
                .into(),
        );
    };
    match &params.kdf {
        Kdf::Pbkdf2(p) if p.iteration_count > MAX_PBKDF2_ITERATIONS => refuse(format!(
            "PBKDF2 with {} iterations (at most {MAX_PBKDF2_ITERATIONS})",
            p.iteration_count
        )),
        Kdf::Scrypt(s) => {
            let (n, r, p) = (
                s.cost_parameter,
                u64::from(s.block_size),
                u64::from(s.parallelization),
            );
            let memory = n.saturating_mul(r).saturating_mul(128);
            let work = n.saturating_mul(r).saturating_mul(p);
            if memory > MAX_SCRYPT_MEMORY || work > MAX_SCRYPT_WORK {
                refuse(format!(
                    "scrypt N={n}, r={r}, p={p} (at most {} MiB and N·r·p ≤ 2^24)",
                    MAX_SCRYPT_MEMORY >> 20
                ))
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

/// Encrypts a PKCS#8 private key (DER) under `passphrase`: scrypt with the
/// fixed parameters above, a fresh salt and IV, AES-256-CBC.
pub(super) fn encrypt(pkcs8_der: &[u8], passphrase: &[u8]) -> Result<Zeroizing<String>, KeyError> {
    let failed = |e: &dyn std::fmt::Display| KeyError::Backend(e.to_string());
    let mut salt = [0u8; 16];
    let mut iv = [0u8; 16];
    backend::fill_random(&mut salt);
    backend::fill_random(&mut iv);
    let scrypt = scrypt::Params::new(SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P).map_err(|e| failed(&e))?;
    let params =
        pbes2::Parameters::generate_scrypt_aes256cbc(scrypt, &salt, iv).map_err(|e| failed(&e))?;
    let info = PrivateKeyInfoRef::from_der(pkcs8_der).map_err(|e| failed(&e))?;
    let sealed = info
        .encrypt_with_params(params, passphrase)
        .map_err(|e| failed(&e))?;
    let pem = pem::encode_string("ENCRYPTED PRIVATE KEY", LineEnding::LF, sealed.as_bytes())
        .map_err(|e| failed(&e))?;
    Ok(Zeroizing::new(pem))
}
