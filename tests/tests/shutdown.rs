//! SIGTERM with a message in flight. The server stops accepting, lets the
//! connections it has finish for a grace period (10 s), and exits 0. What
//! it promised must hold across the restart: a message it acknowledged is
//! stored, and one it did not acknowledge is not half-stored. Never
//! acknowledged and then lost.

use std::io::Write;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use cloak_core::limits::STREAM_CHUNK_LEN;
use cloak_tests::{Keys, LibClient, Server, delivered_id, ok_stdout, piped_send, texts};

/// What the server logs once SIGTERM has stopped it accepting.
const DRAINING: &str = "shutting down: waiting for 1 connection(s) in flight";

/// Bytes that differ at every position, so any damage shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0])
        .collect()
}

/// Waits until the server is spooling a stream: it is receiving one, past
/// what it keeps in memory.
fn wait_spooling(data: &Path) {
    let spool = data.join("spool");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_dir(&spool).map_or(0, |d| d.count()) == 0 {
        assert!(Instant::now() < deadline, "the stream never spooled");
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_message_in_flight_at_sigterm_is_finished_acknowledged_and_kept() {
    let keys = Keys::new(2048);
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let mut server = Server::start_with_data(keys.path(), &data, &[]);
    // The real client, reading the message from a pipe the test holds: it
    // sends what it has read and waits for the rest.
    let mut sending = piped_send(keys.path(), server.addr);
    let text = pattern(4 * 1024 * 1024 + 321);
    let (first, rest) = text.split_at(1024 * 1024);
    let mut stdin = sending.stdin.take().unwrap();
    stdin.write_all(first).unwrap();
    wait_spooling(&data);

    server.send_sigterm();
    server.wait_stderr(DRAINING);
    // Stopped listening: a new connection is refused at once.
    let late = std::net::TcpStream::connect(server.addr);
    assert!(
        late.as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused),
        "a connection after SIGTERM: {late:?}"
    );
    stdin.write_all(rest).unwrap();
    drop(stdin);
    let sent = sending.wait_with_output().unwrap();
    let id = delivered_id(&ok_stdout(&sent));

    let status = server.wait_exit(Duration::from_secs(15));
    let log = server.stderr();
    assert!(status.success(), "{status:?}; stderr:\n{log}");
    assert!(log.contains("stopped"), "{log}");
    assert!(!log.contains("still open after"), "finished in time: {log}");
    drop(server);

    let server = Server::start_with_data(keys.path(), &data, &[]);
    let copy = root.path().join("copy.bin");
    let read = server.operator(keys.path(), &["read", &id, "--out", copy.to_str().unwrap()]);
    ok_stdout(&read);
    assert!(
        std::fs::read(&copy).unwrap() == text,
        "kept whole across the restart"
    );
}

#[test]
fn a_stream_stalled_past_the_grace_period_is_cut_off_and_nothing_is_stored() {
    // The I/O timeout (60 s) would wait on: the grace period ends it.
    let keys = Keys::new(2048);
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let mut server = Server::start_with_data(keys.path(), &data, &["--io-timeout", "60"]);
    let lib = LibClient::new(keys.path());
    let (mut raw, hello) = lib.hello(server.addr);
    let frames = lib.stream_frames(&hello, &pattern(4 * STREAM_CHUNK_LEN));
    raw.send(&frames.head);
    raw.send(&frames.chunks[0]);
    raw.send(&frames.chunks[1]);
    wait_spooling(&data);

    let start = Instant::now();
    server.send_sigterm();
    server.wait_stderr(DRAINING);
    let status = server.wait_exit(Duration::from_secs(20));
    let log = server.stderr();
    assert!(status.success(), "{status:?}; stderr:\n{log}");
    assert!(
        start.elapsed() >= Duration::from_secs(9),
        "waited for the stream: {:?}",
        start.elapsed()
    );
    assert!(log.contains("connections still open after 10s"), "{log}");
    assert!(log.contains("stopped"), "{log}");
    // The rest of the stream finds nobody to take it.
    raw.send(&frames.chunks[2]);
    raw.send(&frames.chunks[3]);
    raw.send(&frames.end);
    assert!(raw.read_server().is_none(), "answered after the cut");
    drop(server);

    let server = Server::start_with_data(keys.path(), &data, &[]);
    let inbox = ok_stdout(&server.operator(keys.path(), &["inbox"]));
    assert_eq!(inbox.trim(), "The inbox is empty.");
    for dir in ["spool", "messages"] {
        let left = std::fs::read_dir(data.join(dir)).map_or(0, |d| d.count());
        assert_eq!(left, 0, "{dir} holds nothing of the cut stream");
    }
    let out = cloak_tests::client(keys.path(), server.addr, &["send_msg", "after restart"]);
    assert!(out.status.success(), "{}", texts(&out).1);
}
