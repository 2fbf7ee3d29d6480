//! Session messages whose lists declare far more than their frame holds:
//! an acknowledgement listing 2^40 message ids, a fetch or acknowledgement
//! proof of 2^64 - 1 bytes, a stream's chunk or final chunk declaring
//! terabytes in the middle of a real stream. A decoder that trusted the
//! count would reserve terabytes (and the server abort) or overflow (and
//! panic). Each must instead get the server's refusal, cost it no memory
//! it keeps, leave a mailbox as it was, and leave it serving.
//!
//! Forged counts inside envelopes (blocks, chunks), and the lengths of a
//! first `Send`, `SendStream` or `Chunk`, are in hostile_input.rs; these
//! are the rest of what a client's messages hold. The frames are encoded
//! by hand on tuples mirroring the messages, checked against the library.

use cloak_core::limits::{PROTOCOL_VERSION, STREAM_CHUNK_LEN};
use cloak_core::session::messages::encode_payload;
use cloak_core::session::{ClientMessage, ErrorCode, FetchRequest, ServerMessage, frame};
use cloak_core::{Fingerprint, MessageId, Mode, codec};
use cloak_tests::{Keys, LibClient, Raw, Server, client, ok_stdout, texts};

/// Variant indices of `ClientMessage` (checked below).
const FETCH: u32 = 1;
const ACK: u32 = 2;
const CHUNK: u32 = 4;
const END: u32 = 5;
/// `Mode::Hybrid`'s index.
const HYBRID: u32 = 1;

/// A count that only a decoder trusting it would act on: reserving that
/// many items is terabytes.
const TERA: u64 = 1 << 40;

/// What the server logs when a request does not decode.
const MALFORMED: &str = "refused: malformed request";

fn forged_payload(message: &[u8]) -> Vec<u8> {
    [&PROTOCOL_VERSION.to_be_bytes()[..], message].concat()
}

/// A whole frame around a hand-encoded message.
fn forged_frame(message: &[u8]) -> Vec<u8> {
    frame::encode(&forged_payload(message))
}

#[test]
fn the_message_mirror_matches_encoded_messages() {
    let id = MessageId([7; 16]);
    let ack = ClientMessage::Ack {
        ids: vec![id, id],
        proof: vec![9, 9, 9],
    };
    let mirror = (ACK, vec![[7u8; 16]; 2], vec![9u8; 3]);
    assert_eq!(
        encode_payload(&ack),
        forged_payload(&codec::encode(&mirror))
    );

    let fetch = ClientMessage::Fetch(FetchRequest {
        client: Fingerprint([1; 32]),
        challenge: [2; 32],
        mode: Mode::Hybrid,
        proof: vec![3; 4],
    });
    let mirror = (FETCH, [1u8; 32], [2u8; 32], HYBRID, vec![3u8; 4]);
    assert_eq!(
        encode_payload(&fetch),
        forged_payload(&codec::encode(&mirror))
    );

    for (message, variant) in [
        (ClientMessage::Chunk { data: vec![4; 5] }, CHUNK),
        (ClientMessage::End { data: vec![4; 5] }, END),
    ] {
        let mirror = (variant, vec![4u8; 5]);
        assert_eq!(
            encode_payload(&message),
            forged_payload(&codec::encode(&mirror)),
            "{message:?}"
        );
    }
}

/// Acknowledgements whose id list or proof declares `TERA` or 2^64 - 1
/// items, in a few bytes.
fn forged_acks() -> Vec<(String, Vec<u8>)> {
    let mut frames = Vec::new();
    for count in [TERA, u64::MAX] {
        frames.push((
            format!("an Ack listing {count} ids"),
            forged_frame(&codec::encode(&(ACK, count))),
        ));
        frames.push((
            format!("an Ack whose proof is {count} bytes"),
            forged_frame(&codec::encode(&(ACK, 0u64, count))),
        ));
    }
    frames
}

/// Fetches for `client` whose proof declares `TERA` or 2^64 - 1 bytes.
fn forged_fetches(client: Fingerprint) -> Vec<(String, Vec<u8>)> {
    [TERA, u64::MAX]
        .into_iter()
        .map(|count| {
            let fetch = (FETCH, client.0, [0u8; 32], HYBRID, count);
            (
                format!("a Fetch whose proof is {count} bytes"),
                forged_frame(&codec::encode(&fetch)),
            )
        })
        .collect()
}

/// Sends `frame` after the hello on a fresh connection; the answer.
fn answer_to(server: &Server, frame: &[u8]) -> Option<ServerMessage> {
    let mut raw = Raw::connect(server.addr);
    raw.read_frame().expect("hello");
    raw.send(frame);
    raw.read_server()
}

