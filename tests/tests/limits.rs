//! The server's limits on connections, through the real binaries: the
//! deadline of a whole connection and the streams it deliberately leaves
//! unbounded, the cap on connections served at once, the share of them
//! one address may hold when the cap is small, and the limit on open files
//! the server raises at start so that its cap can be reached at all.

use std::io::{ErrorKind, Read};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use cloak_core::Mode;
use cloak_core::limits::STREAM_CHUNK_LEN;
use cloak_core::session::ServerMessage;
use cloak_tests::{
    Keys, LibClient, Raw, Server, client, connect_from, ok_stdout, operator_command,
    raise_fd_limit, texts,
};

/// Where crowds of connections come from: not the honest client's address.
const CROWD: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// Longest a test waits for the server to close a connection; far below
/// the I/O timeouts the tests set, so only the limit under test can close
/// it in time.
const CLOSE_WITHIN: Duration = Duration::from_secs(10);

/// How long after `start` the server closed `stream` (EOF or reset), or
/// `None` if it was still open after [`CLOSE_WITHIN`]; `keep_alive` runs
/// between reads, to trickle bytes.
fn closed_after(
    stream: &TcpStream,
    start: Instant,
    mut keep_alive: impl FnMut(),
) -> Option<Duration> {
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 1024];
    while start.elapsed() < CLOSE_WITHIN {
        keep_alive();
        match (&*stream).read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            // Nothing is expected; whatever comes is not a close.
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return Some(start.elapsed()),
        }
    }
    None
}

const DEADLINE_LINE: &str = "connection exceeded its 2s deadline; closed";

#[test]
fn a_trickling_request_and_a_withheld_ack_are_closed_at_the_deadline() {
    // The I/O timeout (30 s) would let both go on: only the deadline (2 s)
    // closes them within CLOSE_WITHIN.
    let keys = Keys::new(2048);
    let mut server = Server::start(keys.path(), &["--deadline", "2", "--io-timeout", "30"]);
    let addr = server.addr;
    let trickler = thread::spawn(move || {
        let mut raw = Raw::connect(addr);
        raw.read_frame().expect("hello");
        let start = Instant::now();
        // A 256-byte frame, one byte of it at a time.
        raw.send(&[0, 0, 1, 0]);
        let stream = raw.stream.try_clone().unwrap();
        closed_after(&stream, start, || raw.send(&[0]))
    });
    let lib = LibClient::new(keys.path());
    let withholder = thread::spawn(move || {
        let start = Instant::now();
        // The greeting comes, and then no acknowledgement.
        let fetch = lib.fetch_open(addr, Mode::Hybrid);
        assert!(
            matches!(fetch.answer, Some(ServerMessage::Delivery { .. })),
            "{:?}",
            fetch.answer
        );
        closed_after(&fetch.raw.stream, start, || {})
    });
    for (what, closed) in [
        ("trickling request", trickler.join().unwrap()),
        ("withheld acknowledgement", withholder.join().unwrap()),
    ] {
        let closed = closed.unwrap_or_else(|| panic!("{what}: still open after {CLOSE_WITHIN:?}"));
        // The deadline starts when the server accepts, a little before the
        // test's clock.
        assert!(
            closed >= Duration::from_millis(1900),
            "{what}: closed after {closed:?}, before the deadline"
        );
    }
    server.wait_stderr_count(DEADLINE_LINE, 2);
    let out = client(
        keys.path(),
        server.addr,
        &["send_msg", "after the deadline"],
    );
    assert!(out.status.success(), "{}", texts(&out).1);
    server.wait_stdout("after the deadline");
    assert!(server.is_running());
}

/// Bytes that differ from chunk to chunk.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

/// Between two frames of a slow peer: well within the I/O timeout, and
/// together well past the deadline.
const PACE: Duration = Duration::from_millis(300);

#[test]
fn streams_each_way_may_outlast_the_deadline_while_their_frames_keep_coming() {
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &["--deadline", "1", "--io-timeout", "5"]);
    let lib = LibClient::new(keys.path());

    // Upload: six chunks, one every PACE.
    let (mut raw, hello) = lib.hello(server.addr);
    let start = Instant::now();
    let frames = lib.stream_frames(&hello, &pattern(5 * STREAM_CHUNK_LEN + 99));
    raw.send(&frames.head);
    for chunk in &frames.chunks {
        thread::sleep(PACE);
        raw.send(chunk);
    }
    raw.send(&frames.end);
    let answer = raw.read_server();
    assert!(
        start.elapsed() > Duration::from_secs(1),
        "slower than the deadline"
    );
    assert!(
        matches!(answer, Some(ServerMessage::Receipt(_))),
        "a slow upload is received: {answer:?}; stderr:\n{}",
        server.stderr()
    );
    server.wait_stdout("Stored as");

    // Download: a posted message over 1 MiB goes out as a stream; read
    // one frame every PACE, then acknowledge it.
    let input = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(input.path(), pattern(2 * 1024 * 1024)).unwrap();
    let posted = operator_command(keys.path(), &server.data, &["post", "--to", "client", "-"])
        .stdin(std::fs::File::open(input.path()).unwrap())
        .output()
        .unwrap();
    let posted = ok_stdout(&posted);
    let id: cloak_core::MessageId = posted["Queued message ".len()..][..32].parse().unwrap();
    let start = Instant::now();
    let mut fetch = lib.fetch_open(server.addr, Mode::Hybrid);
    assert!(
        matches!(fetch.answer, Some(ServerMessage::DeliveryStream { .. })),
        "{:?}",
        fetch.answer
    );
    loop {
        thread::sleep(PACE);
        match fetch.raw.read_server() {
            Some(ServerMessage::StreamChunk { .. }) => {}
            Some(ServerMessage::StreamEnd { .. }) => break,
            other => panic!("in the delivered stream: {other:?}"),
        }
    }
    assert!(
        start.elapsed() > Duration::from_secs(1),
        "slower than the deadline"
    );
    let proof = lib.ack_proof(&fetch, &[id]);
    assert_eq!(
        fetch.ack(vec![id], proof),
        Some(ServerMessage::Acked { removed: 1 }),
        "stderr:\n{}",
        server.stderr()
    );
    assert!(!server.stderr().contains("deadline"), "{}", server.stderr());
}

