//! The data folder belongs to one server (issue #11): it is mode 0700 and
//! every file in it 0600, whatever the umask the server runs with and
//! whether the folder and its files were there before, for the server and
//! for the operator commands alike.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use cloak_core::session::ServerMessage;
use cloak_tests::{Keys, LibClient, Server, bin, client, texts, with_umask};

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Every entry under `dir`, depth first, `dir` itself first.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = vec![dir.to_path_buf()];
    let mut index = 0;
    while index < found.len() {
        if found[index].is_dir() {
            let mut entries: Vec<_> = fs::read_dir(&found[index])
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            entries.sort();
            found.extend(entries);
        }
        index += 1;
    }
    found
}

/// Asserts that `data` and every folder in it are 0700 and every file
/// 0600; returns the names of the files.
fn assert_private(data: &Path) -> Vec<String> {
    let mut files = Vec::new();
    for path in walk(data) {
        let (want, kind) = if path.is_dir() {
            (0o700, "folder")
        } else {
            (0o600, "file")
        };
        assert_eq!(
            mode(&path),
            want,
            "{kind} {} is mode {:03o}",
            path.display(),
            mode(&path)
        );
        if !path.is_dir() {
            files.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    files
}

/// Runs an operator command with umask 022.
fn operator_022(keys: &Path, data: &Path, args: &[&str]) -> std::process::Output {
    let out = with_umask("022", &bin("cloak-server"))
        .arg("--keys")
        .arg(keys)
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .expect("run cloak-server");
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    out
}

/// The first file to appear in `dir` within 10 s.
fn first_file_in(dir: &Path) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(entry) = fs::read_dir(dir).ok().and_then(|mut d| d.next()) {
            return entry.unwrap().path();
        }
        assert!(Instant::now() < deadline, "nothing appeared in {dir:?}");
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_new_data_folder_is_private_under_umask_022() {
    let keys = Keys::new(2048);
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let server = Server::start_with_umask(keys.path(), &data, "022", &[]);

    // A stream long enough to be spooled: its spool file while it arrives
    // (checked then, since it is gone after), then its message file.
    let lib = LibClient::new(keys.path());
    let (mut raw, hello) = lib.hello(server.addr);
    let frames = lib.stream_frames(&hello, &vec![b'x'; 600 * 1024]);
    assert!(frames.chunks.len() >= 2);
    raw.send(&frames.head);
    raw.send(&frames.chunks[0]);
    let spooled = first_file_in(&data.join("spool"));
    assert_eq!(mode(&spooled), 0o600, "{}", spooled.display());
    for chunk in &frames.chunks[1..] {
        raw.send(chunk);
    }
    raw.send(&frames.end);
    match raw.read_server() {
        Some(ServerMessage::Receipt(_)) => {}
        other => panic!("expected a receipt, got {other:?}"),
    }
    // And a message queued by the operator, also under umask 022.
    operator_022(
        keys.path(),
        &data,
        &["post", "--to", "client", "queued under umask 022"],
    );

    let files = assert_private(&data);
    for expected in ["cloakroom.db", "cloakroom.db-wal", "cloakroom.db-shm"] {
        assert!(files.iter().any(|f| f == expected), "{files:?}");
    }
    assert!(
        fs::read_dir(data.join("messages")).unwrap().count() == 1,
        "the stream's message file"
    );
}

#[test]
fn an_existing_data_folder_and_its_files_are_made_private() {
    let keys = Keys::new(2048);
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let server = Server::start_with_data(keys.path(), &data, &[]);
    let big = root.path().join("big.bin");
    fs::write(&big, vec![b'y'; 300 * 1024]).unwrap();
    let out = client(
        keys.path(),
        server.addr,
        &["send_msg", "--file", big.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", texts(&out).1);
    assert!(server.terminate().success());

    // As another program, or a server under umask 022, might leave them.
    let mut opened_up = 0;
    for path in walk(&data) {
        set_mode(&path, if path.is_dir() { 0o755 } else { 0o644 });
        opened_up += usize::from(!path.is_dir());
    }
    assert!(opened_up >= 2, "the database and the message file");

    let server = Server::start_with_umask(keys.path(), &data, "022", &[]);
    let files = assert_private(&data);
    assert!(files.len() >= opened_up, "{files:?}");
    // Said, not done silently.
    let stderr = server.wait_stderr("0755");
    assert!(
        stderr.contains(&data.display().to_string()) && stderr.contains("0755"),
        "{stderr}"
    );
    // And it serves on.
    let out = client(keys.path(), server.addr, &["send_msg", "still fine"]);
    assert!(out.status.success(), "{}", texts(&out).1);
    assert_private(&data);
}

#[test]
fn an_operator_command_makes_the_store_private_too() {
    let keys = Keys::new(2048);
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    fs::create_dir(&data).unwrap();
    set_mode(&data, 0o755);
    // An empty file is an empty SQLite database.
    fs::write(data.join("cloakroom.db"), b"").unwrap();
    set_mode(&data.join("cloakroom.db"), 0o644);

    // Not the store's: left as it is (think of `--data .`).
    let script = root.path().join("script.sh");
    fs::write(&script, b"#!/bin/sh\n").unwrap();
    set_mode(&script, 0o755);

    let out = operator_022(keys.path(), &data, &["inbox"]);
    assert!(texts(&out).0.contains("empty"), "{}", texts(&out).0);
    let files = assert_private(&data);
    assert!(files.iter().any(|f| f == "cloakroom.db"), "{files:?}");

    fs::rename(&script, data.join("script.sh")).unwrap();
    operator_022(keys.path(), &data, &["inbox"]);
    assert_eq!(mode(&data.join("script.sh")), 0o755);
}

#[test]
fn a_folder_every_user_may_write_to_is_refused() {
    let keys = Keys::new(2048);
    let root = tempfile::tempdir().unwrap();
    let shared = root.path().join("shared");
    fs::create_dir(&shared).unwrap();
    set_mode(&shared, 0o1777);
    let out = with_umask("022", &bin("cloak-server"))
        .arg("--keys")
        .arg(keys.path())
        .arg("--data")
        .arg(&shared)
        .arg("inbox")
        .output()
        .unwrap();
    let (stdout, stderr) = texts(&out);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stderr.contains(&shared.display().to_string()) && stderr.contains("every user"),
        "{stderr}"
    );
    assert_eq!(mode(&shared), 0o777, "left as it was");
    assert_eq!(fs::read_dir(&shared).unwrap().count(), 0, "nothing created");
}
