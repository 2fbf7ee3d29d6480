//! Passphrase-protected private keys over the real binaries: the server
//! and the client each run with an encrypted key, made by openssl or by
//! `generate_key_pair --encrypt`, its passphrase in the file named by
//! CLOAK_PASSPHRASE_FILE, in both modes; a wrong passphrase, a missing
//! one, and a passphrase file others can read each end the program with
//! one line on stderr and exit status 1.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use cloak_tests::{Keys, Server, bin, delivered_id, fixture, ok_stdout, texts};

const ENV: &str = "CLOAK_PASSPHRASE_FILE";

/// Writes `passphrase` to a file in `dir` with `mode`.
fn passphrase_file(dir: &Path, name: &str, passphrase: &str, mode: u32) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, passphrase).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// `program` with `args`, the key folder `keys` and the passphrase file
/// `pass` (none: the variable unset), stdin not a terminal.
fn command(program: &str, keys: &Path, pass: Option<&Path>, args: &[&str]) -> Command {
    let mut command = Command::new(bin(program));
    command.arg("--keys").arg(keys).args(args).env_remove(ENV);
    if let Some(pass) = pass {
        command.env(ENV, pass);
    }
    command.stdin(Stdio::null());
    command
}

/// Runs `command` to its end (at most 20 s: a server that started in
/// spite of a bad key is killed and fails the test).
fn run(mut command: Command) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("still running after 20 s: {:?}", child.wait_with_output());
        }
        thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// The output of a program that must have failed with exit status 1 and
/// exactly one line on stderr, starting `PROGRAM: error:`; that line.
fn one_line_failure(program: &str, out: &Output) -> String {
    let (stdout, stderr) = texts(out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!("{program}: error: ")),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"));
    stderr
}

/// Sends in both modes, reads each message back with the operator's
/// `read`, and receives, every program with the passphrase file `pass`.
fn send_read_receive(keys: &Path, pass: &Path) {
    let server = Server::start_with_env(keys, &[(ENV, pass)], &[]);
    let addr = server.addr.to_string();
    for mode in ["asymmetric", "hybrid"] {
        let text = format!("sealed with an encrypted key in {mode} mode");
        let client = |args: &[&str]| {
            let mut all = vec!["--addr", addr.as_str(), "--mode", mode];
            all.extend(args);
            run(command("cloak-client", keys, Some(pass), &all))
        };
        let sent = ok_stdout(&client(&["send_msg", &text]));
        assert!(sent.contains("receipt verified"), "{sent}");
        server.wait_stdout(&text);
        let mut read = command("cloak-server", keys, Some(pass), &[]);
        read.arg("--data")
            .arg(&server.data)
            .args(["read", &delivered_id(&sent)]);
        let shown = ok_stdout(&run(read));
        assert!(shown.contains(&text), "{shown}");
        let received = ok_stdout(&client(&["recv_msg"]));
        assert!(
            received.contains("Message integrity & sender authentication passed.")
                && received.contains("This is a message from the server!"),
            "{received}"
        );
    }
    server.assert_no_panic();
}

#[test]
fn keys_encrypted_by_openssl_serve_send_and_receive_in_both_modes() {
    let keys = Keys::empty();
    keys.copy_from(&fixture("python-keys"));
    // PBKDF2 for the server, scrypt for the client, both by openssl.
    keys.install(
        &fixture("encrypted-keys/server_private_pbkdf2.pem"),
        "server_private.pem",
    );
    keys.install(
        &fixture("encrypted-keys/client_private_scrypt.pem"),
        "client_private.pem",
    );
    let dir = tempfile::tempdir().unwrap();
    let pass = dir.path().join("pass");
    fs::copy(fixture("encrypted-keys/passphrase.txt"), &pass).unwrap();
    fs::set_permissions(&pass, fs::Permissions::from_mode(0o600)).unwrap();
    send_read_receive(keys.path(), &pass);
    // Without the passphrase, no key: one line says how to give it.
    let out = run(command("cloak-client", keys.path(), None, &["recv_msg"]));
    let line = one_line_failure("cloak-client", &out);
    assert!(
        line.contains("is passphrase-protected") && line.contains(ENV),
        "{line}"
    );
}

