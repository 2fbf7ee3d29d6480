//! Regression tests for hostile input that used to stop a program or starve
//! its users: forged envelopes whose declared counts make the opener
//! reserve memory for data that never came (the server and the client
//! aborted: "memory allocation of 180879097856 bytes failed"), tiny frames
//! declaring huge lengths, one address flooding the server with RSA work,
//! and refusals that told an unknown key apart from a bad proof.
//!
//! The forged envelopes are encoded by hand, on tuples that mirror the wire
//! structures (cloak-core's `envelope/wire.rs`), because the library can
//! only seal honest ones; a test checks the mirror against real sealed
//! envelopes, so a change of layout fails loudly instead of quietly
//! testing garbage.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Output;
use std::thread;
use std::time::{Duration, Instant};

use cloak_core::codec;
use cloak_core::keydir::Role;
use cloak_core::limits::{ENVELOPE_VERSION, MAX_ENVELOPE_LEN, PROTOCOL_VERSION};
use cloak_core::session::messages::{encode_frame, encode_payload};
use cloak_core::session::{
    ClientMessage, ErrorCode, FetchRequest, ServerHello, ServerMessage, frame, proofs, sender_proof,
};
use cloak_core::{Fingerprint, KeyPair, Mode, PublicKey, SealOptions};
use cloak_tests::{
    FakeServer, Keys, LibClient, Raw, Server, Step, assert_clean_failure, client, connect_from,
    pinned_hello, texts,
};

const ASYMMETRIC: u32 = 0;
const HYBRID: u32 = 1;

/// An envelope as it travels: version, mode, recipient, then the body
/// (variant and fields) — `blocks` in asymmetric mode...
type AsymmetricWire = (u16, u32, [u8; 32], u32, Vec<Vec<u8>>);
/// ... `wrapped_key` and `chunks` in hybrid mode.
type HybridWire = (u16, u32, [u8; 32], u32, Vec<u8>, Vec<Vec<u8>>);

/// Nearly as many empty chunks as the decoder's allocation limit lets
/// through (each costs it a 24-byte `Vec`), in a frame of under 1 MiB:
/// the opener then reserved 256 KiB of plaintext for every one of them,
/// about 180 GB, before authenticating any.
const CRASH_CHUNKS: usize = 690_000;

/// The test keys' size: 3072 bits, so wrapped keys and blocks are 384 bytes.
const BITS: usize = 3072;

fn modulus_len(key: &PublicKey) -> usize {
    key.bits() / 8
}

fn random_bytes(len: usize) -> Vec<u8> {
    std::iter::repeat_with(proofs::new_challenge)
        .flatten()
        .take(len)
        .collect()
}

fn asymmetric_envelope(recipient: Fingerprint, blocks: Vec<Vec<u8>>) -> Vec<u8> {
    let wire: AsymmetricWire = (
        ENVELOPE_VERSION,
        ASYMMETRIC,
        recipient.0,
        ASYMMETRIC,
        blocks,
    );
    codec::encode(&wire)
}

fn hybrid_envelope(recipient: Fingerprint, wrapped_key: Vec<u8>, chunks: Vec<Vec<u8>>) -> Vec<u8> {
    let wire: HybridWire = (
        ENVELOPE_VERSION,
        HYBRID,
        recipient.0,
        HYBRID,
        wrapped_key,
        chunks,
    );
    codec::encode(&wire)
}

/// A hybrid envelope for `recipient` that is well formed up to the AES
/// layer: the random wrapped key unwraps to nothing, which the opener
/// hides by going on with a random key, so only memory stood in the way.
fn crash_envelope(recipient: Fingerprint, modulus_len: usize) -> Vec<u8> {
    hybrid_envelope(
        recipient,
        random_bytes(modulus_len),
        vec![Vec::new(); CRASH_CHUNKS],
    )
}

/// A `Send` of `envelope` behind a junk sender proof: refused at the
/// proof, for the first private-key operation, before the envelope is
/// decoded.
fn send_frame(envelope: Vec<u8>) -> Vec<u8> {
    encode_frame(&ClientMessage::Send {
        wrapped_key: random_bytes(384),
        proof: random_bytes(307),
        envelope,
    })
}

