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
use pkcs8::pkcs5::{self, EncryptionScheme, scrypt};
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

/// Most scrypt memory a key file may ask for (128·r·(N + p) bytes):
/// 256 MiB, eight times openssl's own limit.
const MAX_SCRYPT_MEMORY: u64 = 256 << 20;
/// Most scrypt work a key file may ask for (N·r·p, in 128-byte block
/// mixes): 2^24, sixteen times what our own keys ask (a few seconds).
const MAX_SCRYPT_WORK: u64 = 1 << 24;
/// Most PBKDF2 iterations a key file may ask for (counted once per output
/// block): RFC 8018 §4.2 calls ten million suitable for "especially
/// critical keys"; openssl writes 2,048.
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;

/// Whether `pem` holds an encrypted private key.
pub(super) fn is_encrypted(pem: &str) -> bool {
    pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
}

/// An encrypted key file whose scheme and work factor were checked: only
/// then is a passphrase worth asking for.
pub(super) struct Checked {
    der: Vec<u8>,
}

/// Parses an `ENCRYPTED PRIVATE KEY` PEM block and checks what it asks
/// for, before anyone is asked for a passphrase.
pub(super) fn check(pem: &str, origin: &Path) -> Result<Checked, KeyError> {
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
    Ok(Checked { der })
}

/// Decrypts a checked key with `passphrase` into the `PRIVATE KEY` PEM
/// block it protects (zeroized when dropped).
pub(super) fn decrypt(
    checked: &Checked,
    passphrase: &[u8],
    origin: &Path,
) -> Result<Zeroizing<String>, KeyError> {
    let info =
        EncryptedPrivateKeyInfoRef::from_der(&checked.der).map_err(|e| KeyError::Malformed {
            path: origin.to_path_buf(),
            reason: e.to_string(),
        })?;
    let wrong = || KeyError::WrongPassphrase {
        path: origin.to_path_buf(),
    };
    // A failed decryption, or decrypted bytes that are not a document,
    // is a wrong passphrase; a scheme the library refuses (an unsupported
    // PRF or cipher, a key length that does not fit) is the file's,
    // whatever the passphrase.
    let plain = info.decrypt(passphrase).map_err(|e| match e {
        pkcs8::Error::EncryptedPrivateKey(pkcs5::Error::DecryptFailed) | pkcs8::Error::Asn1(_) => {
            wrong()
        }
        other => unsupported(origin, other.to_string()),
    })?;
    // CBC padding can come out right by chance under a wrong passphrase:
    // only a well-formed key inside says the passphrase was right.
    PrivateKeyInfoRef::from_der(plain.as_bytes()).map_err(|_| wrong())?;
    let pem = pem::encode_string("PRIVATE KEY", LineEnding::LF, plain.as_bytes())
        .map_err(|e| unsupported(origin, e.to_string()))?;
    Ok(Zeroizing::new(pem))
}

fn unsupported(origin: &Path, reason: String) -> KeyError {
    KeyError::UnsupportedEncryption {
        path: origin.to_path_buf(),
        reason,
    }
}

/// Refuses a scheme we do not accept, or one that asks for more work or
/// memory than a key file may. The parameters are the file's: a hostile
/// file must not get hours of hashing, gigabytes of memory or a panic out
/// of us.
fn check_work(scheme: &EncryptionScheme, origin: &Path) -> Result<(), KeyError> {
    let EncryptionScheme::Pbes2(params) = scheme else {
        return Err(unsupported(
            origin,
            "PBES1 (DES, RC2) is too weak; re-encrypt with `openssl pkcs8 -topk8 -v2 aes-256-cbc`"
                .into(),
        ));
    };
    let key_len = params.encryption.key_size() as u64;
    match &params.kdf {
        Kdf::Pbkdf2(p) => check_pbkdf2(p, key_len).map_err(|reason| unsupported(origin, reason)),
        Kdf::Scrypt(s) => check_scrypt(s).map_err(|reason| unsupported(origin, reason)),
        _ => Err(unsupported(origin, "an unknown key derivation".into())),
    }
}

