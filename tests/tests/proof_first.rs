//! The sender proves its key in its first frame, before the server spends
//! more than one private-key operation or writes a byte: a stranger's
//! stream is refused at its head, before any chunk is sent; a stranger's
//! asymmetric blocks are never decrypted; and a proof is good only for the
//! message and the key it came with.

use std::io::Write;

use cloak_core::session::messages::encode_frame;
use cloak_core::session::{ClientMessage, ErrorCode, ServerMessage, sender_proof};
use cloak_core::{MessageId, Mode, SealOptions};
use cloak_tests::{Keys, LibClient, Server, client, texts};

/// A client whose key the server `Keys::new(2048)` makes does not
/// authorize (it holds that server's public key already).
fn stranger() -> LibClient {
    LibClient::new(Keys::other_client(2048).path())
}

fn rejected(answer: Option<ServerMessage>) -> bool {
    matches!(
        answer,
        Some(ServerMessage::Error {
            code: ErrorCode::Rejected,
            ..
        })
    )
}

/// Files under the data folder's spool and messages folders.
fn files_written(server: &Server) -> usize {
    ["spool", "messages"]
        .iter()
        .filter_map(|dir| std::fs::read_dir(server.data.join(dir)).ok())
        .map(Iterator::count)
        .sum()
}

fn inbox_is_empty(keys: &Keys, server: &Server) -> bool {
    let out = server.operator(keys.path(), &["inbox"]);
    texts(&out).0.trim() == "The inbox is empty."
}

#[test]
fn a_strangers_stream_is_refused_at_its_head_before_any_chunk() {
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &[]);
    let stranger = stranger();
    let (mut raw, hello) = stranger.hello(server.addr);
    let frames = stranger.stream_frames(&hello, &vec![b'x'; 3 << 20]);
    assert!(frames.chunks.len() > 10);
    // The head alone: the answer comes before a single chunk is sent.
    raw.send(&frames.head);
    assert!(rejected(raw.read_server()));
    // What a stranger goes on to send is read and thrown away, never
    // spooled.
    for chunk in frames.chunks.iter().take(4) {
        let _ = raw.stream.write_all(chunk);
    }
    drop(raw);
    let shown = server.wait_stdout("Message integrity & sender authentication failed.");
    assert!(
        shown.contains("is not authorized on this server"),
        "{shown}"
    );
    assert!(!shown.contains("confidentiality passed"), "{shown}");
    assert_eq!(files_written(&server), 0);
    assert!(inbox_is_empty(&keys, &server));
}

#[test]
fn a_strangers_asymmetric_blocks_are_never_decrypted() {
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &[]);
    let stranger = stranger();
    let (mut raw, hello) = stranger.hello(server.addr);
    // The most text the asymmetric mode takes: over 300 blocks.
    let mut text = cloak_core::session::proofs::new_receipt_key().to_vec();
    text.resize(60_000, b'y');
    let envelope = cloak_core::seal(
        &stranger.me,
        &stranger.server,
        Mode::Asymmetric,
        &hello.challenge,
        &text,
        &SealOptions::default(),
    )
    .unwrap()
    .bytes;
    let first =
        sender_proof::prove_envelope(&stranger.me, &stranger.server, &hello.challenge, envelope)
            .unwrap();
    raw.send(&encode_frame(&first));
    assert!(rejected(raw.read_server()));
    let shown = server.wait_stdout("Message integrity & sender authentication failed.");
    // Refused on the proof: the blocks were never decrypted.
    assert!(!shown.contains("confidentiality"), "{shown}");
    assert!(inbox_is_empty(&keys, &server));
}

/// A client's own proof moved to another message of the same connection,
/// or a stream head whose proof was made for another head, is refused.
#[test]
fn a_proof_is_good_only_for_its_own_message() {
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &[]);
    let lib = LibClient::new(keys.path());

    let (mut raw, hello) = lib.hello(server.addr);
    let (frame_a, ..) = lib.send_frame(&hello, b"message a", MessageId([1; 16]));
    let (frame_b, ..) = lib.send_frame(&hello, b"message b", MessageId([2; 16]));
    let (a, b) = (send_of(&frame_a), send_of(&frame_b));
    let swapped = ClientMessage::Send {
        wrapped_key: a.0,
        proof: a.1,
        envelope: b.2,
    };
    raw.send(&encode_frame(&swapped));
    assert!(rejected(raw.read_server()));

    let (mut raw, hello) = lib.hello(server.addr);
    let one = lib.stream_frames(&hello, b"stream one");
    let two = lib.stream_frames(&hello, b"stream two");
    let (ClientMessage::SendStream { head, .. }, ClientMessage::SendStream { proof, .. }) =
        (decode(&one.head), decode(&two.head))
    else {
        panic!("not stream heads");
    };
    raw.send(&encode_frame(&ClientMessage::SendStream { head, proof }));
    assert!(rejected(raw.read_server()));

    server.wait_stdout_count("Message integrity & sender authentication failed.", 2);
    assert!(!server.stdout().contains("confidentiality passed"));
    assert!(inbox_is_empty(&keys, &server));
    // The same client, honestly, is served.
    let out = client(keys.path(), server.addr, &["send_msg", "honest"]);
    assert!(out.status.success(), "{}", texts(&out).1);
}

/// Two authorized clients: a proof by one cannot carry a message signed
/// by the other.
#[test]
fn the_proven_key_must_be_the_key_that_signed_the_message() {
    let keys = Keys::new(2048);
    let bob = Keys::other_client(2048);
    keys.install(&bob.path().join("client_public.pem"), "authorized/bob.pem");
    let server = Server::start(keys.path(), &[]);
    let (alice, bob) = (LibClient::new(keys.path()), LibClient::new(bob.path()));

    let (mut raw, hello) = alice.hello(server.addr);
    let (bobs, ..) = bob.send_frame(&hello, b"signed by bob", MessageId([3; 16]));
    let (.., envelope) = send_of(&bobs);
    let first =
        sender_proof::prove_envelope(&alice.me, &alice.server, &hello.challenge, envelope).unwrap();
    raw.send(&encode_frame(&first));
    assert!(rejected(raw.read_server()));
    let shown = server.wait_stdout("Message integrity & sender authentication failed.");
    // The log names both: the claimed signer may have sent nothing.
    assert!(
        shown.contains("claims to be signed by `bob`, but `client` proved itself"),
        "{shown}"
    );
    assert!(inbox_is_empty(&keys, &server));

    // Each of them on its own is served.
    for who in [&alice, &bob] {
        assert!(who.send(server.addr, b"on its own", MessageId([4; 16])));
    }
}

fn decode(frame: &[u8]) -> ClientMessage {
    cloak_core::session::messages::decode_payload(&frame[4..]).unwrap()
}

/// The fields of a `Send` frame.
fn send_of(frame: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    match decode(frame) {
        ClientMessage::Send {
            wrapped_key,
            proof,
            envelope,
        } => (wrapped_key, proof, envelope),
        other => panic!("not a Send: {other:?}"),
    }
}