/// A `Send` of `envelope` with a valid proof by `lib`'s key for the
/// connection `hello` opened: from an authorized client, the envelope is
/// decoded and decrypted.
fn proven_frame(lib: &LibClient, hello: &ServerHello, envelope: Vec<u8>) -> Vec<u8> {
    let first = sender_proof::prove_envelope(&lib.me, &lib.server, &hello.challenge, envelope)
        .expect("prove");
    encode_frame(&first)
}

/// A whole frame around a hand-encoded message: variant index, then
/// fields, lengths written as `u64`.
fn forged_frame(message: &[u8]) -> Vec<u8> {
    frame::encode(&forged_payload(message))
}

fn forged_payload(message: &[u8]) -> Vec<u8> {
    [&PROTOCOL_VERSION.to_be_bytes()[..], message].concat()
}

fn seal(me: &KeyPair, to: &PublicKey, mode: Mode, freshness: &[u8], text: &[u8]) -> Vec<u8> {
    cloak_core::seal(me, to, mode, freshness, text, &SealOptions::default())
        .expect("seal")
        .bytes
}

// The forged encodings write variant indices and lengths by hand; these
// pin them to what the library encodes.

#[test]
fn the_envelope_mirror_matches_sealed_envelopes() {
    let keys = Keys::new(BITS);
    let (me, server) = (keys.pair(Role::Client), keys.pair(Role::Server));
    let (to, k) = (server.fingerprint(), modulus_len(server.public()));

    let sealed = seal(&me, server.public(), Mode::Asymmetric, &[7; 32], b"mirror");
    let (version, mode, recipient, body, blocks): AsymmetricWire =
        codec::decode::<_, MAX_ENVELOPE_LEN>(&sealed).expect("asymmetric layout");
    assert_eq!((version, mode, recipient, body), (1, 0, to.0, 0));
    assert!(blocks.iter().all(|b| b.len() == k), "blocks of {k} bytes");
    assert_eq!(asymmetric_envelope(to, blocks), sealed);

    let sealed = seal(&me, server.public(), Mode::Hybrid, &[7; 32], b"mirror");
    let (version, mode, recipient, body, wrapped_key, chunks): HybridWire =
        codec::decode::<_, MAX_ENVELOPE_LEN>(&sealed).expect("hybrid layout");
    assert_eq!((version, mode, recipient, body), (1, 1, to.0, 1));
    assert_eq!(wrapped_key.len(), k);
    assert_eq!(hybrid_envelope(to, wrapped_key, chunks), sealed);

    let forged = crash_envelope(to, k);
    assert_eq!(cloak_core::peek_mode(&forged), Some(Mode::Hybrid));
    assert!(forged.len() < 1 << 20, "{} bytes", forged.len());
}

#[test]
fn the_message_mirror_matches_encoded_messages() {
    let data = || vec![9u8];
    let send = ClientMessage::Send {
        wrapped_key: vec![1],
        proof: vec![2],
        envelope: data(),
    };
    let forged = forged_payload(&codec::encode(&(0u32, vec![1u8], vec![2u8], data())));
    assert_eq!(encode_payload(&send), forged);
    let stream = ClientMessage::SendStream {
        head: data(),
        proof: vec![2],
    };
    let forged = forged_payload(&codec::encode(&(3u32, data(), vec![2u8])));
    assert_eq!(encode_payload(&stream), forged);
    let chunk = ClientMessage::Chunk { data: data() };
    assert_eq!(
        encode_payload(&chunk),
        forged_payload(&codec::encode(&(4u32, data())))
    );
    let delivery = ServerMessage::Delivery {
        envelopes: vec![data()],
        remaining: 5,
    };
    let forged = forged_payload(&codec::encode(&(2u32, vec![data()], 5u32)));
    assert_eq!(encode_payload(&delivery), forged);
}

// --- The server against forged frames ---------------------------------