/// The answer is the refusal of a request that does not decode.
fn assert_malformed(what: &str, answer: Option<ServerMessage>) {
    match answer {
        Some(ServerMessage::Error { code, .. }) => assert_eq!(code, ErrorCode::Malformed, "{what}"),
        other => panic!("{what}: answered {other:?}"),
    }
}

/// The server is up, never panicked, and serves an honest client.
fn assert_serving(keys: &Keys, server: &mut Server, text: &str) {
    let out = client(keys.path(), server.addr, &["send_msg", text]);
    assert!(
        server.is_running(),
        "the server died; stderr:\n{}",
        server.stderr()
    );
    server.assert_no_panic();
    assert!(out.status.success(), "{}", texts(&out).1);
    server.wait_stdout(text);
}

#[test]
fn forged_counts_in_a_first_request_are_refused_as_malformed_and_cost_no_memory() {
    let keys = Keys::new(2048);
    let mut server = Server::start(keys.path(), &[]);
    let lib = LibClient::new(keys.path());
    let mut forged = forged_acks();
    forged.extend(forged_fetches(lib.me.fingerprint()));
    // Warmed up (threads, keys, database), so what follows is the cost of
    // the forged frames alone.
    assert_serving(&keys, &mut server, "before the forged counts");
    let before = server.rss_kib();
    for (refused, (what, frame)) in forged.iter().enumerate() {
        assert_malformed(what, answer_to(&server, frame));
        // One line each, with the reason (within the log's limit of 20).
        server.wait_stderr_count(MALFORMED, refused + 1);
        assert_serving(&keys, &mut server, &format!("after {what}"));
    }
    for _ in 0..25 {
        for (what, frame) in &forged {
            assert_malformed(what, answer_to(&server, frame));
        }
    }
    assert_serving(&keys, &mut server, "after the forged counts");
    let after = server.rss_kib();
    assert!(
        after < before + 32 * 1024,
        "memory kept: {before} KiB -> {after} KiB"
    );
}

#[test]
fn a_forged_ack_after_a_real_delivery_is_refused_and_the_mailbox_kept() {
    let keys = Keys::new(2048);
    let mut server = Server::start(keys.path(), &[]);
    let lib = LibClient::new(keys.path());
    let text = "queued through forged acknowledgements";
    ok_stdout(&server.operator(keys.path(), &["post", "--to", "client", text]));
    for (refused, (what, frame)) in forged_acks().iter().enumerate() {
        let mut fetch = lib.fetch_open(server.addr, Mode::Hybrid);
        assert_eq!(lib.delivered_ids(&fetch).len(), 1, "{what}: delivered");
        fetch.raw.send(frame);
        assert_malformed(what, fetch.raw.read_server());
        server.wait_stderr_count(MALFORMED, refused + 1);
    }
    // Still queued: the honest client gets it, acknowledges it, and then
    // only the greeting.
    let got = ok_stdout(&client(keys.path(), server.addr, &["recv_msg"]));
    assert!(got.contains(text), "{got}");
    let again = ok_stdout(&client(keys.path(), server.addr, &["recv_msg"]));
    assert!(
        again.contains("This is a message from the server!"),
        "{again}"
    );
    assert_serving(&keys, &mut server, "after the forged acknowledgements");
}

#[test]
fn a_chunk_or_final_chunk_declaring_terabytes_mid_stream_stores_nothing() {
    let keys = Keys::new(2048);
    let mut server = Server::start(keys.path(), &[]);
    let lib = LibClient::new(keys.path());
    let text: Vec<u8> = (0..3 * STREAM_CHUNK_LEN).map(|i| (i % 251) as u8).collect();
    let mut cut = 0;
    for variant in [CHUNK, END] {
        for count in [TERA, u64::MAX] {
            let what = format!("variant {variant} declaring {count} bytes mid-stream");
            let (mut raw, hello) = lib.hello(server.addr);
            let frames = lib.stream_frames(&hello, &text);
            // Past what the server keeps in memory: it is spooling.
            raw.send(&frames.head);
            raw.send(&frames.chunks[0]);
            raw.send(&forged_frame(&codec::encode(&(variant, count))));
            match raw.read_server() {
                Some(ServerMessage::Error { code, .. }) => {
                    assert_eq!(code, ErrorCode::Rejected, "{what}")
                }
                other => panic!("{what}: answered {other:?}"),
            }
            cut += 1;
            server.wait_stderr_count("stream broken after", cut);
            server.wait_stdout_count("the stream broke off", cut);
        }
    }
    let spooled = std::fs::read_dir(server.data.join("spool")).map_or(0, |d| d.count());
    assert_eq!(spooled, 0, "nothing left spooled");
    let inbox = ok_stdout(&server.operator(keys.path(), &["inbox"]));
    assert_eq!(inbox.trim(), "The inbox is empty.");
    assert_serving(&keys, &mut server, "after the forged stream frames");
}
