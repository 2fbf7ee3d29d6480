//! Hostile input never stops the server: a replayed recorded session,
//! garbage, a huge length prefix, a stalled half frame, another protocol
//! version. After each, a legitimate client is still served.

use std::thread;
use std::time::Duration;

use cloak_core::limits::PROTOCOL_VERSION;
use cloak_core::session::{ErrorCode, ServerMessage};
use cloak_tests::{Keys, Raw, Recorder, Server, client, texts};

fn assert_serves(keys: &Keys, server: &Server, text: &str) {
    let out = client(keys.path(), server.addr, &["send_msg", text]);
    assert!(
        out.status.success(),
        "{}\n{}",
        texts(&out).1,
        server.stderr()
    );
    server.wait_stdout(text);
}

#[test]
fn replayed_session_is_rejected() {
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &[]);
    for (round, mode) in ["asymmetric", "hybrid"].into_iter().enumerate() {
        let recorder = Recorder::start(server.addr);
        let secret = format!("pay 100 coins ({mode})");
        let out = client(
            keys.path(),
            recorder.addr,
            &["--mode", mode, "send_msg", &secret],
        );
        assert!(out.status.success(), "{}", texts(&out).1);
        let recorded = recorder.finish();
        server.wait_stdout(&secret);

        let mut raw = Raw::connect(server.addr);
        assert!(matches!(raw.read_server(), Some(ServerMessage::Hello(_))));
        raw.send(&recorded);
        match raw.read_server() {
            Some(ServerMessage::Error { code, .. }) => assert_eq!(code, ErrorCode::Rejected),
            other => panic!("replay answered with {other:?}"),
        }
        let printed = server.wait_stdout_count("signature of `client` does not verify", round + 1);
        assert_eq!(
            printed.matches(&secret).count(),
            1,
            "shown once, not twice: {printed}"
        );
    }
    assert_serves(&keys, &server, "after the replays");
}

#[test]
fn garbage_and_oversize_lengths_do_not_stop_the_server() {
    let keys = Keys::new(2048);
    let mut server = Server::start(keys.path(), &[]);

    let mut raw = Raw::connect(server.addr);
    raw.read_frame().expect("hello");
    raw.send(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3]);
    assert!(raw.closed_by_server());
    server.wait_stderr("exceeds the maximum");

    let mut raw = Raw::connect(server.addr);
    raw.read_frame().expect("hello");
    let mut junk = 64u32.to_be_bytes().to_vec();
    junk.extend((0..64u8).map(|i| i.wrapping_mul(37)));
    raw.send(&junk);
    match raw.read_server() {
        Some(ServerMessage::Error { code, .. }) => assert!(matches!(
            code,
            ErrorCode::Malformed | ErrorCode::UnsupportedVersion
        )),
        other => panic!("garbage answered with {other:?}"),
    }

    let mut raw = Raw::connect(server.addr);
    raw.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(raw.closed_by_server());

    assert!(server.is_running());
    assert_serves(&keys, &server, "after the garbage");
}

/// A newer client, and an older one (version 1 sent no sender proof),
/// are told which versions meet.
#[test]
fn other_protocol_versions_get_a_clear_error() {
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &[]);
    for theirs in [PROTOCOL_VERSION - 1, PROTOCOL_VERSION + 1] {
        let mut raw = Raw::connect(server.addr);
        raw.read_frame().expect("hello");
        let mut payload = theirs.to_be_bytes().to_vec();
        payload.extend_from_slice(&[0, 0]);
        let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&payload);
        raw.send(&frame);
        match raw.read_server() {
            Some(ServerMessage::Error { code, detail }) => {
                assert_eq!(code, ErrorCode::UnsupportedVersion);
                assert!(
                    detail.contains(&format!(
                        "protocol version {PROTOCOL_VERSION}, client sent {theirs}"
                    )),
                    "{detail}"
                );
            }
            other => panic!("answered with {other:?}"),
        }
        server.wait_stderr(&format!("client speaks protocol version {theirs}"));
    }
}

#[test]
fn stalled_clients_do_not_block_others() {
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &[]);
    // Several clients that send half a frame and then nothing.
    let stalled: Vec<Raw> = (0..8)
        .map(|_| {
            let mut raw = Raw::connect(server.addr);
            raw.read_frame().expect("hello");
            raw.send(&[0, 0, 1]);
            raw
        })
        .collect();
    // And some that connect and never read or write.
    let silent: Vec<Raw> = (0..8).map(|_| Raw::connect(server.addr)).collect();
    assert_serves(&keys, &server, "while others stall");
    // A client that vanishes mid-frame.
    {
        let mut raw = Raw::connect(server.addr);
        raw.read_frame().expect("hello");
        raw.send(&[0, 0, 0, 200, 0, 1, 0]);
    }
    thread::sleep(Duration::from_millis(100));
    assert_serves(&keys, &server, "after a vanished client");
    server.wait_stderr("mid-frame");
    drop((stalled, silent));
}

#[test]
fn stalled_client_is_dropped_after_the_io_timeout() {
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &["--io-timeout", "1"]);
    let mut raw = Raw::connect(server.addr);
    raw.read_frame().expect("hello");
    raw.send(&[0, 0]);
    assert!(raw.closed_by_server(), "closed after the timeout");
    server.wait_stderr("did not respond within");
}
