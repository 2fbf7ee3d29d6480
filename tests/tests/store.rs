//! The cloakroom keeps what it is given: received messages survive
//! `kill -9`, nothing partial or unverified is stored, retries are stored
//! once, mailboxes deliver until acknowledged, and a full store refuses
//! clearly while the server keeps serving.

use std::collections::HashSet;
use std::thread;

use cloak_core::MessageId;
use cloak_tests::{Keys, LibClient, Recorder, Server, client, delivered_id, ok_stdout, texts};

#[test]
fn receipted_message_survives_kill_9_and_restart() {
    let keys = Keys::new(2048);
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_with_data(keys.path(), data.path(), &[]);
    let out = client(keys.path(), server.addr, &["send_msg", "keep me safe"]);
    let id = delivered_id(&ok_stdout(&out));
    // The inbox is readable while the server runs.
    assert!(ok_stdout(&server.operator(keys.path(), &["inbox"])).contains(&id));
    server.kill9();

    let server = Server::start_with_data(keys.path(), data.path(), &[]);
    let inbox = ok_stdout(&server.operator(keys.path(), &["inbox"]));
    let line = inbox.lines().find(|l| l.starts_with(&id)).expect("listed");
    assert!(
        line.contains("client") && line.contains("hybrid") && line.trim_end().ends_with("12"),
        "{line}"
    );
    let shown = ok_stdout(&server.operator(keys.path(), &["read", &id[..10]]));
    assert!(shown.contains("Message confidentiality passed."), "{shown}");
    assert!(
        shown.contains("Message integrity & sender authentication passed."),
        "{shown}"
    );
    assert!(shown.contains("keep me safe"), "{shown}");
    // Encrypted at rest: the plaintext is nowhere in the data folder.
    let mut files = vec![data.path().to_path_buf()];
    let mut checked = 0;
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(12).any(|w| w == b"keep me safe"),
                "{}",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 2, "the database and the message file");
}

#[test]
fn kill_9_mid_stream_leaves_no_spool_and_no_message_after_restart() {
    // Killed while a large stream is being spooled: the client gets no
    // receipt, and the restarted server has swept the spool and stores
    // nothing of it.
    let keys = Keys::new(2048);
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let server = Server::start_with_data(keys.path(), data.path(), &[]);
    let big = work.path().join("big.bin");
    std::fs::write(&big, vec![b'k'; 200_000_000]).unwrap();
    let sending = {
        let (keys, addr, big) = (keys.path().to_owned(), server.addr, big.clone());
        thread::spawn(move || client(&keys, addr, &["send_msg", "--file", big.to_str().unwrap()]))
    };
    let spool = data.path().join("spool");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::fs::read_dir(&spool).map_or(0, |d| d.count()) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the stream never spooled"
        );
        thread::sleep(std::time::Duration::from_millis(5));
    }
    server.kill9();
    let sent = sending.join().unwrap();
    assert_ne!(
        sent.status.code(),
        Some(0),
        "no receipt from a killed server"
    );

    let server = Server::start_with_data(keys.path(), data.path(), &[]);
    assert_eq!(std::fs::read_dir(&spool).unwrap().count(), 0, "spool swept");
    assert_eq!(
        std::fs::read_dir(data.path().join("messages"))
            .unwrap()
            .count(),
        0
    );
    let inbox = ok_stdout(&server.operator(keys.path(), &["inbox"]));
    assert_eq!(inbox.trim(), "The inbox is empty.");
}

#[test]
fn another_text_under_a_stored_id_is_refused_not_receipted() {
    // Each attempt draws a new receipt key, so the text itself tells a
    // retry from another message; once, any text under a stored id got a
    // receipt while the first text stayed stored.
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &[]);
    let lib = LibClient::new(keys.path());
    let id = MessageId([0x6f; 16]);
    assert!(lib.send(server.addr, b"pay 10 coins", id), "first attempt");
    assert!(lib.send(server.addr, b"pay 10 coins", id), "a true retry");
    assert!(!lib.send(server.addr, b"pay 99 coins", id), "another text");
    server.wait_stdout("another message from this sender is already stored");
    let read = ok_stdout(&server.operator(keys.path(), &["read", &id.to_string()]));
    assert!(
        read.contains("pay 10 coins") && !read.contains("pay 99 coins"),
        "{read}"
    );
}

