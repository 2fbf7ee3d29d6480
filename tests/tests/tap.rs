//! The tap shows the wire and attacks it; every attack ends with the server
//! rejecting the message, storing nothing, printing no plaintext, the
//! client failing, and the server serving the next client.

use std::process::{Command, Stdio};

use cloak_tests::{Keys, Server, Tap, bin, client, record_session, texts};

fn inbox_lines(keys: &Keys, server: &Server) -> usize {
    let out = server.operator(keys.path(), &["inbox"]);
    assert!(out.status.success());
    let text = texts(&out).0;
    if text.trim() == "The inbox is empty." {
        0
    } else {
        text.lines().count() - 1
    }
}

fn assert_serves_next(keys: &Keys, server: &Server, text: &str) {
    let out = client(keys.path(), server.addr, &["send_msg", text]);
    assert!(out.status.success(), "{}", texts(&out).1);
    server.wait_stdout(text);
}

#[test]
fn the_tap_shows_frames_but_no_plaintext() {
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &[]);
    let tap = Tap::start(server.addr, &[]);
    let secret = "meet at the north gate";
    for mode in ["asymmetric", "hybrid"] {
        let out = client(keys.path(), tap.addr, &["--mode", mode, "send_msg", secret]);
        assert!(out.status.success(), "{}", texts(&out).1);
    }
    let shown = tap.wait_stdout("[tap #1] server -> client");
    assert!(shown.contains("client -> server frame"), "{shown}");
    let hex: String = secret
        .bytes()
        .take(6)
        .map(|b| format!("{b:02x} "))
        .collect();
    assert!(
        !shown.contains(secret) && !shown.contains(hex.trim()),
        "{shown}"
    );
    assert_eq!(inbox_lines(&keys, &server), 2);
}

/// A message big enough for several stream chunks.
fn big_message(keys: &Keys) -> std::path::PathBuf {
    let path = keys.path().join("big.txt");
    std::fs::write(&path, "zq-secret-bulk ".repeat(90_000)).unwrap();
    path
}

#[test]
fn every_attack_is_rejected_and_the_server_serves_on() {
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &[]);
    // Another server with its own key, which also authorizes our client.
    let other = Keys::empty();
    cloak_core::keydir::KeyDir::new(other.path())
        .generate(cloak_core::keydir::Role::Server, 2048, false)
        .unwrap();
    other.install(&keys.path().join("client_public.pem"), "client_public.pem");
    let elsewhere = Server::start(other.path(), &[]);
    let big = big_message(&keys);
    let big = big.to_str().unwrap();
    let forward = elsewhere.addr.to_string();
    let attacks: [(&[&str], &[&str]); 5] = [
        (&["--flip", "40"], &["send_msg", "zq-secret-flip"]),
        (&["--truncate", "120"], &["send_msg", "zq-secret-cut"]),
        (&["--drop-chunk", "1"], &["send_msg", "--file", big]),
        (&["--swap-frames"], &["send_msg", "--file", big]),
        (
            &["--forward-to", &forward],
            &["send_msg", "zq-secret-moved"],
        ),
    ];
    for (tap_args, client_args) in attacks {
        let stored = inbox_lines(&keys, &server);
        let tap = Tap::start(server.addr, tap_args);
        let out = client(keys.path(), tap.addr, client_args);
        let (stdout, stderr) = texts(&out);
        assert_ne!(out.status.code(), Some(0), "{tap_args:?}: {stdout}");
        assert!(!stdout.contains("delivered"), "{tap_args:?}: {stdout}");
        let last = stderr.trim().lines().last().unwrap_or_default();
        assert!(
            last.starts_with("cloak-client: error:"),
            "{tap_args:?}: {stderr}"
        );
        assert_eq!(
            inbox_lines(&keys, &server),
            stored,
            "{tap_args:?} stored something"
        );
        let printed = server.stdout();
        assert!(
            !printed.contains("zq-secret"),
            "{tap_args:?} showed plaintext: {printed}"
        );
        assert_serves_next(&keys, &server, &format!("after {tap_args:?}"));
        drop(tap);
    }
    assert_eq!(
        inbox_lines(&other, &elsewhere),
        0,
        "the other server stored nothing"
    );
    elsewhere.wait_stdout("Message confidentiality failed.");
}

#[test]
fn a_message_re_addressed_to_a_twin_server_fails_on_freshness() {
    // A second instance with the same server key: the envelope decrypts,
    // but it was signed over the first instance's challenge.
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &[]);
    let twin = Server::start(keys.path(), &[]);
    let tap = Tap::start(server.addr, &["--forward-to", &twin.addr.to_string()]);
    let out = client(keys.path(), tap.addr, &["send_msg", "zq-secret-twin"]);
    assert_ne!(out.status.code(), Some(0));
    let printed = twin.wait_stdout("Message integrity & sender authentication failed.");
    assert!(
        printed.contains("Message confidentiality passed.") && !printed.contains("zq-secret"),
        "{printed}"
    );
    assert_eq!(inbox_lines(&keys, &twin), 0);
}

#[test]
fn a_recorded_session_replayed_by_the_tap_is_refused() {
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &[]);
    let record = record_session(keys.path(), server.addr, "hybrid", "pay 10 coins");
    assert_eq!(inbox_lines(&keys, &server), 1);

    let replay = Command::new(bin("cloak-tap"))
        .args([
            "--to",
            &server.addr.to_string(),
            "--replay",
            record.to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (stdout, _) = texts(&replay);
    assert_eq!(replay.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("the server refused the replay"), "{stdout}");
    // Refused for the reason that matters: signed for another connection.
    server.wait_stdout("does not verify for this session");
    assert_eq!(inbox_lines(&keys, &server), 1, "nothing more stored");
    assert_eq!(server.stdout().matches("pay 10 coins").count(), 1);
    assert_serves_next(&keys, &server, "after the replay");
}

/// Flips every second byte of the client's stream, one position per
/// connection, in each mode: every session must fail and store nothing.
#[test]
fn tamper_sweep_rejects_every_flipped_byte() {
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &["--io-timeout", "1"]);
    for mode in ["asymmetric", "hybrid"] {
        // The length of a clean session of this shape.
        let record = record_session(keys.path(), server.addr, mode, "sweep");
        let len = std::fs::metadata(&record).unwrap().len();
        let stored = inbox_lines(&keys, &server);

        let positions = len.div_ceil(2);
        let mut tap = Tap::start(
            server.addr,
            &[
                "--flip",
                "0",
                "--flip-step",
                "2",
                "--connections",
                &positions.to_string(),
            ],
        );
        let mut runs = 0;
        while tap.is_running() {
            let out = Command::new(bin("cloak-client"))
                .args([
                    "--keys",
                    keys.path().to_str().unwrap(),
                    "--addr",
                    &tap.addr.to_string(),
                ])
                .args(["--timeout", "3", "--mode", mode, "send_msg", "sweep"])
                .stdin(Stdio::null())
                .output()
                .unwrap();
            assert_ne!(
                out.status.code(),
                Some(0),
                "{mode}: a flipped session was delivered: {}",
                texts(&out).0
            );
            runs += 1;
            assert!(runs <= positions, "more client runs than positions");
        }
        assert_eq!(
            inbox_lines(&keys, &server),
            stored,
            "{mode}: a flipped session was stored"
        );
        assert!(
            tap.stdout().contains(&format!("[tap #{}]", positions - 1)),
            "every position was tried"
        );
    }
    assert_eq!(
        server.stdout().matches("\nsweep\n").count(),
        2,
        "only the clean sessions were shown"
    );
    assert_serves_next(&keys, &server, "after the sweep");
}