#[test]
fn connections_beyond_max_connections_wait_for_a_free_slot() {
    // Long timeouts: only the test's own hanging up frees a slot.
    let keys = Keys::new(2048);
    let mut server = Server::start(
        keys.path(),
        &[
            "--max-connections",
            "3",
            "--io-timeout",
            "60",
            "--deadline",
            "120",
        ],
    );
    let lib = LibClient::new(keys.path());
    let mut held: Vec<Raw> = (0..3).map(|_| lib.hello(server.addr).0).collect();
    // The fourth is left in the kernel's backlog: connected, neither
    // greeted nor closed.
    let mut waiting = Raw::connect(server.addr);
    waiting
        .stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let mut byte = [0u8; 1];
    match waiting.stream.read(&mut byte) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("a fourth connection was served or closed: {other:?}"),
    }
    drop(held.remove(0));
    waiting
        .stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let Some(ServerMessage::Hello(hello)) = waiting.read_server() else {
        panic!("no hello once a slot was free");
    };
    let id = cloak_core::MessageId::random();
    let (frame, _, _) = lib.send_frame(&hello, b"served in the freed slot", id);
    waiting.send(&frame);
    assert!(
        matches!(waiting.read_server(), Some(ServerMessage::Receipt(_))),
        "stderr:\n{}",
        server.stderr()
    );
    server.wait_stdout("served in the freed slot");
    let out = client(keys.path(), server.addr, &["send_msg", "beside two held"]);
    assert!(out.status.success(), "{}", texts(&out).1);
    assert!(server.is_running());
}

/// Whether the server closed `stream` rather than greet it. Each is one
/// or the other, so a busy machine's slowness only makes this wait.
fn refused(stream: &TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut hello = [0u8; 64];
    match (&*stream).read(&mut hello) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    }
}

#[test]
fn under_a_small_cap_one_address_still_holds_64_connections() {
    // 100 / 16 is 6, too few for one busy host: an address keeps 64.
    let keys = Keys::new(2048);
    let mut server = Server::start(
        keys.path(),
        &[
            "--max-connections",
            "100",
            "--io-timeout",
            "60",
            "--deadline",
            "120",
        ],
    );
    let crowd: Vec<TcpStream> = (0..70)
        .map(|_| connect_from(CROWD, server.addr).expect("connect"))
        .collect();
    let closed = crowd.iter().filter(|s| refused(s)).count();
    assert_eq!(closed, 70 - 64, "connections beyond 64 closed at once");
    server.wait_stderr("refused: this address holds 64 connections already");
    let out = client(keys.path(), server.addr, &["send_msg", "beside the crowd"]);
    assert!(out.status.success(), "{}", texts(&out).1);
    drop(crowd);
    assert!(server.is_running());
}

/// The soft and hard "Max open files" of process `pid`.
fn open_files_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files");
    let mut words = line["Max open files".len()..].split_whitespace();
    let soft = words.next().unwrap().to_owned();
    let hard = words.next().unwrap().to_owned();
    (soft, hard)
}

/// The soft limit the server is started with here.
const LOWERED: u64 = 64;
/// Connections it must then hold: more than that limit allows.
const HELD: usize = 100;

#[test]
fn the_server_raises_its_limit_on_open_files_and_holds_more_connections_than_it_started_with() {
    raise_fd_limit(4 * HELD as u64);
    let keys = Keys::new(2048);
    let mut server = Server::start_with_soft_fd_limit(keys.path(), LOWERED, &[]);
    // It raises the limit once it listens, before it accepts.
    let (_, hard) = open_files_limits(server.pid());
    server.wait_stderr(&format!(
        "open files: raised the limit from {LOWERED} to {hard}"
    ));
    let (soft, _) = open_files_limits(server.pid());
    assert_eq!(soft, hard, "the soft limit raised to the hard one");
    let held: Vec<TcpStream> = (0..HELD)
        .map(|_| connect_from(CROWD, server.addr).expect("connect"))
        .collect();
    // Ten seconds for all the hellos: past its limit, the server could not
    // accept the rest, which would wait unanswered.
    let deadline = Instant::now() + Duration::from_secs(10);
    let greeted = held.iter().filter(|s| {
        let left = deadline.saturating_duration_since(Instant::now());
        s.set_read_timeout(Some(left.max(Duration::from_millis(10))))
            .unwrap();
        let mut hello = [0u8; 8];
        (&**s).read(&mut hello).is_ok_and(|n| n > 0)
    });
    assert_eq!(greeted.count(), HELD, "each connection greeted");
    let out = client(keys.path(), server.addr, &["send_msg", "beside a hundred"]);
    assert!(out.status.success(), "{}", texts(&out).1);
    drop(held);
    assert!(server.is_running());

    // A cap the hard limit cannot serve is said at start.
    let beyond = (hard.parse::<u64>().expect("a finite hard limit") + 1).to_string();
    let server = Server::start(keys.path(), &["--max-connections", &beyond]);
    server.wait_stderr(&format!("--max-connections {beyond} needs"));
}