#[test]
fn retried_send_is_stored_once_and_replay_stores_nothing() {
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &[]);
    let lib = LibClient::new(keys.path());
    let id = MessageId([0x5e; 16]);
    assert!(lib.send(server.addr, b"retry me", id), "first attempt");
    assert!(
        lib.send(server.addr, b"retry me", id),
        "retry after a lost receipt"
    );
    server.wait_stdout("the client retried");
    let inbox = ok_stdout(&server.operator(keys.path(), &["inbox"]));
    assert_eq!(inbox.matches(&id.to_string()).count(), 1, "{inbox}");

    let recorder = Recorder::start(server.addr);
    let out = client(keys.path(), recorder.addr, &["send_msg", "recorded"]);
    ok_stdout(&out);
    let recorded = recorder.finish();
    let before = ok_stdout(&server.operator(keys.path(), &["inbox"]))
        .lines()
        .count();
    let (mut raw, _) = lib.hello(server.addr);
    raw.send(&recorded);
    assert!(matches!(
        raw.read_server(),
        Some(cloak_core::session::ServerMessage::Error { .. })
    ));
    let after = ok_stdout(&server.operator(keys.path(), &["inbox"]))
        .lines()
        .count();
    assert_eq!(before, after, "the replay stored nothing");
}

#[test]
fn posted_messages_are_delivered_until_acknowledged() {
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &[]);
    ok_stdout(&server.operator(keys.path(), &["post", "--to", "client", "first news"]));
    ok_stdout(&server.operator(keys.path(), &["post", "--to", "client", "second news"]));
    let clients = ok_stdout(&server.operator(keys.path(), &["clients"]));
    assert!(
        clients
            .lines()
            .any(|l| l.starts_with("client") && l.trim_end().ends_with(" 2")),
        "{clients}"
    );

    let got = ok_stdout(&client(keys.path(), server.addr, &["recv_msg"]));
    let (first, second) = (
        got.find("first news").unwrap(),
        got.find("second news").unwrap(),
    );
    assert!(first < second, "oldest first: {got}");
    assert!(!got.contains("This is a message from the server!"), "{got}");
    assert_eq!(
        got.matches("Message integrity & sender authentication passed.")
            .count(),
        2
    );

    let again = ok_stdout(&client(keys.path(), server.addr, &["recv_msg"]));
    assert!(
        !again.contains("news") && again.contains("This is a message from the server!"),
        "{again}"
    );

    // A client that dies before acknowledging gets the message again.
    ok_stdout(&server.operator(keys.path(), &["post", "--to", "client", "third news"]));
    let lib = LibClient::new(keys.path());
    assert_eq!(lib.fetch_without_ack(server.addr), 1);
    server.wait_stderr("messages stay queued");
    let redelivered = ok_stdout(&client(
        keys.path(),
        server.addr,
        &["--mode", "asymmetric", "recv_msg"],
    ));
    assert!(
        redelivered.contains("third news") && redelivered.contains("asymmetric mode"),
        "{redelivered}"
    );
    let clients = ok_stdout(&server.operator(keys.path(), &["clients"]));
    assert!(
        clients
            .lines()
            .any(|l| l.starts_with("client") && l.trim_end().ends_with(" 0")),
        "{clients}"
    );
}

#[test]
fn operator_errors_are_clear() {
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &[]);
    let cases: &[(&[&str], &str)] = &[
        (&["read", "0123456789abcdef"], "no message with id"),
        (&["read", "not-hex"], "no message with id"),
        (
            &["post", "--to", "mallory", "hi"],
            "no authorized client named `mallory`",
        ),
    ];
    for (args, expected) in cases {
        let out = server.operator(keys.path(), args);
        let (_, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    }
}

#[test]
fn mailbox_limit_is_enforced() {
    let keys = Keys::new(2048);
    let data = tempfile::tempdir().unwrap();
    let limit = ["--max-mailbox", "2"];
    let run = |text: &str| {
        cloak_tests::operator(
            keys.path(),
            data.path(),
            &[&limit[..], &["post", "--to", "client", text]].concat(),
        )
    };
    ok_stdout(&run("one"));
    ok_stdout(&run("two"));
    let out = run("three");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        texts(&out)
            .1
            .contains("mailbox of `client` is full (2 messages waiting)"),
        "{}",
        texts(&out).1
    );
}

