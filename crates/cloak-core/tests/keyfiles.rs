//! Key files: PKCS#1 files from openssl (and the Python original) load, the
//! fingerprint does not depend on the encoding, private keys are written 0600
//! and refused when others can read them, and bad files give clear errors.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use cloak_core::{Fingerprint, KeyError, KeyPair, PublicKey};

/// Fingerprint of the fixture client key, computed by openssl:
/// `openssl rsa -pubin -outform DER | openssl dgst -sha256 -binary | base64`.
const OPENSSL_FINGERPRINT: &str = "SHA256:3BCOMqCN/lQ4qe37iONWoUSTLqr9QP+ltZx08kejjsg";

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(rel)
}

/// Copies a fixture into `dir` with `mode` (git does not keep permissions).
fn private_copy(dir: &Path, rel: &str, mode: u32) -> PathBuf {
    let path = dir.join(Path::new(rel).file_name().unwrap());
    fs::copy(fixture(rel), &path).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    path
}

#[test]
fn openssl_pkcs1_files_load_with_stable_fingerprints() {
    let dir = tempfile::tempdir().unwrap();
    let expected: Fingerprint = OPENSSL_FINGERPRINT.parse().unwrap();
    let pkcs1 = KeyPair::load(&private_copy(
        dir.path(),
        "python-keys/client_private.pem",
        0o600,
    ))
    .unwrap();
    let pkcs8 = KeyPair::load(&private_copy(
        dir.path(),
        "key-variants/client_private_pkcs8.pem",
        0o600,
    ))
    .unwrap();
    let pub_pkcs1 = PublicKey::load(&fixture("python-keys/client_public.pem")).unwrap();
    let pub_spki = PublicKey::load(&fixture("key-variants/client_public_spki.pem")).unwrap();
    for fp in [
        pkcs1.fingerprint(),
        pkcs8.fingerprint(),
        pub_pkcs1.fingerprint(),
        pub_spki.fingerprint(),
    ] {
        assert_eq!(fp, expected);
    }
    assert_eq!(expected.to_string(), OPENSSL_FINGERPRINT);
    assert_eq!(pkcs1.public().bits(), 2048);
    assert!(!pkcs1.has_unequal_primes() && !pkcs8.has_unequal_primes());
}

#[test]
fn readable_private_key_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    for mode in [0o644, 0o640, 0o604, 0o660] {
        let path = private_copy(dir.path(), "python-keys/client_private.pem", mode);
        let err = KeyPair::load(&path).unwrap_err();
        assert!(
            matches!(err, KeyError::InsecurePermissions { .. }),
            "{mode:o}: {err}"
        );
        let text = err.to_string();
        assert!(
            text.contains(&path.display().to_string()) && text.contains("chmod 600"),
            "{text}"
        );
    }
}

#[test]
fn generated_keys_save_0600_reload_and_refuse_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = (dir.path().join("k.pem"), dir.path().join("k.pub.pem"));
    let pair = KeyPair::generate(2048).unwrap();
    pair.save(&private, &public, false).unwrap();
    assert_eq!(
        fs::metadata(&private).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(
        fs::read_to_string(&private)
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );
    assert!(
        fs::read_to_string(&public)
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----")
    );
    assert_eq!(
        KeyPair::load(&private).unwrap().fingerprint(),
        pair.fingerprint()
    );
    assert_eq!(PublicKey::load(&public).unwrap(), *pair.public());

    let other = KeyPair::generate(2048).unwrap();
    let err = other.save(&private, &public, false).unwrap_err();
    assert!(matches!(err, KeyError::AlreadyExists { .. }), "{err}");
    assert_eq!(
        KeyPair::load(&private).unwrap().fingerprint(),
        pair.fingerprint(),
        "untouched"
    );

    other.save(&private, &public, true).unwrap();
    assert_eq!(
        fs::metadata(&private).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        KeyPair::load(&private).unwrap().fingerprint(),
        other.fingerprint()
    );
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        2,
        "no temporary files left"
    );
}

