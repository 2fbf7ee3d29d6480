//! The data folder is one server's: a second server on it is refused,
//! naming the holder, and operator commands run beside a server that is
//! receiving never destroy what it writes (they once swept a stream in
//! flight away, and could delete a receipted message's file).

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use cloak_tests::{
    Keys, Server, bin, client, delivered_id, ok_stdout, operator, operator_command, texts,
};

#[test]
fn a_second_server_on_the_same_data_folder_is_refused_naming_the_first() {
    let keys = Keys::new(2048);
    let first = Server::start(keys.path(), &[]);
    let second = Command::new(bin("cloak-server"))
        .arg("--keys")
        .arg(keys.path())
        .arg("--data")
        .arg(&first.data)
        .args(["--addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    let (_, stderr) = texts(&second);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("in use by another cloak-server")
            && stderr.contains(&format!("process {}", first.pid()))
            && stderr.contains("server.lock"),
        "{stderr}"
    );
    let out = client(
        keys.path(),
        first.addr,
        &["send_msg", "the first serves on"],
    );
    ok_stdout(&out);
}

/// Bytes that differ at every position, so any damage shows.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0] ^ seed)
        .collect()
}

/// Sends a pattern of `len` bytes from a file in `work`; its receipted id
/// and the text.
fn send_pattern(
    keys: &Keys,
    server: &Server,
    work: &std::path::Path,
    seed: u8,
    len: usize,
) -> (String, Vec<u8>) {
    let text = pattern(len, seed);
    let file = work.join(format!("in{seed}"));
    std::fs::write(&file, &text).unwrap();
    let out = client(
        keys.path(),
        server.addr,
        &["send_msg", "--file", file.to_str().unwrap()],
    );
    (delivered_id(&ok_stdout(&out)), text)
}

#[test]
fn operator_commands_beside_a_receiving_server_lose_nothing() {
    let keys = Keys::new(2048);
    let mut server = Server::start(keys.path(), &[]);
    let work = tempfile::tempdir().unwrap();
    let busy = AtomicBool::new(true);
    let operator = |args: &[&str]| operator(keys.path(), &server.data, args);
    let sent: Vec<(String, Vec<u8>)> = thread::scope(|scope| {
        // Every operator command, over and over, while messages arrive.
        let looping = scope.spawn(|| {
            let mut runs = 0;
            while busy.load(Ordering::SeqCst) {
                ok_stdout(&operator(&["inbox"]));
                ok_stdout(&operator(&["clients"]));
                ok_stdout(&operator(&["post", "--to", "client", "queued beside"]));
                runs += 1;
            }
            runs
        });
        let mut sent = Vec::new();
        for (n, len) in [(1, 9_000_000), (2, 100), (3, 3_000_000), (4, 70_000)] {
            sent.push(send_pattern(&keys, &server, work.path(), n, len));
        }
        busy.store(false, Ordering::SeqCst);
        assert!(looping.join().unwrap() > 0, "the operator commands ran");
        sent
    });
    for (id, text) in sent {
        let copy = work.path().join(format!("{id}.out"));
        ok_stdout(&operator(&["read", &id, "--out", copy.to_str().unwrap()]));
        assert!(
            std::fs::read(&copy).unwrap() == text,
            "{id} read back changed"
        );
    }
    assert!(server.is_running());
}

#[test]
fn kill_9_of_the_server_during_operator_commands_loses_nothing_receipted() {
    let keys = Keys::new(2048);
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut server = Server::start_with_data(keys.path(), data.path(), &[]);
    let mut receipted = Vec::new();
    for (n, len) in [(1, 50), (2, 2_000_000)] {
        receipted.push(send_pattern(&keys, &server, work.path(), n, len));
    }
    let big = work.path().join("post.bin");
    std::fs::write(&big, pattern(30_000_000, 9)).unwrap();
    let read_id = receipted[0].0.clone();
    let commands: [&[&str]; 4] = [
        &["inbox"],
        &["clients"],
        &["read", &read_id],
        &["post", "--to", "client", "-"],
    ];
    for args in commands {
        let running = operator_command(keys.path(), data.path(), args)
            .stdin(std::fs::File::open(&big).unwrap())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        thread::sleep(std::time::Duration::from_millis(20));
        server.kill9();
        // The command does not need the server; it finishes either way.
        ok_stdout(&running.wait_with_output().unwrap());
        server = Server::start_with_data(keys.path(), data.path(), &[]);
    }
    let operator = |args: &[&str]| operator(keys.path(), data.path(), args);
    for (id, text) in receipted {
        let copy = work.path().join(format!("{id}.out"));
        ok_stdout(&operator(&["read", &id, "--out", copy.to_str().unwrap()]));
        assert!(std::fs::read(&copy).unwrap() == text, "{id} changed");
    }
    // The post finished beside the killed server and is delivered whole.
    let got = work.path().join("got.bin");
    ok_stdout(&client(
        keys.path(),
        server.addr,
        &["recv_msg", "--out", got.to_str().unwrap()],
    ));
    assert!(std::fs::read(&got).unwrap() == std::fs::read(&big).unwrap());
}
