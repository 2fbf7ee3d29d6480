//! Refusals the user must see clearly, each leaving the server serving:
//! an unauthorized client, a client pinning another server key, a refused
//! mode, a server that is not there.

use cloak_core::keydir::{KeyDir, Role};
use cloak_tests::{Keys, Server, client, texts};

fn assert_still_serving(keys: &Keys, server: &Server) {
    let out = client(keys.path(), server.addr, &["send_msg", "still serving"]);
    assert!(out.status.success(), "{}", texts(&out).1);
    server.wait_stdout("still serving");
}

#[test]
fn unauthorized_client_is_refused() {
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &[]);
    let stranger = Keys::other_client(2048);
    let out = client(stranger.path(), server.addr, &["send_msg", "let me in"]);
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("not authorized"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    let printed = server.wait_stdout("is not authorized");
    assert!(printed.contains("Message integrity & sender authentication failed."));
    assert!(!printed.contains("let me in"), "never shown: {printed}");

    let out = client(stranger.path(), server.addr, &["recv_msg"]);
    let (stdout, stderr) = texts(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("not authorized"), "{stderr}");
    assert!(!stdout.contains("This is a message from the server!"));

    assert_still_serving(&keys, &server);
}

#[test]
fn authorized_folder_names_clients() {
    let keys = Keys::new(2048);
    let alice = Keys::other_client(2048);
    keys.install(
        &alice.path().join("client_public.pem"),
        "authorized/alice.pem",
    );
    let server = Server::start(keys.path(), &[]);
    let out = client(alice.path(), server.addr, &["send_msg", "hi from alice"]);
    assert!(out.status.success(), "{}", texts(&out).1);
    let printed = server.wait_stdout("hi from alice");
    assert!(printed.contains("Message from alice ("), "{printed}");
}

#[test]
fn client_pinning_another_server_key_refuses_to_talk() {
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &[]);
    let other = Keys::empty();
    other.install(
        &keys.path().join("client_private.pem"),
        "client_private.pem",
    );
    KeyDir::new(other.path())
        .generate(Role::Server, 2048, false)
        .unwrap();
    for command in [&["send_msg", "for the wrong server"][..], &["recv_msg"]] {
        let out = client(other.path(), server.addr, command);
        let (stdout, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr.contains("server key mismatch"), "{stderr}");
        assert!(stdout.is_empty(), "{stdout}");
    }
    assert!(!server.stdout().contains("for the wrong server"));
    assert_still_serving(&keys, &server);
}

#[test]
fn server_mode_restriction_is_explained() {
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &["--mode", "hybrid"]);
    let out = client(
        keys.path(),
        server.addr,
        &["--mode", "asymmetric", "send_msg", "old style"],
    );
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("does not accept asymmetric mode") && stderr.contains("--mode hybrid"),
        "{stderr}"
    );
    assert_still_serving(&keys, &server);
}

/// A loopback address where nothing listens for as long as the returned
/// socket lives: bound but not listening, so connections to it are
/// refused, while the port cannot go to a server another test starts
/// meanwhile (as a port bound, noted and closed could).
fn nothing_listening() -> (socket2::Socket, std::net::SocketAddr) {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    (socket, addr)
}

#[test]
fn unreachable_server_and_missing_keys_are_one_line_errors() {
    let keys = Keys::new(2048);
    let (_held, addr) = nothing_listening();
    let out = client(keys.path(), addr, &["send_msg", "anyone?"]);
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("cannot reach the server at"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");

    let empty = Keys::empty();
    let out = client(empty.path(), addr, &["send_msg", "x"]);
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("client_private.pem not found")
            && stderr.contains("cloak-client generate_key_pair"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"));
}

#[test]
fn asymmetric_size_limit_suggests_hybrid() {
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &[]);
    let big = keys.path().join("big.txt");
    std::fs::write(&big, vec![b'a'; 70_000]).unwrap();
    let out = client(
        keys.path(),
        server.addr,
        &[
            "--mode",
            "asymmetric",
            "send_msg",
            "--file",
            big.to_str().unwrap(),
        ],
    );
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("use --mode hybrid"), "{stderr}");
    let out = client(
        keys.path(),
        server.addr,
        &[
            "--mode",
            "hybrid",
            "send_msg",
            "--file",
            big.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", texts(&out).1);
    server.wait_stdout(&"a".repeat(1000));
}

#[test]
fn server_of_another_protocol_version_is_named() {
    use std::io::Write;
    let keys = Keys::new(2048);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let fake = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        // A newer version's payload: whatever follows cannot be trusted to
        // parse.
        let newer = cloak_core::limits::PROTOCOL_VERSION + 1;
        let payload = [&newer.to_be_bytes()[..], &[0, 0, 0]].concat();
        let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&payload);
        stream.write_all(&frame).unwrap();
    });
    let out = client(keys.path(), addr, &["send_msg", "hello?"]);
    fake.join().unwrap();
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains(&format!(
            "server speaks protocol version {}, this client speaks version {}",
            cloak_core::limits::PROTOCOL_VERSION + 1,
            cloak_core::limits::PROTOCOL_VERSION
        )),
        "{stderr}"
    );
}