/// Sends the frame `forge` makes from the hello on a fresh connection;
/// returns the answer, `None` if the server hung up without one.
fn answer_to(
    server: &Server,
    forge: impl FnOnce(&ServerHello) -> Vec<u8>,
) -> Option<ServerMessage> {
    let mut raw = Raw::connect(server.addr);
    let Some(ServerMessage::Hello(hello)) = raw.read_server() else {
        panic!("no hello; server stderr:\n{}", server.stderr());
    };
    raw.send(&forge(&hello));
    raw.read_server()
}

/// The server refused `what` (or hung up), is still running, never
/// panicked, and still serves an honest client.
fn assert_survived(keys: &Keys, server: &mut Server, what: &str, answer: Option<ServerMessage>) {
    if let Some(other) = answer
        .as_ref()
        .filter(|a| !matches!(a, ServerMessage::Error { .. }))
    {
        panic!("{what}: answered {other:?}");
    }
    let honest = format!("honest message after {what}");
    let out = client(keys.path(), server.addr, &["send_msg", &honest]);
    assert!(
        server.is_running(),
        "{what}: the server died; stderr:\n{}",
        server.stderr()
    );
    server.assert_no_panic();
    assert!(out.status.success(), "{what}: {}", texts(&out).1);
    server.wait_stdout(&honest);
}

#[test]
fn a_hybrid_envelope_declaring_690000_chunks_does_not_stop_the_server() {
    let keys = Keys::new(BITS);
    let mut server = Server::start(keys.path(), &[]);
    let lib = LibClient::new(keys.path());
    let k = modulus_len(&lib.server);
    let answer = answer_to(&server, |hello| {
        proven_frame(&lib, hello, crash_envelope(hello.server, k))
    });
    assert_survived(&keys, &mut server, "690000 empty hybrid chunks", answer);
}

#[test]
fn an_asymmetric_envelope_with_a_huge_block_count_does_not_stop_the_server() {
    let keys = Keys::new(BITS);
    let mut server = Server::start(keys.path(), &[]);
    let lib = LibClient::new(keys.path());
    let answer = answer_to(&server, |hello| {
        let envelope = asymmetric_envelope(hello.server, vec![Vec::new(); CRASH_CHUNKS]);
        proven_frame(&lib, hello, envelope)
    });
    assert_survived(&keys, &mut server, "690000 empty asymmetric blocks", answer);
}

/// Frames of a few bytes (a few hundred with a wrapped key) whose vectors
/// declare lengths or counts that only a decoder trusting them would
/// reserve memory for.
fn tiny_frames(server: Fingerprint, k: usize) -> Vec<(&'static str, Vec<u8>)> {
    let sixteen_mib = 16u64 << 20;
    let header = |mode: u32| (ENVELOPE_VERSION, mode, server.0, mode);
    vec![
        (
            "a Send whose wrapped key says 16 MiB, in 12 bytes",
            forged_frame(&codec::encode(&(0u32, sixteen_mib))),
        ),
        (
            "a Send whose envelope says 2^64 - 1 bytes",
            forged_frame(&codec::encode(&(
                0u32,
                vec![0u8; 4],
                vec![1u8; 4],
                u64::MAX,
            ))),
        ),
        (
            "a hybrid envelope declaring 690000 chunks, none sent",
            send_frame(codec::encode(&(
                header(HYBRID),
                random_bytes(k),
                CRASH_CHUNKS as u64,
            ))),
        ),
        (
            "a hybrid envelope whose wrapped key says 16 MiB",
            send_frame(codec::encode(&(header(HYBRID), sixteen_mib))),
        ),
        (
            "an asymmetric envelope declaring 2^64 - 1 blocks",
            send_frame(codec::encode(&(header(ASYMMETRIC), u64::MAX))),
        ),
        (
            "an asymmetric envelope declaring 2^20 blocks, none sent",
            send_frame(codec::encode(&(header(ASYMMETRIC), 1u64 << 20))),
        ),
        (
            "a SendStream whose head says 16 MiB",
            forged_frame(&codec::encode(&(3u32, sixteen_mib))),
        ),
        (
            "a SendStream whose proof says 16 MiB",
            forged_frame(&codec::encode(&(3u32, vec![0u8; 4], sixteen_mib))),
        ),
        (
            "a Chunk whose data says 16 MiB",
            forged_frame(&codec::encode(&(4u32, sixteen_mib))),
        ),
    ]
}