#[test]
fn wrong_kind_of_file_gives_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let public_as_private = private_copy(dir.path(), "python-keys/client_public.pem", 0o600);
    assert!(matches!(
        KeyPair::load(&public_as_private),
        Err(KeyError::PublicWherePrivateExpected { .. })
    ));
    let private_as_public = private_copy(dir.path(), "python-keys/server_private.pem", 0o600);
    assert!(matches!(
        PublicKey::load(&private_as_public),
        Err(KeyError::PrivateWherePublicExpected { .. })
    ));

    let weak = private_copy(dir.path(), "key-variants/weak_1024_private.pem", 0o600);
    let err = KeyPair::load(&weak).unwrap_err();
    assert!(
        matches!(err, KeyError::UnsupportedSize { bits: 1024 }),
        "{err}"
    );

    let pem = fs::read_to_string(fixture("python-keys/client_private.pem")).unwrap();
    let truncated = dir.path().join("truncated.pem");
    fs::write(&truncated, &pem[..pem.len() / 2]).unwrap();
    fs::set_permissions(&truncated, fs::Permissions::from_mode(0o600)).unwrap();
    assert!(matches!(
        KeyPair::load(&truncated),
        Err(KeyError::Malformed { .. })
    ));

    let corrupt = dir.path().join("corrupt.pem");
    fs::write(&corrupt, pem.replace('A', "B")).unwrap();
    fs::set_permissions(&corrupt, fs::Permissions::from_mode(0o600)).unwrap();
    assert!(matches!(
        KeyPair::load(&corrupt),
        Err(KeyError::Malformed { .. })
    ));

    let missing = dir.path().join("missing.pem");
    let err = PublicKey::load(&missing).unwrap_err();
    assert!(matches!(err, KeyError::Io { .. }) && err.to_string().contains("missing.pem"));
}

/// Fingerprint of the python-rsa fixture client key, computed by openssl:
/// `openssl rsa -RSAPublicKey_in -pubout -outform DER | openssl dgst
/// -sha256 -binary | base64`.
const PYTHON_RSA_FINGERPRINT: &str = "SHA256:HJ84wFukHGRmtxLMjunI37fKEFOFBiMJ3EJq1DKA3to";

/// python-rsa (`rsa.newkeys`, which the original used) makes primes of
/// unequal size (1088 and 960 bits at 2048): such keys load, as PKCS#1 and
/// as PKCS#8, with the same fingerprint as their public half, and work.
#[test]
fn python_rsa_keys_with_unequal_primes_load_and_work() {
    let dir = tempfile::tempdir().unwrap();
    let expected: Fingerprint = PYTHON_RSA_FINGERPRINT.parse().unwrap();
    let pkcs1 = KeyPair::load(&private_copy(
        dir.path(),
        "python-rsa-keys/client_private.pem",
        0o600,
    ))
    .unwrap();
    let pkcs8 = KeyPair::load(&private_copy(
        dir.path(),
        "key-variants/python_rsa_client_private_pkcs8.pem",
        0o600,
    ))
    .unwrap();
    let public = PublicKey::load(&fixture("python-rsa-keys/client_public.pem")).unwrap();
    for fp in [
        pkcs1.fingerprint(),
        pkcs8.fingerprint(),
        public.fingerprint(),
    ] {
        assert_eq!(fp, expected);
    }
    assert!(pkcs1.has_unequal_primes() && pkcs8.has_unequal_primes());
    let server = KeyPair::load(&private_copy(
        dir.path(),
        "python-rsa-keys/server_private.pem",
        0o600,
    ))
    .unwrap();
    // Each key both ways: sealed by one, opened by the other.
    for mode in [cloak_core::Mode::Asymmetric, cloak_core::Mode::Hybrid] {
        for (from, to) in [(&pkcs1, &server), (&server, &pkcs8)] {
            let sealed = cloak_core::seal(
                from,
                to.public(),
                mode,
                b"fresh",
                b"from python-rsa keys",
                &cloak_core::SealOptions::default(),
            )
            .unwrap();
            let opened = cloak_core::open(
                to,
                from.public(),
                &sealed.bytes,
                cloak_core::FreshnessCheck::Expect(b"fresh"),
                &cloak_core::OpenOptions::default(),
            )
            .unwrap();
            assert_eq!(opened.plaintext, b"from python-rsa keys");
        }
    }
}
