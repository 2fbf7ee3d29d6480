//! Something leaves the store: the operator deletes messages by id (even a
//! queued one while it is being delivered), the server can expire received
//! messages by age, and one sender can be held to a share of the store.
//! Before, once `--max-store-bytes` was reached, every sender got
//! `StorageFull` for good.

use std::thread;
use std::time::Duration;

use cloak_tests::{Keys, Server, client, delivered_id, ok_stdout, operator_command, texts};

fn stream_files(server: &Server) -> usize {
    std::fs::read_dir(server.data.join("messages"))
        .unwrap()
        .count()
}

#[test]
fn delete_removes_received_messages_and_their_files() {
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &[]);
    let work = tempfile::tempdir().unwrap();
    let big = work.path().join("big.bin");
    std::fs::write(&big, vec![b'z'; 300_000]).unwrap();
    let kept = delivered_id(&ok_stdout(&client(
        keys.path(),
        server.addr,
        &["send_msg", "keep me"],
    )));
    let gone = delivered_id(&ok_stdout(&client(
        keys.path(),
        server.addr,
        &["send_msg", "--file", big.to_str().unwrap()],
    )));
    assert_eq!(stream_files(&server), 1);
    let out = ok_stdout(&server.operator(keys.path(), &["delete", &gone]));
    assert!(out.contains(&format!("Deleted {gone}")), "{out}");
    let inbox = ok_stdout(&server.operator(keys.path(), &["inbox"]));
    assert!(inbox.contains(&kept) && !inbox.contains(&gone), "{inbox}");
    assert_eq!(stream_files(&server), 0, "its file went with it");

    let again = server.operator(keys.path(), &["delete", &gone]);
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(texts(&again).1.lines().count(), 1, "{}", texts(&again).1);
    let partial = server.operator(keys.path(), &["delete", "5e3a"]);
    assert_eq!(partial.status.code(), Some(1), "a prefix deletes nothing");
}

#[test]
fn a_queued_message_deleted_during_its_delivery_leaves_everything_sound() {
    let keys = Keys::new(2048);
    let mut server = Server::start(keys.path(), &[]);
    let work = tempfile::tempdir().unwrap();
    let big = work.path().join("big.bin");
    std::fs::write(&big, vec![b'q'; 40_000_000]).unwrap();
    let posted = operator_command(keys.path(), &server.data, &["post", "--to", "client", "-"])
        .stdin(std::fs::File::open(&big).unwrap())
        .output()
        .unwrap();
    let queued = ok_stdout(&posted);
    let id = queued.split_whitespace().nth(2).unwrap().to_owned();
    let out = work.path().join("got.bin");
    let receiving = {
        let (keys, addr, out) = (keys.path().to_owned(), server.addr, out.clone());
        thread::spawn(move || client(&keys, addr, &["recv_msg", "--out", out.to_str().unwrap()]))
    };
    thread::sleep(Duration::from_millis(50));
    ok_stdout(&server.operator(keys.path(), &["delete", &id]));
    let received = receiving.join().unwrap();
    // Either it arrived whole and verified (the file was already open) or
    // the client failed cleanly, with nothing written.
    if received.status.success() {
        assert!(std::fs::read(&out).unwrap() == std::fs::read(&big).unwrap());
    } else {
        assert_eq!(
            texts(&received).1.lines().count(),
            1,
            "{}",
            texts(&received).1
        );
        assert!(!out.exists());
    }
    let after = ok_stdout(&client(keys.path(), server.addr, &["recv_msg"]));
    assert!(
        after.contains("This is a message from the server!"),
        "{after}"
    );
    assert_eq!(stream_files(&server), 0);
    assert!(server.is_running());
}

#[test]
fn received_messages_expire_after_the_given_age() {
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &["--expire-after", "2s"]);
    let id = delivered_id(&ok_stdout(&client(
        keys.path(),
        server.addr,
        &["send_msg", "brief"],
    )));
    assert!(ok_stdout(&server.operator(keys.path(), &["inbox"])).contains(&id));
    server.wait_stderr("expired 1 received message(s)");
    let inbox = ok_stdout(&server.operator(keys.path(), &["inbox"]));
    assert_eq!(inbox.trim(), "The inbox is empty.");
}

#[test]
fn one_sender_is_held_to_its_share_and_others_still_store() {
    let keys = Keys::new(2048);
    let other = Keys::other_client(2048);
    keys.install(
        &other.path().join("client_public.pem"),
        "authorized/bob.pem",
    );
    let server = Server::start(
        keys.path(),
        &["--max-store-bytes", "200000", "--max-sender-share", "10"],
    );
    // 20 KB for each sender: two of 8 KB fit, a third does not.
    let text = "x".repeat(8_000);
    for _ in 0..2 {
        ok_stdout(&client(keys.path(), server.addr, &["send_msg", &text]));
    }
    let full = client(keys.path(), server.addr, &["send_msg", &text]);
    assert_eq!(full.status.code(), Some(1));
    assert!(
        texts(&full).1.contains("the server is full"),
        "{}",
        texts(&full).1
    );
    ok_stdout(&client(other.path(), server.addr, &["send_msg", &text]));
}