#[test]
fn tiny_frames_declaring_huge_lengths_do_not_stop_the_server() {
    let keys = Keys::new(BITS);
    let mut server = Server::start(keys.path(), &[]);
    let pinned = LibClient::new(keys.path()).server;
    for (what, frame) in tiny_frames(pinned.fingerprint(), modulus_len(&pinned)) {
        let answer = answer_to(&server, |_| frame);
        assert_survived(&keys, &mut server, what, answer);
    }
}

// --- The client against a hostile server --------------------------------

/// Runs `recv_msg` against a fake server that answers the fetch with
/// `reply`; checks that the client did fetch.
fn recv_against(keys: &Keys, reply: Vec<u8>) -> Output {
    recv_with(keys, reply, &[])
}

/// The same, with more arguments to `recv_msg`.
fn recv_with(keys: &Keys, reply: Vec<u8>, args: &[&str]) -> Output {
    let fake = FakeServer::start(
        pinned_hello(keys.path()),
        vec![Step::Read, Step::Write(reply)],
    );
    let out = client(keys.path(), fake.addr, &[&["recv_msg"], args].concat());
    let sent = fake.finish_messages();
    assert!(
        matches!(sent.first(), Some(Some(ClientMessage::Fetch(_)))),
        "the client fetched first: {sent:?}"
    );
    out
}

#[test]
fn a_delivery_declaring_690000_chunks_does_not_crash_the_client() {
    let keys = Keys::new(BITS);
    let me = keys.pair(Role::Client);
    let delivery = ServerMessage::Delivery {
        envelopes: vec![crash_envelope(me.fingerprint(), modulus_len(me.public()))],
        remaining: 0,
    };
    let out = recv_against(&keys, encode_frame(&delivery));
    assert_clean_failure("690000 empty chunks", &out);
}

#[test]
fn a_delivery_declaring_huge_counts_in_a_small_frame_fails_cleanly() {
    let keys = Keys::new(BITS);
    let counts = [
        ("690000 envelopes", CRASH_CHUNKS as u64),
        ("2^64 - 1 envelopes", u64::MAX),
    ];
    for (what, count) in counts {
        let out = recv_against(&keys, forged_frame(&codec::encode(&(2u32, count))));
        assert_clean_failure(what, &out);
    }
}

/// A server that greets its one connection with `bytes` instead of a
/// hello, then waits for the client to hang up.
fn greets_with(bytes: Vec<u8>) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let _ = stream.write_all(&bytes);
            let _ = std::io::copy(&mut stream, &mut std::io::sink());
        }
    });
    addr
}

#[test]
fn a_forged_hello_cannot_make_the_client_read_or_print_megabytes() {
    let keys = Keys::new(BITS);
    let server = keys.pair(Role::Server).fingerprint();
    // A hello listing a million modes, and a hello-sized frame prefix
    // declaring 16 MiB: both refused, in one line.
    let modes = codec::encode(&(0u32, server, [7u8; 32], vec![Mode::Hybrid; 1_000_000]));
    for (what, hello) in [
        ("a million modes", forged_frame(&modes)),
        ("a 16 MiB hello", vec![1, 0, 0, 0, 0, 1, 0]),
    ] {
        // Asymmetric, which the forged hello does not list: the client
        // once listed every mode it did list in its error, a million times.
        let args = ["--mode", "asymmetric", "send_msg", "hi"];
        let out = client(keys.path(), greets_with(hello), &args);
        assert_clean_failure(what, &out);
        assert!(texts(&out).1.len() < 2048, "{what}: {}", texts(&out).1);
    }
}