#[test]
fn full_store_refuses_clearly_and_keeps_serving() {
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &["--max-store-bytes", "4000"]);
    ok_stdout(&client(keys.path(), server.addr, &["send_msg", "small"]));
    let big = "x".repeat(5000);
    let out = client(keys.path(), server.addr, &["send_msg", &big]);
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stderr.contains("the server is full") && !stdout.contains("delivered"),
        "{stderr}"
    );
    server.wait_stdout("Not stored: the message store is full");
    assert_eq!(
        ok_stdout(&server.operator(keys.path(), &["inbox"]))
            .lines()
            .count(),
        2,
        "header + one"
    );
    ok_stdout(&client(keys.path(), server.addr, &["send_msg", "still ok"]));
}

/// A data folder on a tiny tmpfs that really fills up. Needs the right to
/// mount (root); without it the test says so and checks nothing else,
/// except under CI (`CI` set), where a test that checks nothing must fail.
#[test]
fn full_disk_gives_a_clear_failure_and_no_receipt() {
    let keys = Keys::new(2048);
    let mount = tempfile::tempdir().unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=512k", "tmpfs"])
        .arg(mount.path())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        assert!(
            std::env::var_os("CI").is_none(),
            "cannot mount a tmpfs (needs root), and CI must not skip this test"
        );
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    }
    struct Unmount<'a>(&'a std::path::Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(mount.path());
    let data = mount.path().join("data");
    let server = Server::start_with_data(keys.path(), &data, &[]);
    ok_stdout(&client(keys.path(), server.addr, &["send_msg", "fits"]));
    // Fill the disk, leaving too little for the next message.
    let filler = mount.path().join("filler");
    let _ = std::fs::write(&filler, vec![0u8; 512 * 1024]);
    let big = mount.path().join("big.txt");
    let _ = std::fs::remove_file(&big);
    let message = keys.path().join("big.txt");
    std::fs::write(&message, vec![b'z'; 300_000]).unwrap();
    let out = client(
        keys.path(),
        server.addr,
        &["send_msg", "--file", message.to_str().unwrap()],
    );
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("could not store the message") && !stdout.contains("delivered"),
        "{stderr}"
    );
    server.wait_stdout("Not stored:");
    // Room again: the server is still serving and storing.
    std::fs::remove_file(&filler).unwrap();
    ok_stdout(&client(
        keys.path(),
        server.addr,
        &["send_msg", "after the disk was freed"],
    ));
}

#[test]
fn concurrent_senders_are_each_stored_exactly_once() {
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &[]);
    let addr = server.addr;
    let ids: Vec<String> = thread::scope(|scope| {
        let handles: Vec<_> = (0..12)
            .map(|i| {
                let keys = keys.path();
                scope.spawn(move || {
                    let mode = if i % 2 == 0 { "hybrid" } else { "asymmetric" };
                    let out = client(
                        keys,
                        addr,
                        &["--mode", mode, "send_msg", &format!("concurrent {i}")],
                    );
                    delivered_id(&ok_stdout(&out))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let unique: HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), 12);
    let inbox = ok_stdout(&server.operator(keys.path(), &["inbox"]));
    for id in &ids {
        assert_eq!(inbox.matches(id.as_str()).count(), 1, "{id} in {inbox}");
    }
    assert_eq!(inbox.lines().count(), 13, "header + 12: {inbox}");
}

#[test]
fn client_retries_a_lost_receipt_with_the_same_id() {
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &[]);
    let relay = cloak_tests::LossyRelay::start(server.addr, 2);
    let out = client(keys.path(), relay.addr, &["send_msg", "say it once"]);
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains("attempt 1 failed") && stderr.contains("retrying"),
        "{stderr}"
    );
    let id = delivered_id(&stdout);
    server.wait_stdout("the client retried");
    let inbox = ok_stdout(&server.operator(keys.path(), &["inbox"]));
    assert_eq!(inbox.matches(&id).count(), 1, "{inbox}");
    assert_eq!(inbox.lines().count(), 2, "header + one: {inbox}");
}
