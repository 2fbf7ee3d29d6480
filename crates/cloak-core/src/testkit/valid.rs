//! The valid vectors: each sealed through the library's own sealing
//! functions with the backend's generator seeded, and written with the
//! plaintext and claims a recipient must get back.

use super::{CLIENT_KEY_FILE, SERVER_KEY_FILE, Vector, hex, keys};
use crate::backend::seeded::with_seeded_rng;
use crate::envelope::stream::StreamSealer;
use crate::session::messages::encode_frame;
use crate::session::{ClientMessage, proofs, sender_proof};
use crate::{Fingerprint, KeyPair, MessageId, Mode, SealOptions};

/// Every claim's timestamp (2025-11-28 00:00 UTC): sealing would
/// otherwise take the clock's.
pub(crate) const TIMESTAMP: u64 = 1_764_288_000;

/// The freshness value every valid vector is signed over: in a session,
/// the challenge of the server's hello.
pub(crate) const CHALLENGE: [u8; 32] = *b"testkit challenge 0123456789abcd";

/// A challenge other than [`CHALLENGE`], for replays.
pub(crate) const OTHER_CHALLENGE: [u8; 32] = *b"testkit challenge of another day";

/// Long enough for eight asymmetric blocks at 2048 bits, which a
/// recipient with a small limit refuses (`fail_envelope_too_many_blocks`).
pub(crate) fn long_text() -> Vec<u8> {
    b"Known-answer vectors pin every byte of the format. "
        .iter()
        .copied()
        .cycle()
        .take(1000)
        .collect()
}

fn options() -> SealOptions {
    SealOptions {
        timestamp: Some(TIMESTAMP),
        ..SealOptions::default()
    }
}

/// The fields every vector from the client to the server starts with;
/// `opening` says what the recipient expects (a freshness value, or the
/// challenge of its hello).
fn head(name: &str, kind: &str, mode: Mode, opening: &'static str, seed: u64) -> Vector {
    Vector::new(name)
        .field("kind", kind)
        .field("mode", mode)
        .field("sender", CLIENT_KEY_FILE)
        .field("recipient", SERVER_KEY_FILE)
        .field(opening, hex(&CHALLENGE))
        .field("expect", "ok")
        .field("seed", seed)
}

/// What the recipient must find: the claims and the plaintext.
fn claims(vector: Vector, id: MessageId, plaintext: &[u8]) -> Vector {
    vector
        .field(
            "claimed_sender",
            Fingerprint::to_string(&keys().client.fingerprint()),
        )
        .field("message_id", id)
        .field("timestamp", TIMESTAMP)
        .field("freshness", hex(&CHALLENGE))
        .section("plaintext", plaintext)
}

pub(crate) fn envelope(name: &str, mode: Mode, seed: u64, plaintext: &[u8]) -> Vector {
    let (client, server) = parties();
    let sealed = with_seeded_rng(seed, || {
        crate::seal(
            client,
            server.public(),
            mode,
            &CHALLENGE,
            plaintext,
            &options(),
        )
    })
    .expect("seal");
    let vector = head(name, "envelope", mode, "expect_freshness", seed);
    claims(vector, sealed.message_id, plaintext).section("envelope", sealed.bytes)
}

fn stream(name: &str, seed: u64, plaintext: &[u8]) -> Vector {
    let (client, server) = parties();
    let (id, head_bytes, chunks, end) = with_seeded_rng(seed, || {
        let (mut sealer, head) =
            StreamSealer::new(client, server.public(), &CHALLENGE, &options()).expect("head");
        let mut chunks = sealer.push(plaintext).expect("chunks");
        let id = sealer.message_id();
        let end = sealer.finish().expect("end");
        chunks.extend(end.last_data);
        (id, head, chunks, end.final_chunk)
    });
    let vector = head(name, "stream", Mode::Hybrid, "expect_freshness", seed);
    let vector = claims(vector, id, plaintext).section("head", head_bytes);
    let vector = chunks
        .into_iter()
        .fold(vector, |v, c| v.section("chunk", c));
    vector.section("final", end)
}

/// A sent message's plaintext: the receipt key, then the text.
fn with_receipt_key(text: &[u8]) -> Vec<u8> {
    let mut plaintext = proofs::new_receipt_key().to_vec();
    plaintext.extend_from_slice(text);
    plaintext
}

fn session_send_asymmetric(name: &str, seed: u64, text: &[u8]) -> Vector {
    let (client, server) = parties();
    let (id, plaintext, frame) = with_seeded_rng(seed, || {
        let plaintext = with_receipt_key(text);
        let sealed = crate::seal(
            client,
            server.public(),
            Mode::Asymmetric,
            &CHALLENGE,
            &plaintext,
            &options(),
        )
        .expect("seal");
        let first = sender_proof::prove_envelope(client, server.public(), &CHALLENGE, sealed.bytes)
            .expect("proof");
        (sealed.message_id, plaintext, encode_frame(&first))
    });
    let vector = head(name, "session", Mode::Asymmetric, "challenge", seed);
    claims(vector, id, &plaintext).section("frame", frame)
}

fn session_send_stream(name: &str, seed: u64, text: &[u8]) -> Vector {
    let (client, server) = parties();
    let (id, plaintext, frames) = with_seeded_rng(seed, || {
        let plaintext = with_receipt_key(text);
        let (mut sealer, head) =
            StreamSealer::new(client, server.public(), &CHALLENGE, &options()).expect("head");
        let first =
            sender_proof::prove_stream(&mut sealer, client, server.fingerprint(), &CHALLENGE, head)
                .expect("proof");
        let mut frames = vec![encode_frame(&first)];
        let mut chunks = sealer.push(&plaintext).expect("chunks");
        let id = sealer.message_id();
        let end = sealer.finish().expect("end");
        chunks.extend(end.last_data);
        frames.extend(
            chunks
                .into_iter()
                .map(|data| encode_frame(&ClientMessage::Chunk { data })),
        );
        frames.push(encode_frame(&ClientMessage::End {
            data: end.final_chunk,
        }));
        (id, plaintext, frames)
    });
    let vector = head(name, "session", Mode::Hybrid, "challenge", seed);
    let vector = claims(vector, id, &plaintext);
    frames
        .into_iter()
        .fold(vector, |v, f| v.section("frame", f))
}

/// The sender and the recipient of every valid vector.
pub(crate) fn parties() -> (&'static KeyPair, &'static KeyPair) {
    let keys = keys();
    (&keys.client, &keys.server)
}

/// The valid vectors, each under its own seed.
pub(crate) fn all() -> Vec<Vector> {
    vec![
        envelope("envelope_asymmetric", Mode::Asymmetric, 1, &long_text()),
        envelope(
            "envelope_hybrid",
            Mode::Hybrid,
            2,
            b"A hybrid envelope: one data chunk, then the final chunk.",
        ),
        envelope("envelope_hybrid_empty", Mode::Hybrid, 3, b""),
        stream(
            "stream_hybrid",
            4,
            b"A stream: its head, one data chunk and its final chunk, each as it travels.",
        ),
        session_send_asymmetric(
            "session_send_asymmetric",
            5,
            b"Hello over a session, asymmetric.",
        ),
        session_send_stream(
            "session_send_stream",
            6,
            b"Hello over a session, as a stream.",
        ),
    ]
}
