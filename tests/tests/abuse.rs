//! Abuse, bounded in count and time, on loopback only: a thousand stalled
//! connections, endless garbage, a client that disconnects at every byte of
//! a session. The server never exits, keeps its memory bounded, and keeps
//! serving legitimate clients within their timeout. Attackers connect from
//! other loopback addresses than the client's, as other hosts would.
//!
//! A thousand sockets on each side is near the soft limit on open files
//! many systems start programs with (1024): the test raises its own to the
//! hard limit, as the server does at start.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::time::{Duration, Instant};

use cloak_tests::{Keys, Raw, Server, client, connect_from, raise_fd_limit, record_session, texts};

/// Where stalled connections come from: not the honest client's address.
const CROWD: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// Stalled connections held at once.
const STALLED: usize = 1000;

#[test]
fn a_thousand_stalled_connections_do_not_lock_out_a_real_client() {
    // The sockets, and room for the clients, key files and pipes beside.
    raise_fd_limit(STALLED as u64 + 200);
    let keys = Keys::new(2048);
    let mut server = Server::start(keys.path(), &[]);
    let before = server.rss_kib();
    let stalled: Vec<TcpStream> = (0..STALLED)
        .map(|i| {
            // 250 from each of four addresses: one address alone may hold
            // only 256 of the server's 4096 connections.
            let from = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + (i / 250) as u8));
            let stream = connect_from(from, server.addr).expect("connect");
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
    let during = server.rss_kib();
    assert!(
        during < before + 64 * 1024,
        "memory bounded: {before} KiB -> {during} KiB"
    );
    drop(stalled);
    assert!(server.is_running());
}

#[test]
fn one_address_holds_at_most_its_share_of_the_connections() {
    let keys = Keys::new(2048);
    let mut server = Server::start(keys.path(), &["--max-connections", "2048"]);
    // 2048 / 16 = 128 for one address; the rest are closed at once.
    let crowd: Vec<TcpStream> = (0..160)
        .map(|_| connect_from(CROWD, server.addr).expect("connect"))
        .collect();
    let closed = crowd
        .iter()
        .filter(|stream| {
            let mut hello = [0u8; 64];
            // A served connection gets the hello; a refused one, EOF (or a
            // reset). None is left waiting, so a long timeout costs nothing
            // and spares a busy machine a miscount.
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            match (&**stream).read(&mut hello) {
                Ok(0) => true,
                Ok(_) => false,
                Err(e) => !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
            }
        })
        .count();
    assert_eq!(closed, 160 - 128, "connections beyond the share closed");
    let out = client(keys.path(), server.addr, &["send_msg", "beside the crowd"]);
    assert!(out.status.success(), "{}", texts(&out).1);
    drop(crowd);
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
