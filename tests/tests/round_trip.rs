//! The real binaries over loopback: send and receive in both modes, with
//! 2048 and 3072-bit keys, and with the openssl PKCS#1 files of the Python
//! original.

use cloak_tests::{Keys, Server, client, fixture, texts};

fn send_and_receive(keys: &Keys) {
    let server = Server::start(keys.path(), &[]);
    for mode in ["asymmetric", "hybrid"] {
        let message = format!("hello in {mode} mode");
        let out = client(
            keys.path(),
            server.addr,
            &["--mode", mode, "send_msg", &message],
        );
        let (stdout, stderr) = texts(&out);
        assert!(out.status.success(), "send {mode}: {stderr}");
        assert!(stdout.contains("receipt verified"), "{stdout}");
        let printed = server.wait_stdout(&message);
        let report = &printed[..printed.find(&message).unwrap()];
        let tail = report
            .rsplit("Message confidentiality passed.")
            .next()
            .unwrap();
        assert!(
            tail.contains("Message integrity & sender authentication passed.")
                && tail.contains("Message from client (SHA256:")
                && tail.contains(&format!("{mode} mode")),
            "{printed}"
        );

        let out = client(keys.path(), server.addr, &["--mode", mode, "recv_msg"]);
        let (stdout, stderr) = texts(&out);
        assert!(out.status.success(), "recv {mode}: {stderr}");
        assert!(
            stdout.contains("Message confidentiality passed."),
            "{stdout}"
        );
        assert!(
            stdout.contains("Message integrity & sender authentication passed."),
            "{stdout}"
        );
        assert!(
            stdout.contains("This is a message from the server!"),
            "{stdout}"
        );
        assert!(stdout.contains(&format!("{mode} mode")), "{stdout}");
    }
}

#[test]
fn both_modes_with_2048_bit_keys() {
    send_and_receive(&Keys::new(2048));
}

#[test]
fn both_modes_with_3072_bit_keys() {
    send_and_receive(&Keys::new(3072));
}

#[test]
fn openssl_pkcs1_key_files_of_the_original_work() {
    let keys = Keys::empty();
    keys.copy_from(&fixture("python-keys"));
    send_and_receive(&keys);
}

/// Keys made by python-rsa, as the original made them (unequal primes).
#[test]
fn python_rsa_key_files_of_the_original_work() {
    let keys = Keys::empty();
    keys.copy_from(&fixture("python-rsa-keys"));
    send_and_receive(&keys);
    // Slower arithmetic for such a key (on either backend): the operator
    // is told.
    let server = Server::start(keys.path(), &[]);
    server.wait_stderr("the server key's primes differ in size");
}

#[test]
fn messages_from_stdin_and_file_and_unicode() {
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &[]);
    let file = keys.path().join("note.txt");
    std::fs::write(&file, "from a file: ünïcødé ✓").unwrap();
    let out = client(
        keys.path(),
        server.addr,
        &["send_msg", "--file", file.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", texts(&out).1);
    server.wait_stdout("from a file: ünïcødé ✓");

    let out = std::process::Command::new(cloak_tests::bin("cloak-client"))
        .args([
            "--keys",
            keys.path().to_str().unwrap(),
            "--addr",
            &server.addr.to_string(),
        ])
        .args(["send_msg", "-"])
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", texts(&out).1);
    server.wait_stdout_count("from a file: ünïcødé ✓", 2);
}

#[test]
fn a_terminal_escape_in_a_message_is_shown_escaped() {
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &[]);
    let out = client(
        keys.path(),
        server.addr,
        &["send_msg", "ok\u{1b}[2K forged line"],
    );
    assert!(out.status.success());
    let printed = server.wait_stdout("forged line");
    assert!(printed.contains("ok\\u{1b}[2K forged line"), "{printed}");
    assert!(!printed.contains('\u{1b}'));
}

#[test]
fn show_wire_prints_no_plaintext() {
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &[]);
    let secret = "the eagle lands at midnight";
    for mode in ["asymmetric", "hybrid"] {
        let out = client(
            keys.path(),
            server.addr,
            &["--show-wire", "--mode", mode, "send_msg", secret],
        );
        let (_, stderr) = texts(&out);
        assert!(out.status.success(), "{stderr}");
        assert!(stderr.contains("[wire] client -> server"), "{stderr}");
        assert!(stderr.contains("[wire] server -> client"), "{stderr}");
        let hex: String = secret
            .bytes()
            .take(8)
            .map(|b| format!("{b:02x} "))
            .collect();
        assert!(
            !stderr.contains(secret) && !stderr.contains(hex.trim()),
            "{stderr}"
        );
    }
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &[]);
    let out = client(keys.path(), server.addr, &["send_msg", "before shutdown"]);
    assert!(out.status.success());
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
}
