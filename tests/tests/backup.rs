//! `cloak-server backup DIR` beside a running server: the copy is taken
//! while messages arrive, a second server starts on it, and every message
//! reads back identical (received and queued, small and streamed); a
//! backup that cannot be made leaves nothing behind and says why in one
//! line.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cloak_tests::{
    Keys, Server, bin, client, delivered_id, ok_stdout, operator, operator_command, texts,
};

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect()
}

fn send(keys: &Keys, server: &Server, args: &[&str]) -> String {
    delivered_id(&ok_stdout(&client(keys.path(), server.addr, args)))
}

/// Reads received message `id` from the data folder `data` into a file
/// and returns its bytes.
fn read_back(keys: &Keys, data: &Path, id: &str, work: &Path) -> Vec<u8> {
    let out = work.join(format!("{id}.read"));
    let shown = ok_stdout(&operator(
        keys.path(),
        data,
        &["read", id, "--out", out.to_str().unwrap()],
    ));
    assert!(
        shown.contains("Message integrity & sender authentication passed."),
        "{shown}"
    );
    std::fs::read(out).unwrap()
}

/// Waits until the server spools a stream (a send is in flight).
fn wait_for_spool(server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_dir(server.data.join("spool"))
        .unwrap()
        .count()
        == 0
    {
        assert!(Instant::now() < deadline, "no stream was ever spooled");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// What a test stored before its backup: received messages (id, text),
/// and the large message queued for the client (a small one follows it).
struct Stored {
    received: Vec<(String, Vec<u8>)>,
    queued_large: Vec<u8>,
}

/// Sends small messages in both modes and a stream of a few MiB, and
/// queues a stream file and a small message for the client.
fn store_some(keys: &Keys, server: &Server, w: &Path) -> Stored {
    let mut received = Vec::new();
    for (args, text) in [
        (&["send_msg"][..], "a hybrid note"),
        (
            &["--mode", "asymmetric", "send_msg"][..],
            "an asymmetric note",
        ),
    ] {
        let args: Vec<&str> = args.iter().copied().chain([text]).collect();
        received.push((send(keys, server, &args), text.as_bytes().to_vec()));
    }
    let large = pattern(3 * 1024 * 1024 + 17, 7);
    let file = w.join("large.bin");
    std::fs::write(&file, &large).unwrap();
    let args = ["send_msg", "--file", file.to_str().unwrap()];
    received.push((send(keys, server, &args), large));
    // Over 1 MiB: queued as a stream file.
    let queued_large = pattern(2 * 1024 * 1024 + 5, 11);
    std::fs::write(w.join("queued.bin"), &queued_large).unwrap();
    let posted = operator_command(keys.path(), &server.data, &["post", "--to", "client", "-"])
        .stdin(std::fs::File::open(w.join("queued.bin")).unwrap())
        .output()
        .unwrap();
    ok_stdout(&posted);
    ok_stdout(&server.operator(keys.path(), &["post", "--to", "client", "queued hello"]));
    Stored {
        received,
        queued_large,
    }
}

#[test]
fn a_backup_taken_while_the_server_runs_serves_every_message_from_a_second_server() {
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &[]);
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let stored = store_some(&keys, &server, w);

    // A large send in flight while the backup runs: it is in the copy
    // whole, or not at all.
    let in_flight = pattern(48 * 1024 * 1024, 13);
    std::fs::write(w.join("flight.bin"), &in_flight).unwrap();
    let flying = Command::new(bin("cloak-client"))
        .arg("--keys")
        .arg(keys.path())
        .args(["--addr", &server.addr.to_string(), "send_msg", "--file"])
        .arg(w.join("flight.bin"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_spool(&server);
    let copy = w.join("backups").join("copy");
    std::fs::create_dir(w.join("backups")).unwrap();
    let done = ok_stdout(&server.operator(keys.path(), &["backup", copy.to_str().unwrap()]));
    assert!(done.contains(" and 2 queued message(s)"), "{done}");
    let flown = flying.wait_with_output().unwrap();
    let flight_id = delivered_id(&ok_stdout(&flown));
    let left: Vec<_> = std::fs::read_dir(w.join("backups")).unwrap().collect();
    assert_eq!(left.len(), 1, "only the finished copy, no partial folder");
    assert_eq!(
        std::fs::read_dir(copy.join("spool")).unwrap().count(),
        0,
        "streams being written are not copied"
    );

    // The original goes on; the copy is a data folder of its own.
    let second = Server::start_with_data(keys.path(), &copy, &[]);
    let inbox = ok_stdout(&second.operator(keys.path(), &["inbox"]));
    for (id, text) in &stored.received {
        assert_eq!(&read_back(&keys, &copy, id, w), text, "message {id}");
    }
    if inbox.contains(&flight_id) {
        assert!(read_back(&keys, &copy, &flight_id, w) == in_flight);
        assert!(done.contains("Backed up 4 received"), "{done}");
    } else {
        assert!(done.contains("Backed up 3 received"), "{done}");
    }

    let got = w.join("got.bin");
    ok_stdout(&client(
        keys.path(),
        second.addr,
        &["recv_msg", "--out", got.to_str().unwrap()],
    ));
    assert!(std::fs::read(&got).unwrap() == stored.queued_large);
    let small = ok_stdout(&client(keys.path(), second.addr, &["recv_msg"]));
    assert!(small.contains("queued hello"), "{small}");
    // The original still has them queued: the copy is independent.
    let clients = ok_stdout(&server.operator(keys.path(), &["clients"]));
    assert!(
        clients
            .lines()
            .any(|l| l.starts_with("client ") && l.trim_end().ends_with(" 2")),
        "{clients}"
    );
}

#[test]
fn a_backup_that_cannot_be_made_says_why_in_one_line_and_leaves_nothing() {
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &[]);
    send(&keys, &server, &["send_msg", "kept"]);
    let work = tempfile::tempdir().unwrap();
    let taken = work.path().join("taken");
    std::fs::create_dir(&taken).unwrap();
    std::fs::write(taken.join("something"), b"mine").unwrap();

    let fails = |data: &Path, target: &Path, expect: &str| {
        let out = operator(keys.path(), data, &["backup", target.to_str().unwrap()]);
        let (stdout, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert!(
            lines.len() == 1 && lines[0].starts_with("cloak-server: error:"),
            "{stderr}"
        );
        assert!(stderr.contains(expect), "{stderr}");
    };
    fails(&server.data, &taken, "not empty");
    assert_eq!(
        std::fs::read_dir(&taken).unwrap().count(),
        1,
        "left as it was"
    );
    let missing = work.path().join("no-such-data");
    fails(&missing, &work.path().join("copy"), "no message store");
    assert!(!missing.exists(), "no store is created by a backup");
    let names: Vec<_> = std::fs::read_dir(work.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["taken"], "no partial folder left behind");

    // An empty folder is a fine target.
    let empty = work.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let done = ok_stdout(&server.operator(keys.path(), &["backup", empty.to_str().unwrap()]));
    assert!(
        done.starts_with("Backed up 1 received and 0 queued"),
        "{done}"
    );
}