fn check_pbkdf2(p: &pbes2::Pbkdf2Params, key_len: u64) -> Result<(), String> {
    let hash_len: u64 = match p.prf {
        pbes2::Pbkdf2Prf::HmacWithSha256 => 32,
        pbes2::Pbkdf2Prf::HmacWithSha384 => 48,
        pbes2::Pbkdf2Prf::HmacWithSha512 => 64,
        other => {
            return Err(format!(
                "PBKDF2 with {other:?} (SHA-256, -384 or -512 only)"
            ));
        }
    };
    // PBKDF2 runs its iterations once per output block.
    let work = u64::from(p.iteration_count) * key_len.div_ceil(hash_len);
    if work > u64::from(MAX_PBKDF2_ITERATIONS) {
        return Err(format!(
            "PBKDF2 with {} iterations (at most {MAX_PBKDF2_ITERATIONS})",
            p.iteration_count
        ));
    }
    Ok(())
}

fn check_scrypt(s: &pbes2::ScryptParams) -> Result<(), String> {
    let (n, r, p) = (
        s.cost_parameter,
        u64::from(s.block_size),
        u64::from(s.parallelization),
    );
    let shape = n >= 2 && n.is_power_of_two() && r >= 1 && p >= 1;
    // scrypt holds 128·r·N bytes for its table and 128·r·p for its blocks.
    let memory = n.saturating_add(p).saturating_mul(r).saturating_mul(128);
    let work = n.saturating_mul(r).saturating_mul(p);
    if !shape || memory > MAX_SCRYPT_MEMORY || work > MAX_SCRYPT_WORK {
        return Err(format!(
            "scrypt N={n}, r={r}, p={p} (N a power of two ≥ 2, r and p ≥ 1, at most {} MiB \
             and N·r·p ≤ 2^24)",
            MAX_SCRYPT_MEMORY >> 20
        ));
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn scrypt(n: u64, r: u16, p: u16) -> pbes2::ScryptParams {
        pbes2::ScryptParams {
            salt: [0u8; 16][..].try_into().unwrap(),
            cost_parameter: n,
            block_size: r,
            parallelization: p,
            key_length: None,
        }
    }

    #[test]
    fn scrypt_parameters_a_file_may_not_ask_for() {
        // Ours, and openssl's default, pass.
        assert!(check_scrypt(&scrypt(1 << SCRYPT_LOG_N, 8, SCRYPT_P as u16)).is_ok());
        assert!(check_scrypt(&scrypt(1 << 14, 8, 1)).is_ok());
        for (n, r, p) in [
            (0, 8, 1),          // would panic inside scrypt
            (1, 8, 1),          // not a cost
            (3 << 10, 8, 1),    // not a power of two
            (1 << 14, 0, 1),    // no block
            (1 << 14, 8, 0),    // no lane
            (1 << 20, 8, 1),    // 1 GiB of table
            (2, 256, 65535),    // 2 GiB of blocks
            (1 << 14, 8, 1024), // too much work
        ] {
            assert!(check_scrypt(&scrypt(n, r, p)).is_err(), "N={n} r={r} p={p}");
        }
    }

    #[test]
    fn pbkdf2_work_counts_every_output_block() {
        let params = |iterations, prf| pbes2::Pbkdf2Params {
            salt: [0u8; 16][..].try_into().unwrap(),
            iteration_count: iterations,
            key_length: None,
            prf,
        };
        let sha256 = pbes2::Pbkdf2Prf::HmacWithSha256;
        assert!(check_pbkdf2(&params(2048, sha256), 32).is_ok());
        assert!(check_pbkdf2(&params(MAX_PBKDF2_ITERATIONS, sha256), 32).is_ok());
        // Two blocks of SHA-256 for a 48-byte key: twice the work.
        assert!(check_pbkdf2(&params(MAX_PBKDF2_ITERATIONS, sha256), 48).is_err());
        let sha1 = pbes2::Pbkdf2Prf::HmacWithSha1;
        assert!(check_pbkdf2(&params(2048, sha1), 32).is_err());
    }
}
