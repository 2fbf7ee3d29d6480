//! A client of one build against a server of another: the default build
//! (RustCrypto) and one with the cargo feature `aws-lc`. Both directions,
//! both modes, a message of several stream chunks each way (sent, and
//! delivered: re-sealed by the server's build, opened in place by the
//! client's).
//!
//! CI builds the second configuration into its own target folder and names
//! the folder holding the other build's binaries in `CLOAK_OTHER_BUILD`
//! (see `.ci/run`); without it, this test says that it skipped.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cloak_tests::{Keys, Server, bin, texts};

fn other_build() -> Option<PathBuf> {
    std::env::var_os("CLOAK_OTHER_BUILD").map(PathBuf::from)
}

fn version(program: &Path) -> String {
    let out = Command::new(program).arg("--version").output().unwrap();
    String::from_utf8(out.stdout).unwrap()
}

fn run_client(program: &Path, keys: &Path, server: &Server, args: &[&str]) -> Output {
    let out = Command::new(program)
        .arg("--keys")
        .arg(keys)
        .args(["--addr", &server.addr.to_string(), "--timeout", "20"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {}", texts(&out).1);
    out
}

/// Sends in both modes (hybrid with a file of three chunks), then receives.
fn talk(server_program: &Path, client_program: &Path) {
    let keys = Keys::new(2048);
    let server = Server::start_program(server_program, keys.path(), &[]);
    let what = format!("{} -> {}", version(client_program), version(server_program));
    for mode in ["asymmetric", "hybrid"] {
        let text = format!("across builds in {mode} mode");
        run_client(
            client_program,
            keys.path(),
            &server,
            &["--mode", mode, "send_msg", &text],
        );
        server.wait_stdout(&text);
        let out = run_client(
            client_program,
            keys.path(),
            &server,
            &["--mode", mode, "recv_msg"],
        );
        let stdout = texts(&out).0;
        assert!(
            stdout.contains("This is a message from the server!"),
            "{what}: {stdout}"
        );
    }
    let file = keys.path().join("large.bin");
    let large: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &large).unwrap();
    let args = [
        "--mode",
        "hybrid",
        "send_msg",
        "--file",
        file.to_str().unwrap(),
    ];
    let out = run_client(client_program, keys.path(), &server, &args);
    assert!(texts(&out).0.contains("receipt verified"), "{what}");
    deliver_stream(server_program, client_program, &keys, &server, &file);
}

/// The server's build posts `file` (a stream of three chunks, re-sealed in
/// place on delivery); the client's build receives it into a file.
fn deliver_stream(
    server_program: &Path,
    client_program: &Path,
    keys: &Keys,
    server: &Server,
    file: &Path,
) {
    let posted = Command::new(server_program)
        .arg("--keys")
        .arg(keys.path())
        .arg("--data")
        .arg(&server.data)
        .args(["post", "--to", "client", "-"])
        .stdin(std::fs::File::open(file).unwrap())
        .output()
        .unwrap();
    assert!(posted.status.success(), "post: {}", texts(&posted).1);
    let out_file = keys.path().join("received.bin");
    let out = out_file.to_str().unwrap();
    run_client(
        client_program,
        keys.path(),
        server,
        &["recv_msg", "--out", out],
    );
    assert!(std::fs::read(&out_file).unwrap() == std::fs::read(file).unwrap());
}

#[test]
fn a_client_of_each_build_talks_to_a_server_of_the_other() {
    let Some(other) = other_build() else {
        eprintln!("skipped: CLOAK_OTHER_BUILD names no other build (CI sets it)");
        return;
    };
    let (server, client) = (bin("cloak-server"), bin("cloak-client"));
    let (other_server, other_client) = (other.join("cloak-server"), other.join("cloak-client"));
    // Two builds of one backend would prove nothing.
    assert_ne!(version(&server), version(&other_server));
    assert_ne!(version(&client), version(&other_client));
    talk(&server, &other_client);
    talk(&other_server, &client);
}
