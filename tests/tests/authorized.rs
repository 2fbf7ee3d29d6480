//! Authorized clients (issue #11): a name is one client, so two key files
//! with one name stop the server from starting; and a running server
//! re-reads its key folder, so removing a client's key file revokes it for
//! new connections and adding one authorizes it, without a restart, while
//! a connection already open keeps the clients it started with.

use std::fs;

use cloak_core::MessageId;
use cloak_tests::{Keys, LibClient, Server, client, operator, server_refuses_to_start, texts};

fn sends(keys: &Keys, server: &Server, text: &str) -> bool {
    client(keys.path(), server.addr, &["send_msg", text])
        .status
        .success()
}

/// Bob's public key file in `keys`: `authorized/bob.pem`.
fn authorize_bob(keys: &Keys, bob: &Keys) {
    keys.install(&bob.path().join("client_public.pem"), "authorized/bob.pem");
}

#[test]
fn two_key_files_with_one_name_are_refused_at_start_naming_both() {
    let keys = Keys::new(2048);
    let other = Keys::other_client(2048);
    // `client_public.pem` is authorized as `client`; so would this be.
    keys.install(
        &other.path().join("client_public.pem"),
        "authorized/client.pem",
    );
    let first = keys.path().join("client_public.pem");
    let second = keys.path().join("authorized/client.pem");
    let names_both = |text: &str| {
        text.contains(&first.display().to_string()) && text.contains(&second.display().to_string())
    };

    let stderr = server_refuses_to_start(keys.path(), &[]);
    assert!(names_both(&stderr), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one clear line: {stderr}");

    // Nor does `post --to client` pick one of the two keys at random.
    let data = tempfile::tempdir().unwrap();
    let out = operator(
        keys.path(),
        data.path(),
        &["post", "--to", "client", "which one?"],
    );
    let (stdout, stderr) = texts(&out);
    assert!(!out.status.success(), "{stdout}");
    assert!(names_both(&stderr), "{stderr}");
}

#[test]
fn removing_a_key_file_revokes_and_adding_it_authorizes_without_a_restart() {
    let keys = Keys::new(2048);
    let bob = Keys::other_client(2048);
    authorize_bob(&keys, &bob);
    let server = Server::start(keys.path(), &[]);
    assert!(sends(&bob, &server, "hello from bob"));
    let out = server.operator(keys.path(), &["post", "--to", "bob", "kept for bob"]);
    assert!(out.status.success(), "{}", texts(&out).1);

    fs::remove_file(keys.path().join("authorized/bob.pem")).unwrap();
    server.wait_stderr("no longer authorized: `bob`");
    assert!(!sends(&bob, &server, "bob again"), "a revoked client sent");
    let out = client(bob.path(), server.addr, &["recv_msg"]);
    let (stdout, _) = texts(&out);
    assert!(!out.status.success(), "a revoked client fetched: {stdout}");
    assert!(!stdout.contains("kept for bob"), "{stdout}");
    // Other clients are not affected.
    assert!(sends(&keys, &server, "client is still here"));
    // What waits for the revoked key is still listed.
    let listed = texts(&server.operator(keys.path(), &["clients"])).0;
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("(revoked)") && l.trim_end().ends_with(" 1")),
        "{listed}"
    );

    // The same key authorized again gets what was queued for it.
    authorize_bob(&keys, &bob);
    server.wait_stderr("now authorized: `bob`");
    let out = client(bob.path(), server.addr, &["recv_msg"]);
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("kept for bob"), "{stdout}");
    assert!(sends(&bob, &server, "bob is back"));
}

#[test]
fn a_connection_keeps_the_clients_it_started_with() {
    let keys = Keys::new(2048);
    let bob = Keys::other_client(2048);
    authorize_bob(&keys, &bob);
    let server = Server::start(keys.path(), &[]);
    let lib = LibClient::new(bob.path());
    let (mut raw, hello) = lib.hello(server.addr);

    fs::remove_file(keys.path().join("authorized/bob.pem")).unwrap();
    server.wait_stderr("no longer authorized: `bob`");

    // Accepted before the revocation: served as it was then.
    let (frame, _, _) = lib.send_frame(&hello, b"in flight", MessageId([7; 16]));
    raw.send(&frame);
    match raw.read_server() {
        Some(cloak_core::session::ServerMessage::Receipt(receipt)) => {
            assert_eq!(receipt.message_id, MessageId([7; 16]));
        }
        other => panic!("expected a receipt, got {other:?}"),
    }
    // A new connection is refused.
    assert!(!lib.send(server.addr, b"too late", MessageId([8; 16])));
}

#[test]
fn a_second_key_for_a_taken_name_is_ignored_while_running() {
    let keys = Keys::new(2048);
    let other = Keys::other_client(2048);
    let server = Server::start(keys.path(), &[]);
    keys.install(
        &other.path().join("client_public.pem"),
        "authorized/client.pem",
    );
    let newcomer = keys.path().join("authorized/client.pem");
    let mark = format!("ignored {}", newcomer.display());
    let stderr = server.wait_stderr(&mark);
    let line = stderr.lines().find(|l| l.contains(&mark)).expect("a line");
    let incumbent = keys.path().join("client_public.pem");
    assert!(
        line.contains(&incumbent.display().to_string()),
        "the file that keeps the name is not named: {line}"
    );
    assert!(!sends(&other, &server, "the newcomer"));
    assert!(sends(&keys, &server, "the client it knew"));
}

#[test]
fn a_key_file_that_fails_to_load_while_running_keeps_the_key_it_held() {
    let keys = Keys::new(2048);
    let bob = Keys::other_client(2048);
    authorize_bob(&keys, &bob);
    let server = Server::start(keys.path(), &[]);
    let bob_file = keys.path().join("authorized/bob.pem");
    fs::write(&bob_file, "half a key").unwrap();
    let stderr = server.wait_stderr("keeping the key it held");
    assert!(stderr.contains(&bob_file.display().to_string()), "{stderr}");
    assert!(sends(&bob, &server, "bob, unaffected"));

    // A new file that does not load is logged and authorizes nobody.
    let carol = keys.path().join("authorized/carol.pem");
    fs::write(&carol, "not a key").unwrap();
    let stderr = server.wait_stderr(&carol.display().to_string());
    assert!(!stderr.contains("now authorized: `carol`"), "{stderr}");
    assert!(sends(&keys, &server, "client, unaffected"));

    // Removing the broken file still revokes.
    fs::remove_file(&bob_file).unwrap();
    server.wait_stderr("no longer authorized: `bob`");
    assert!(!sends(&bob, &server, "bob, revoked"));
}
