//! Passphrase-protected private keys: openssl's PBES2 files (PBKDF2 and
//! scrypt) load with their passphrase and only with it, a file declaring
//! more work than the cap is refused before any hashing (and before the
//! passphrase is asked for), our own encrypted keys read back here and in
//! openssl, and passphrase files get a private key's checks.

use std::cell::Cell;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cloak_core::keydir::{KeyDir, Role};
use cloak_core::keys::read_passphrase_file;
use cloak_core::{Fingerprint, KeyError, KeyPair};
use zeroize::Zeroizing;

/// The fingerprint of `python-keys/client_private.pem`, which every
/// `client_private_*.pem` fixture encrypts (see keyfiles.rs for how openssl
/// computed it).
const CLIENT_FINGERPRINT: &str = "SHA256:3BCOMqCN/lQ4qe37iONWoUSTLqr9QP+ltZx08kejjsg";

/// The fixtures' passphrase (`encrypted-keys/passphrase.txt` without its
/// newline).
const PASSPHRASE: &[u8] = b"fixture passphrase";

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/encrypted-keys")
        .join(rel)
}

/// Copies a fixture into `dir` with mode 0600 (git keeps no permissions).
fn private_copy(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    fs::copy(fixture(name), &path).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn given(passphrase: &[u8]) -> impl FnOnce() -> Result<Zeroizing<Vec<u8>>, KeyError> + '_ {
    move || Ok(Zeroizing::new(passphrase.to_vec()))
}

#[test]
fn openssl_pbkdf2_and_scrypt_keys_load_with_their_passphrase_only() {
    let dir = tempfile::tempdir().unwrap();
    let expected: Fingerprint = CLIENT_FINGERPRINT.parse().unwrap();
    for name in ["client_private_pbkdf2.pem", "client_private_scrypt.pem"] {
        let path = private_copy(dir.path(), name);
        let pair = KeyPair::load_with_passphrase(&path, given(PASSPHRASE)).unwrap();
        assert_eq!(pair.fingerprint(), expected, "{name}");
        match KeyPair::load(&path) {
            Err(KeyError::PassphraseRequired { path: p }) => assert_eq!(p, path),
            other => panic!("{name}: loaded without a passphrase: {other:?}"),
        }
        for wrong in [&b"fixture passphrasE"[..], b"", b"fixture passphrase\n"] {
            match KeyPair::load_with_passphrase(&path, given(wrong)) {
                Err(e @ KeyError::WrongPassphrase { .. }) => {
                    assert_eq!(
                        e.to_string(),
                        format!("wrong passphrase for private key {}", path.display())
                    );
                }
                other => panic!("{name}: {wrong:?} gave {other:?}"),
            }
        }
    }
}

/// Loads `path` with the right passphrase, which must not even be asked
/// for: the declared work is refused first, and at once.
fn assert_refused_unasked(path: &Path, says: &str) {
    let asked = Cell::new(false);
    let started = Instant::now();
    let result = KeyPair::load_with_passphrase(path, || {
        asked.set(true);
        Ok(Zeroizing::new(PASSPHRASE.to_vec()))
    });
    let took = started.elapsed();
    match result {
        Err(e @ KeyError::UnsupportedEncryption { .. }) => {
            assert!(e.to_string().contains(says), "{e}");
        }
        other => panic!("{}: {other:?}", path.display()),
    }
    assert!(!asked.get(), "the passphrase was asked for a refused key");
    assert!(took < Duration::from_millis(500), "refusal took {took:?}");
}

#[test]
fn a_key_declaring_twenty_million_pbkdf2_iterations_is_refused_at_once() {
    // openssl made it (seconds of its own hashing); reading it would cost
    // as much again, per attempt, at the file's say-so.
    let dir = tempfile::tempdir().unwrap();
    let path = private_copy(dir.path(), "client_private_pbkdf2_20m.pem");
    assert_refused_unasked(&path, "PBKDF2 with 20000000 iterations");
}