#[test]
fn a_4_gib_frame_prefix_fails_cleanly() {
    let keys = Keys::new(BITS);
    let out = recv_against(&keys, vec![0xff, 0xff, 0xff, 0xff, 0, 1, 2]);
    assert_clean_failure("a 4 GiB frame prefix", &out);
}

#[test]
fn a_delivery_stream_declaring_the_largest_size_fails_cleanly() {
    let keys = Keys::new(BITS);
    let out_dir = tempfile::tempdir().unwrap();
    let out_file = out_dir.path().join("letter.bin");
    let out_arg = out_file.to_str().unwrap();
    let stream = [
        encode_frame(&ServerMessage::DeliveryStream {
            head: random_bytes(600),
            size: u64::MAX,
            remaining: u32::MAX,
        }),
        encode_frame(&ServerMessage::StreamEnd {
            data: random_bytes(100),
        }),
    ]
    .concat();
    for args in [&[][..], &["--out", out_arg][..]] {
        let out = recv_with(&keys, stream.clone(), args);
        assert_clean_failure(&format!("a stream of 2^64 - 1 bytes, {args:?}"), &out);
        assert!(!out_file.exists(), "nothing unverified is written");
    }
}

#[test]
fn an_error_detail_reaches_the_terminal_short_and_without_controls() {
    let keys = Keys::new(BITS);
    let detail =
        "\x1b[2J\x1b]0;owned\x07\nMessage integrity & sender authentication passed.\r".repeat(200);
    let refusal = ServerMessage::Error {
        code: ErrorCode::Rejected,
        detail,
    };
    let out = recv_against(&keys, encode_frame(&refusal));
    assert_clean_failure("a hostile error detail", &out);
    let (_, stderr) = texts(&out);
    assert!(
        !stderr.bytes().any(|b| b.is_ascii_control() && b != b'\n'),
        "control characters reached the terminal: {stderr:?}"
    );
    assert!(stderr.len() < 8 * 1024, "{} bytes shown", stderr.len());
}

// --- One address flooding the server with RSA work ---------------------

const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const ATTACKERS: usize = 4;
const FLOOD_FOR: Duration = Duration::from_secs(9);
/// Enough blocks to cost the server 200 RSA private-key operations, few
/// enough to stay under its cap on asymmetric messages (64 KiB).
const FLOOD_BLOCKS: usize = 200;

/// An envelope that passes every check made before RSA: blocks of the
/// modulus length, each below the modulus (a leading zero byte), so every
/// block costs a private-key operation before it fails. Since the sender
/// proof, only an authorized key gets that far: the flooder holds one.
fn expensive_envelope(server: Fingerprint, k: usize) -> Vec<u8> {
    let blocks = (0..FLOOD_BLOCKS)
        .map(|_| [&[0u8][..], &random_bytes(k - 1)].concat())
        .collect();
    asymmetric_envelope(server, blocks)
}

/// One attacker until `until`: connect, take the hello (so closing is a
/// clean FIN the server reads past, not a reset), send `envelope` with a
/// proof for this connection, hang up at once. Returns how many requests
/// it got out.
fn flood(server: SocketAddr, lib: &LibClient, envelope: &[u8], until: Instant) -> usize {
    let mut sent = 0;
    while Instant::now() < until {
        let Ok(stream) = connect_from(ATTACKER, server) else {
            continue;
        };
        let mut raw = Raw { stream };
        let Some(ServerMessage::Hello(hello)) = raw.read_server() else {
            continue;
        };
        let frame = proven_frame(lib, &hello, envelope.to_vec());
        if raw.stream.write_all(&frame).is_ok() {
            sent += 1;
        }
    }
    sent
}