#[test]
fn keys_encrypted_by_generate_key_pair_serve_send_and_receive_in_both_modes() {
    let keys = Keys::empty();
    let dir = tempfile::tempdir().unwrap();
    let pass = passphrase_file(dir.path(), "pass", "a passphrase of ours\n", 0o600);
    for program in ["cloak-server", "cloak-client"] {
        let args = ["generate_key_pair", "--encrypt", "--bits", "2048"];
        let wrote = ok_stdout(&run(command(program, keys.path(), Some(&pass), &args)));
        assert!(wrote.contains("encrypted under your passphrase"), "{wrote}");
    }
    for name in ["server_private.pem", "client_private.pem"] {
        let pem = fs::read_to_string(keys.path().join(name)).unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    }
    send_read_receive(keys.path(), &pass);
}

#[test]
fn a_wrong_passphrase_is_one_line_and_exit_status_1_for_both_programs() {
    let keys = Keys::empty();
    let dir = tempfile::tempdir().unwrap();
    let right = passphrase_file(dir.path(), "right", "the right passphrase", 0o600);
    let wrong = passphrase_file(dir.path(), "wrong", "the wrong passphrase", 0o600);
    for program in ["cloak-server", "cloak-client"] {
        let args = ["generate_key_pair", "--encrypt", "--bits", "2048"];
        ok_stdout(&run(command(program, keys.path(), Some(&right), &args)));
    }
    let data = dir.path().join("data");
    let mut serve = command("cloak-server", keys.path(), Some(&wrong), &[]);
    serve
        .arg("--data")
        .arg(&data)
        .args(["--addr", "127.0.0.1:0"]);
    let line = one_line_failure("cloak-server", &run(serve));
    let key = keys.path().join("server_private.pem");
    assert_eq!(
        line,
        format!(
            "cloak-server: error: wrong passphrase for private key {}\n",
            key.display()
        )
    );
    assert!(
        !data.exists(),
        "a server that cannot start made its data folder"
    );
    let send = ["--addr", "127.0.0.1:9", "send_msg", "never sent"];
    let out = run(command("cloak-client", keys.path(), Some(&wrong), &send));
    let line = one_line_failure("cloak-client", &out);
    assert!(line.contains("wrong passphrase for private key"), "{line}");
}

#[test]
fn a_passphrase_file_others_can_read_is_refused() {
    let keys = Keys::empty();
    let dir = tempfile::tempdir().unwrap();
    let pass = passphrase_file(dir.path(), "pass", "a passphrase of ours", 0o600);
    let args = ["generate_key_pair", "--encrypt", "--bits", "2048"];
    ok_stdout(&run(command(
        "cloak-server",
        keys.path(),
        Some(&pass),
        &args,
    )));
    fs::set_permissions(&pass, fs::Permissions::from_mode(0o644)).unwrap();
    let mut serve = command("cloak-server", keys.path(), Some(&pass), &[]);
    serve
        .arg("--data")
        .arg(dir.path().join("data"))
        .args(["--addr", "127.0.0.1:0"]);
    let line = one_line_failure("cloak-server", &run(serve));
    assert!(
        line.contains("passphrase file") && line.contains("mode 644") && line.contains("chmod 600"),
        "{line}"
    );
    // Nor is a new key encrypted under it: nothing is written.
    let out = run(command("cloak-client", keys.path(), Some(&pass), &args));
    let line = one_line_failure("cloak-client", &out);
    assert!(line.contains("mode 644"), "{line}");
    assert!(!keys.path().join("client_private.pem").exists());
    assert!(!keys.path().join("client_public.pem").exists());
}

#[test]
fn encrypt_without_a_terminal_or_a_passphrase_file_writes_nothing() {
    let keys = Keys::empty();
    let args = ["generate_key_pair", "--encrypt", "--bits", "2048"];
    let out = run(command("cloak-client", keys.path(), None, &args));
    let line = one_line_failure("cloak-client", &out);
    assert!(line.contains(ENV), "{line}");
    assert_eq!(fs::read_dir(keys.path()).unwrap().count(), 0);
}