#[test]
fn a_key_declaring_a_gibibyte_of_scrypt_memory_is_refused_at_once() {
    use pkcs8::der::pem::LineEnding;
    use pkcs8::der::{Decode, EncodePem};
    use pkcs8::pkcs5::{pbes2, scrypt};
    // openssl will not write N = 2^20 (over its own 32 MiB limit), so the
    // openssl scrypt fixture is given those parameters here: what a
    // hostile file could declare.
    let pem = fs::read_to_string(fixture("client_private_scrypt.pem")).unwrap();
    let (_, der) = pkcs8::der::pem::decode_vec(pem.as_bytes()).unwrap();
    let mut info = pkcs8::EncryptedPrivateKeyInfoOwned::from_der(&der).unwrap();
    let params = scrypt::Params::new(20, 8, 1).unwrap();
    info.encryption_algorithm =
        pbes2::Parameters::generate_scrypt_aes256cbc(params, &[7; 16], [9; 16])
            .unwrap()
            .into();
    let hostile = info.to_pem(LineEnding::LF).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hostile.pem");
    fs::write(&path, hostile).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    assert_refused_unasked(&path, "scrypt N=1048576, r=8, p=1");
}

#[test]
fn our_encrypted_keys_load_back_here_and_in_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = (dir.path().join("k.pem"), dir.path().join("k.pub"));
    let pair = KeyPair::generate(2048).unwrap();
    let passphrase = b"correct horse battery staple";
    pair.save_with_passphrase(&private, &public, false, Some(passphrase))
        .unwrap();
    let text = fs::read_to_string(&private).unwrap();
    assert!(
        text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"),
        "{text}"
    );
    let mode = fs::metadata(&private).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let again = KeyPair::load_with_passphrase(&private, given(passphrase)).unwrap();
    assert_eq!(again.fingerprint(), pair.fingerprint());
    assert!(matches!(
        KeyPair::load_with_passphrase(&private, given(b"correct horse battery stapler")),
        Err(KeyError::WrongPassphrase { .. })
    ));
    openssl_reads_back(&private, passphrase, &fs::read_to_string(&public).unwrap());
}

/// openssl decrypts `private` with `passphrase` to the public key `public`
/// (skipped, saying so, where openssl is not installed).
fn openssl_reads_back(private: &Path, passphrase: &[u8], public: &str) {
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("openssl not installed: not checking that it reads our key");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("passphrase");
    fs::write(&file, passphrase).unwrap();
    let out = Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(private)
        .arg("-passin")
        .arg(format!("file:{}", file.display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "openssl refused our key: {stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), public);
}

#[test]
fn passphrase_files_lose_one_newline_and_must_be_private() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pass");
    for (written, read) in [
        (&b"secret\n"[..], &b"secret"[..]),
        // As openssl -passin file: reads it: the "\r" stays.
        (b"secret\r\n", b"secret\r"),
        (b"secret", b"secret"),
        (b"secret\n\n", b"secret\n"),
        (b" two words \n", b" two words "),
    ] {
        fs::write(&file, written).unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_passphrase_file(&file).unwrap().as_slice(), read);
    }
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    let err = read_passphrase_file(&file).unwrap_err();
    assert!(matches!(err, KeyError::PassphraseFile { .. }), "{err:?}");
    let line = err.to_string();
    assert!(
        line.contains("mode 644") && line.contains("chmod 600"),
        "{line}"
    );
    assert!(!line.contains("private key"), "{line}");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    let err = read_passphrase_file(&link).unwrap_err().to_string();
    assert!(err.contains("symbolic link"), "{err}");
    let err = read_passphrase_file(&dir.path().join("absent")).unwrap_err();
    assert!(matches!(err, KeyError::PassphraseFile { .. }), "{err:?}");
}

#[test]
fn a_key_folder_asks_for_a_passphrase_only_for_an_encrypted_key() {
    let dir = tempfile::tempdir().unwrap();
    let keys = KeyDir::new(dir.path());
    let encrypted = keys
        .generate_encrypted(Role::Server, 2048, false, Some(PASSPHRASE))
        .unwrap();
    let plain = keys.generate(Role::Client, 2048, false).unwrap();
    match keys.load_own(Role::Server) {
        Err(KeyError::PassphraseRequired { path }) => {
            assert_eq!(path, keys.private_path(Role::Server));
        }
        other => panic!("{other:?}"),
    }
    let asked_for = std::cell::RefCell::new(Vec::new());
    let ask = |path: &Path| {
        asked_for.borrow_mut().push(path.to_path_buf());
        Ok(Zeroizing::new(PASSPHRASE.to_vec()))
    };
    let server = keys.load_own_with(Role::Server, ask).unwrap();
    let client = keys.load_own_with(Role::Client, ask).unwrap();
    assert_eq!(server.fingerprint(), encrypted.fingerprint());
    assert_eq!(client.fingerprint(), plain.fingerprint());
    assert_eq!(*asked_for.borrow(), [keys.private_path(Role::Server)]);
}
