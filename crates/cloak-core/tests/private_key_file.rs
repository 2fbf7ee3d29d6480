//! A private key file is opened once and checked on the open descriptor
//! (issue #11): what is checked is what is read. It must be a regular file
//! (not a symbolic link, a FIFO or a device), owned by the user the program
//! runs as, and closed to group and others; each refusal is one line naming
//! the file and the fix.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use cloak_core::keydir::{KeyDir, Role};
use cloak_core::{KeyError, KeyPair, PublicKey};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(rel)
}

/// A copy of the fixture client key as `dir/name` with `mode`.
fn key_copy(dir: &Path, name: &str, mode: u32) -> PathBuf {
    let path = dir.join(name);
    fs::copy(fixture("python-keys/client_private.pem"), &path).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    path
}

fn refusal(path: &Path) -> String {
    match KeyPair::load(path) {
        Ok(pair) => panic!("{} loaded: {pair:?}", path.display()),
        Err(e) => {
            let text = e.to_string();
            assert!(
                text.contains(&path.display().to_string()),
                "the file is not named: {text}"
            );
            assert_eq!(text.lines().count(), 1, "{text}");
            text
        }
    }
}

#[test]
fn a_group_readable_key_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    for mode in [0o640, 0o660, 0o604] {
        let key = key_copy(dir.path(), "client_private.pem", mode);
        let text = refusal(&key);
        assert!(text.contains("chmod 600"), "{text}");
        assert!(matches!(
            KeyPair::load(&key),
            Err(KeyError::InsecurePermissions { .. })
        ));
        // Through the key folder too, as the programs load it.
        let err = KeyDir::new(dir.path()).load_own(Role::Client).unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
        fs::remove_file(&key).unwrap();
    }
}

#[test]
fn a_symlink_to_a_private_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let real = key_copy(dir.path(), "real.pem", 0o600);
    let link = dir.path().join("client_private.pem");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let text = refusal(&link);
    assert!(text.contains("symbolic link"), "{text}");
    assert!(matches!(
        KeyPair::load(&link),
        Err(KeyError::Symlink { .. })
    ));
    // The file itself loads.
    KeyPair::load(&real).unwrap();
}

/// A FIFO opened for reading waits for a writer: the open must not wait,
/// and the file must be refused for what it is.
#[test]
fn a_fifo_is_refused_without_waiting_for_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("client_private.pem");
    let made = std::process::Command::new("mkfifo")
        .arg("-m")
        .arg("600")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let (tx, rx) = mpsc::channel();
    let path = fifo.clone();
    std::thread::spawn(move || {
        let private = KeyPair::load(&path).map(drop).map_err(|e| e.to_string());
        let public = PublicKey::load(&path).map(drop).map_err(|e| e.to_string());
        let _ = tx.send((private, public));
    });
    let (private, public) = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("loading a FIFO as a key blocked");
    for text in [private.unwrap_err(), public.unwrap_err()] {
        assert!(text.contains("not a regular file"), "{text}");
        assert!(text.contains(&fifo.display().to_string()), "{text}");
    }
    assert!(matches!(
        KeyPair::load(&fifo),
        Err(KeyError::NotRegularFile { .. })
    ));
}

#[test]
fn a_key_owned_by_another_user_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_copy(dir.path(), "client_private.pem", 0o600);
    // The owner of a file this process just created is its effective user.
    if fs::metadata(&key).unwrap().uid() != 0 {
        eprintln!("skipped: only root can give a file to another user");
        return;
    }
    std::os::unix::fs::chown(&key, Some(65534), None).unwrap();
    let text = refusal(&key);
    assert!(text.contains("chown"), "{text}");
    assert!(matches!(
        KeyPair::load(&key),
        Err(KeyError::WrongOwner { owner: 65534, .. })
    ));
}
