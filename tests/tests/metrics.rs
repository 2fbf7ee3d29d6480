//! `--metrics ADDR`: the counters move as messages are stored and refused,
//! `/health` answers 200 while the server runs and 503 once it stops, and
//! a hostile scraper cannot disturb the messaging port or hold the metrics
//! port for long.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use cloak_tests::{Keys, Raw, Server, client, ok_stdout};

fn metrics_addr(server: &Server) -> SocketAddr {
    let printed = server.wait_stdout("metrics on ");
    printed
        .lines()
        .find_map(|l| l.strip_prefix("metrics on "))
        .and_then(|a| a.trim().parse().ok())
        .unwrap_or_else(|| panic!("no metrics address in {printed:?}"))
}

/// Sends `request` as it is and returns what came back (empty when the
/// server closed without a word).
fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // A server that closed at once (over its cap) fails the write too.
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// The status and body of `GET path`.
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let answer = exchange(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes(),
    );
    let status = answer
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"));
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_owned())
}

/// The value of the sample `name` (with its labels) in `body`.
fn sample(body: &str, name: &str) -> f64 {
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {name} in:\n{body}"))
}

fn scrape(addr: SocketAddr) -> String {
    let (status, body) = get(addr, "/metrics");
    assert_eq!(status, 200, "{body}");
    body
}

#[test]
fn counters_follow_messages_stored_and_refused_and_health_answers_while_up() {
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &["--metrics", "127.0.0.1:0"]);
    let addr = metrics_addr(&server);
    assert_eq!(get(addr, "/health"), (200, "ok\n".to_owned()));
    let before = scrape(addr);
    let accepted = |body: &str, mode: &str| {
        sample(
            body,
            &format!("cloak_messages_accepted_total{{mode=\"{mode}\"}}"),
        )
    };
    let rejected = |body: &str| sample(body, "cloak_refusals_total{reason=\"rejected\"}");
    assert_eq!(accepted(&before, "hybrid"), 0.0);
    assert_eq!(rejected(&before), 0.0);

    ok_stdout(&client(
        keys.path(),
        server.addr,
        &["send_msg", "hello metrics"],
    ));
    let args = ["--mode", "asymmetric", "send_msg", "second"];
    ok_stdout(&client(keys.path(), server.addr, &args));
    // A client the server does not know: refused as rejected.
    let stranger = Keys::other_client(2048);
    let refused = client(stranger.path(), server.addr, &["send_msg", "let me in"]);
    assert!(!refused.status.success());

    // The store's usage is read at most once a second.
    std::thread::sleep(Duration::from_millis(1100));
    let after = scrape(addr);
    assert_eq!(accepted(&after, "hybrid"), 1.0, "{after}");
    assert_eq!(accepted(&after, "asymmetric"), 1.0, "{after}");
    assert_eq!(rejected(&after), 1.0, "{after}");
    assert_eq!(sample(&after, "cloak_refusals_total{reason=\"busy\"}"), 0.0);
    let text_bytes = ("hello metrics".len() + "second".len()) as f64;
    assert_eq!(sample(&after, "cloak_received_bytes_total"), text_bytes);
    assert_eq!(sample(&after, "cloak_connections_total"), 3.0);
    assert_eq!(
        sample(&after, "cloak_stored_messages{kind=\"received\"}"),
        2.0
    );
    assert!(sample(&after, "cloak_store_used_bytes") > 0.0, "{after}");
    // Every request took a turn on the pool (the stranger's too).
    assert!(
        sample(&after, "cloak_pool_wait_seconds_count") >= 3.0,
        "{after}"
    );
    assert_eq!(get(addr, "/health").0, 200);
}

#[test]
fn health_says_503_once_the_server_is_stopping() {
    let keys = Keys::new(2048);
    let server = Server::start(
        keys.path(),
        &["--metrics", "127.0.0.1:0", "--io-timeout", "4"],
    );
    let addr = metrics_addr(&server);
    assert_eq!(get(addr, "/health").0, 200);
    // A connection in flight keeps the server in its shutdown grace.
    let mut held = Raw::connect(server.addr);
    assert!(held.read_frame().is_some(), "the server's hello");
    server.send_sigterm();
    let deadline = Instant::now() + Duration::from_secs(4);
    loop {
        let (status, body) = get(addr, "/health");
        if status == 503 {
            assert_eq!(body, "stopping\n");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "health still {status} while stopping"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(held);
    let mut server = server;
    assert!(server.wait_exit(Duration::from_secs(15)).success());
}

#[test]
fn a_hostile_scraper_neither_holds_the_metrics_port_nor_disturbs_messaging() {
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &["--metrics", "127.0.0.1:0"]);
    let addr = metrics_addr(&server);

    let oversized = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(9000));
    assert!(exchange(addr, oversized.as_bytes()).starts_with("HTTP/1.1 431 "));
    assert!(exchange(addr, b"BREW /pot HTCPCP/1.0\r\n\r\n").starts_with("HTTP/1.1 400 "));
    assert!(exchange(addr, b"PUT /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405 "));
    assert_eq!(get(addr, "/secrets").0, 404);

    // Many idle connections: the metrics port serves a few at a time and
    // closes the rest at once; the messaging port does not notice. (First
    // the answered connections above finish lingering, up to 1 s, so that
    // the idle ones take every slot.)
    std::thread::sleep(Duration::from_millis(1500));
    let idle: Vec<TcpStream> = (0..40).map(|_| TcpStream::connect(addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        exchange(addr, b"GET /health HTTP/1.1\r\n\r\n"),
        "",
        "over the cap: closed"
    );
    let started = Instant::now();
    ok_stdout(&client(
        keys.path(),
        server.addr,
        &["send_msg", "still served"],
    ));
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(3);
    while exchange(addr, b"GET /health HTTP/1.1\r\n\r\n").is_empty() {
        assert!(
            Instant::now() < deadline,
            "the metrics port never came back"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // A request head that never ends is closed, unanswered, after the
    // request timeout (5 s).
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\n").unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    let waited = started.elapsed();
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    assert!(
        waited >= Duration::from_secs(4) && waited < Duration::from_secs(10),
        "{waited:?}"
    );
    assert_eq!(get(addr, "/health").0, 200);
}

#[test]
fn without_the_option_no_metrics_port_is_opened() {
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &[]);
    ok_stdout(&client(keys.path(), server.addr, &["send_msg", "hi"]));
    server.wait_stdout("Stored as");
    assert!(
        !server.stdout().contains("metrics on"),
        "{}",
        server.stdout()
    );
}
