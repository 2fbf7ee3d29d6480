//! Mailboxes always drain: a delivery holds what the client's frame limit
//! allows and leaves the rest for the next fetch, and a message one mode
//! cannot carry does not stop the ones before it.

use std::process::Stdio;

use cloak_tests::{Keys, Server, client, ok_stdout, operator_command, texts};

/// Queues `text` for `client` through the operator command, from stdin.
fn post(keys: &Keys, server: &Server, text: &[u8]) {
    let mut posting = operator_command(keys.path(), &server.data, &["post", "--to", "client", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = posting.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, text).unwrap();
    drop(stdin);
    let posted = posting.wait_with_output().unwrap();
    assert!(posted.status.success(), "{}", texts(&posted).1);
}

/// Text of `len` bytes, marked with `n` at its start so each is told apart.
fn text(n: usize, len: usize) -> Vec<u8> {
    let mut text = format!("message {n:02} ").into_bytes();
    text.resize(len, b'x');
    text
}

#[test]
fn seventeen_messages_of_a_megabyte_drain_over_several_fetches() {
    // 17 MB: more than one frame to the client may hold. Each fetch once
    // failed, and nothing was ever acknowledged.
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &[]);
    for n in 0..17 {
        post(&keys, &server, &text(n, 1_000_000));
    }
    let mut seen = Vec::new();
    for _ in 0..17 {
        let out = ok_stdout(&client(keys.path(), server.addr, &["recv_msg"]));
        if out.contains("This is a message from the server!") {
            break;
        }
        for n in 0..17 {
            if out.contains(&format!("message {n:02} ")) {
                seen.push(n);
            }
        }
    }
    assert_eq!(seen, (0..17).collect::<Vec<_>>(), "each once, in order");
}

#[test]
fn a_message_too_large_for_asymmetric_mode_does_not_stop_those_before_it() {
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &[]);
    post(&keys, &server, &text(1, 100));
    post(&keys, &server, &text(2, 100_000));
    let asymmetric = ["--mode", "asymmetric", "recv_msg"];
    let first = ok_stdout(&client(keys.path(), server.addr, &asymmetric));
    assert!(first.contains("message 01 "), "{first}");
    // Alone at the head of the mailbox, the large one gets a clear answer,
    // and hybrid mode takes it.
    let refused = client(keys.path(), server.addr, &asymmetric);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        texts(&refused).1.contains("--mode hybrid"),
        "{}",
        texts(&refused).1
    );
    let second = ok_stdout(&client(keys.path(), server.addr, &["recv_msg"]));
    assert!(second.contains("message 02 "), "{second}");
}
