//! Abuse, bounded in count and time, on loopback only: a thousand stalled
//! connections, endless garbage, a client that disconnects at every byte of
//! a session. The server never exits, keeps its memory bounded, and keeps
//! serving legitimate clients within their timeout.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use cloak_tests::{Keys, Raw, Server, client, record_session, texts};

fn rss_kib(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_thousand_stalled_connections_do_not_lock_out_a_real_client() {
    let keys = Keys::new(2048);
    let mut server = Server::start(keys.path(), &[]);
    let before = rss_kib(&server);
    let stalled: Vec<TcpStream> = (0..1000)
        .map(|i| {
            let stream = TcpStream::connect(server.addr).expect("connect");
            // Half send the start of a frame and stall, half say nothing.
            if i % 2 == 0 {
                let _ = (&stream).write_all(&[0, 0, 1]);
            }
            stream
        })
        .collect();
    let start = Instant::now();
    let out = client(keys.path(), server.addr, &["send_msg", "through the crowd"]);
    assert!(out.status.success(), "{}", texts(&out).1);
    let out = client(keys.path(), server.addr, &["recv_msg"]);
    assert!(out.status.success(), "{}", texts(&out).1);
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "served within the client's timeout"
    );
    let during = rss_kib(&server);
    assert!(
        during < before + 64 * 1024,
        "memory bounded: {before} KiB -> {during} KiB"
    );
    drop(stalled);
    assert!(server.is_running());
}

#[test]
fn endless_garbage_is_cut_off() {
    let keys = Keys::new(2048);
    let mut server = Server::start(keys.path(), &[]);
    let mut raw = Raw::connect(server.addr);
    let junk: Vec<u8> = (0..64 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut cut = false;
    while Instant::now() < deadline {
        if raw.stream.write_all(&junk).is_err() {
            cut = true;
            break;
        }
    }
    assert!(
        cut || raw.closed_by_server(),
        "the server hung up on the garbage"
    );
    assert!(server.is_running());
    let out = client(keys.path(), server.addr, &["send_msg", "after the garbage"]);
    assert!(out.status.success(), "{}", texts(&out).1);
}

#[test]
fn disconnecting_at_every_byte_of_a_session_leaves_the_server_serving() {
    let keys = Keys::new(2048);
    let mut server = Server::start(keys.path(), &[]);
    for mode in ["asymmetric", "hybrid"] {
        let record = record_session(keys.path(), server.addr, mode, "recorded");
        let session = std::fs::read(&record).unwrap();
        for cut in 0..session.len() {
            let mut raw = Raw::connect(server.addr);
            raw.read_frame().expect("hello");
            raw.send(&session[..cut]);
        }
    }
    assert!(server.is_running());
    let out = client(keys.path(), server.addr, &["send_msg", "still here"]);
    assert!(out.status.success(), "{}", texts(&out).1);
    let inbox = server.operator(keys.path(), &["inbox"]);
    assert_eq!(
        texts(&inbox).0.lines().count(),
        4,
        "header + 2 recorded + 1: {}",
        texts(&inbox).0
    );
}