#[test]
fn one_address_flooding_rsa_work_does_not_starve_an_honest_client() {
    let keys = Keys::new(BITS);
    let mut server = Server::start(keys.path(), &[]);
    let lib = LibClient::new(keys.path());
    let envelope = expensive_envelope(lib.server.fingerprint(), modulus_len(&lib.server));
    let until = Instant::now() + FLOOD_FOR;
    let addr = server.addr;
    let sent: usize = thread::scope(|scope| {
        let attackers: Vec<_> = (0..ATTACKERS)
            .map(|_| scope.spawn(|| flood(addr, &lib, &envelope, until)))
            .collect();
        // Let the flood build a backlog of work first.
        thread::sleep(Duration::from_secs(2));
        honest_sends_during(&keys, &server);
        attackers.into_iter().map(|a| a.join().unwrap()).sum()
    });
    println!("the flood sent {sent} requests from {ATTACKER}");
    assert!(sent > 0, "no flood request went out from {ATTACKER}");
    assert!(server.is_running());
}

fn honest_sends_during(keys: &Keys, server: &Server) {
    for mode in ["asymmetric", "hybrid"] {
        let text = format!("honest {mode} message during the flood");
        let start = Instant::now();
        let out = client(
            keys.path(),
            server.addr,
            &["--mode", mode, "send_msg", &text],
        );
        let latency = start.elapsed();
        println!("honest {mode} send_msg during the flood took {latency:?}");
        assert!(
            out.status.success(),
            "{mode}, after {latency:?}: {}",
            texts(&out).1
        );
    }
}

// --- One answer for every refusal --------------------------------------

/// The answer to a well-formed message from `lib`'s key, with its proof.
fn send_answer(lib: &LibClient, server: &Server, mode: Mode) -> ServerMessage {
    let (mut raw, hello) = lib.hello(server.addr);
    match mode {
        Mode::Asymmetric => {
            let mut payload = proofs::new_receipt_key().to_vec();
            payload.extend_from_slice(b"from a stranger");
            let envelope = seal(&lib.me, &lib.server, mode, &hello.challenge, &payload);
            raw.send(&proven_frame(lib, &hello, envelope));
        }
        _ => {
            let frames = lib.stream_frames(&hello, b"from a stranger");
            raw.send(&frames.head);
            for chunk in &frames.chunks {
                raw.send(chunk);
            }
            raw.send(&frames.end);
        }
    }
    raw.read_server().expect("an answer to the send")
}

#[test]
fn a_send_from_an_unknown_key_is_rejected_without_naming_it() {
    let keys = Keys::new(BITS);
    let server = Server::start(keys.path(), &[]);
    let stranger = LibClient::new(Keys::other_client(BITS).path());
    let fingerprint = stranger.me.fingerprint().to_string();
    let base64 = fingerprint.trim_start_matches("SHA256:");
    for mode in [Mode::Asymmetric, Mode::Hybrid] {
        match send_answer(&stranger, &server, mode) {
            ServerMessage::Error { code, detail } => {
                assert_eq!(code, ErrorCode::Rejected, "{mode}: {detail}");
                assert!(!detail.contains(base64), "{mode}: names the key: {detail}");
            }
            other => panic!("{mode}: answered {other:?}"),
        }
    }
}

fn fetch_answer(
    lib: &LibClient,
    server: &Server,
    spoil: impl FnOnce(&mut FetchRequest),
) -> ServerMessage {
    let (mut raw, hello) = lib.hello(server.addr);
    let mut request = proofs::sign_fetch(&lib.me, hello.server, &hello.challenge, Mode::Hybrid)
        .expect("sign the fetch");
    spoil(&mut request);
    raw.send(&encode_frame(&ClientMessage::Fetch(request)));
    raw.read_server().expect("an answer to the fetch")
}

#[test]
fn an_unknown_fetcher_and_a_bad_fetch_proof_get_the_same_answer() {
    let keys = Keys::new(BITS);
    let server = Server::start(keys.path(), &[]);
    let unknown = fetch_answer(
        &LibClient::new(Keys::other_client(BITS).path()),
        &server,
        |_| {},
    );
    let bad_proof = fetch_answer(&LibClient::new(keys.path()), &server, |request| {
        *request.proof.last_mut().unwrap() ^= 1;
    });
    assert!(
        matches!(bad_proof, ServerMessage::Error { .. }),
        "a bad proof is refused: {bad_proof:?}"
    );
    assert_eq!(unknown, bad_proof, "an unknown key is told apart");
}
