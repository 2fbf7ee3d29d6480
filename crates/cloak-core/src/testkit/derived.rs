//! Vectors derived from the valid ones: the `fail_` cases, each one
//! mutation of a valid vector's bytes or of how its recipient opens it,
//! named in its `mutation` field; and two valid variations (an archived
//! open, a lenient session encoding).
//!
//! The encodings are rewritten through tuples that follow
//! docs/PROTOCOL.md §2–§3, not through the library's own wire types, so a
//! mutation lands where the document says the field is.

use super::valid::{CHALLENGE, OTHER_CHALLENGE, TIMESTAMP, parties};
use super::{CLIENT_KEY_FILE, SERVER_KEY_FILE, Vector, hex};
use crate::backend::{self, seeded::with_seeded_rng};
use crate::codec;
use crate::limits::{
    ASYMMETRIC_BLOCK_LABEL, ENVELOPE_VERSION, MAX_ENVELOPE_LEN, oaep_block_capacity,
};
use crate::primitives;
use crate::session::ClientMessage;
use crate::session::messages::{decode_payload, encode_frame};
use crate::{Fingerprint, MessageId, Mode};

/// The cleartext header: version, mode, recipient.
type Header = (u16, Mode, Fingerprint);
/// An asymmetric envelope: header, body variant 0, blocks.
type Asymmetric = (Header, u32, Vec<Vec<u8>>);
/// A hybrid envelope: header, body variant 1, wrapped key, chunks.
type Hybrid = (Header, u32, Vec<u8>, Vec<Vec<u8>>);

/// Where an asymmetric envelope's block count starts: after the version
/// and mode (one byte each while they are small), the 32-byte recipient and
/// the body's variant index.
const BLOCK_COUNT_AT: usize = 1 + 1 + 32 + 1;

/// What a failing vector keeps of its origin: who opens it and how. The
/// claims and plaintext it would have given are gone.
const KEPT: [&str; 8] = [
    "kind",
    "mode",
    "sender",
    "recipient",
    "challenge",
    "expect_freshness",
    "only_mode",
    "max_asymmetric_plaintext",
];

fn fail(base: &Vector, name: &str, expect: &str, mutation: &str) -> Vector {
    let mut vector = Vector::new(name);
    vector.fields = (base.fields.iter())
        .filter(|(key, _)| KEPT.contains(key))
        .cloned()
        .collect();
    vector.set("expect", expect);
    vector.set("from", &base.name);
    vector.set("mutation", mutation);
    vector.sections = (base.sections.iter())
        .filter(|(name, _)| *name != "plaintext")
        .cloned()
        .collect();
    vector
}

/// A valid variation: the same claims and plaintext as `base`, which its
/// seed no longer reproduces.
fn variation(base: &Vector, name: &str, mutation: &str) -> Vector {
    let mut vector = base.clone();
    vector.name = name.to_owned();
    vector.fields.retain(|(key, _)| *key != "seed");
    vector.set("from", &base.name);
    vector.set("mutation", mutation);
    vector
}

fn flip_last(bytes: &mut [u8]) {
    *bytes.last_mut().expect("not empty") ^= 1;
}

fn splice(bytes: &mut Vec<u8>, at: usize, old: &[u8], new: &[u8]) {
    assert_eq!(&bytes[at..at + old.len()], old, "the bytes to replace");
    bytes.splice(at..at + old.len(), new.iter().copied());
}

fn rewrite_chunks(envelope: &mut Vec<u8>, change: impl FnOnce(&mut Vec<Vec<u8>>)) {
    let mut hybrid: Hybrid = codec::decode::<_, MAX_ENVELOPE_LEN>(envelope).expect("hybrid");
    change(&mut hybrid.3);
    *envelope = codec::encode(&hybrid);
}

fn rewrite_frame(frame: &mut Vec<u8>, change: impl FnOnce(&mut ClientMessage)) {
    let mut message: ClientMessage = decode_payload(&frame[4..]).expect("frame");
    change(&mut message);
    *frame = encode_frame(&message);
}

fn by<'a>(valid: &'a [Vector], name: &str) -> &'a Vector {
    valid
        .iter()
        .find(|v| v.name == name)
        .expect("a valid vector")
}

/// Every derived vector.
pub(crate) fn all(valid: &[Vector]) -> Vec<Vector> {
    let mut all = asymmetric(by(valid, "envelope_asymmetric"));
    all.extend(hybrid(by(valid, "envelope_hybrid")));
    all.extend(stream(by(valid, "stream_hybrid")));
    all.extend(session(
        by(valid, "session_send_asymmetric"),
        by(valid, "session_send_stream"),
    ));
    all.push(wrong_signature_label());
    all
}

fn asymmetric(base: &Vector) -> Vec<Vector> {
    let blocks = codec::decode::<Asymmetric, MAX_ENVELOPE_LEN>(base.bytes("envelope"))
        .expect("asymmetric")
        .2
        .len();
    let mut flipped = fail(
        base,
        "fail_envelope_asymmetric_flipped_byte",
        "decrypt",
        "last byte of the last block flipped",
    );
    flip_last(flipped.bytes_mut("envelope"));
    let wrong = fail(
        base,
        "fail_envelope_wrong_recipient",
        "decrypt",
        "opened by the sender's key, not the recipient's",
    )
    .field("recipient", CLIENT_KEY_FILE);
    let mut long = fail(
        base,
        "fail_envelope_noncanonical_varint",
        "decrypt",
        "the header's version 1 written long, as fb 00 01",
    );
    splice(long.bytes_mut("envelope"), 0, &[1], &[0xfb, 0, 1]);
    let mut mismatch = fail(
        base,
        "fail_envelope_mode_mismatch",
        "decrypt",
        "the header's mode set to hybrid over the asymmetric body",
    );
    splice(mismatch.bytes_mut("envelope"), 1, &[0], &[1]);
    let too_many = fail(
        base,
        "fail_envelope_too_many_blocks",
        "decrypt",
        "opened by a recipient that takes 256 bytes of asymmetric plaintext, so 7 blocks at most",
    )
    .field("max_asymmetric_plaintext", 256);
    let mut declared = fail(
        base,
        "fail_envelope_declared_count",
        "decrypt",
        "the block count written as 2^32, with the same blocks behind it",
    );
    let huge = [[0xfd].as_slice(), &(1u64 << 32).to_be_bytes()].concat();
    splice(
        declared.bytes_mut("envelope"),
        BLOCK_COUNT_AT,
        &[blocks as u8],
        &huge,
    );
    vec![flipped, wrong, long, mismatch, too_many, declared]
}

fn hybrid(base: &Vector) -> Vec<Vector> {
    let mut flipped = fail(
        base,
        "fail_envelope_hybrid_flipped_tag",
        "decrypt",
        "last byte of the data chunk's tag flipped",
    );
    rewrite_chunks(flipped.bytes_mut("envelope"), |c| flip_last(&mut c[0]));
    let mut missing = fail(
        base,
        "fail_envelope_missing_final_chunk",
        "decrypt",
        "the final chunk removed, so the data chunk comes last",
    );
    rewrite_chunks(missing.bytes_mut("envelope"), |c| drop(c.pop()));
    let mut twice = fail(
        base,
        "fail_envelope_two_final_chunks",
        "decrypt",
        "the final chunk repeated",
    );
    rewrite_chunks(twice.bytes_mut("envelope"), |c| c.push(c[1].clone()));
    let mut after = fail(
        base,
        "fail_envelope_chunk_after_final",
        "decrypt",
        "the data chunk repeated after the final chunk",
    );
    rewrite_chunks(after.bytes_mut("envelope"), |c| c.push(c[0].clone()));
    let mut trailing = fail(
        base,
        "fail_envelope_trailing_bytes",
        "decrypt",
        "one zero byte appended",
    );
    trailing.bytes_mut("envelope").push(0);
    let stale = fail(
        base,
        "fail_envelope_stale_freshness",
        "verify",
        "the recipient expects another challenge than the one signed",
    )
    .field("expect_freshness", hex(&OTHER_CHALLENGE));
    let archived = variation(
        base,
        "envelope_hybrid_archived",
        "opened as archived (freshness checked on arrival), so any freshness is taken",
    )
    .field("expect_freshness", "archived");
    vec![flipped, missing, twice, after, trailing, stale, archived]
}

fn stream(base: &Vector) -> Vec<Vector> {
    let mut flipped = fail(
        base,
        "fail_stream_flipped_tag",
        "chunk",
        "last byte of the data chunk's tag flipped",
    );
    flip_last(flipped.bytes_mut("chunk"));
    let mut long = fail(
        base,
        "fail_stream_noncanonical_varint",
        "head",
        "the head's version 1 written long, as fb 00 01",
    );
    splice(long.bytes_mut("head"), 0, &[1], &[0xfb, 0, 1]);
    let mut missing = fail(
        base,
        "fail_stream_missing_final_chunk",
        "final",
        "the final chunk removed, and the data chunk sent as the final one",
    );
    missing.sections.retain(|(name, _)| *name != "final");
    missing.sections.last_mut().expect("the data chunk").0 = "final";
    vec![flipped, long, missing]
}

fn session(send: &Vector, stream: &Vector) -> Vec<Vector> {
    let mut flipped = fail(
        send,
        "fail_session_flipped_proof_tag",
        "proof",
        "last byte of the sender proof's tag flipped",
    );
    rewrite_frame(flipped.bytes_mut("frame"), |m| match m {
        ClientMessage::Send { proof, .. } => flip_last(proof),
        _ => unreachable!("a send"),
    });
    let wrong = fail(
        send,
        "fail_session_wrong_server",
        "proof",
        "received by a server with another key (the sender's)",
    )
    .field("recipient", CLIENT_KEY_FILE);
    let mut old = fail(
        send,
        "fail_session_old_version",
        "frame",
        "the frame's protocol version set to 1",
    );
    splice(old.bytes_mut("frame"), 4, &[0, 2], &[0, 1]);
    let stale = fail(
        stream,
        "fail_session_stale_challenge",
        "proof",
        "replayed to a connection whose hello had another challenge",
    )
    .field("challenge", hex(&OTHER_CHALLENGE));
    let mut lenient = variation(
        send,
        "session_send_lenient_varint",
        "the message's variant index 0 written long, as fb 00 00: session messages decode leniently",
    );
    let frame = lenient.bytes_mut("frame");
    splice(frame, 6, &[0], &[0xfb, 0, 0]);
    let len = u32::from_be_bytes(frame[..4].try_into().expect("prefix")) + 2;
    frame[..4].copy_from_slice(&len.to_be_bytes());
    vec![flipped, wrong, old, stale, lenient]
}

/// An asymmetric envelope made as `seal` makes it (a test checks that,
/// with the right label, the bytes are `seal`'s), signed under `label`.
pub(crate) fn asymmetric_with_label(label: &[u8], seed: u64, plaintext: &[u8]) -> Vec<u8> {
    let (client, server) = parties();
    with_seeded_rng(seed, || {
        let mut id = [0; 16];
        backend::fill_random(&mut id);
        let signed = codec::encode(&(
            label,
            ENVELOPE_VERSION,
            Mode::Asymmetric,
            client.fingerprint(),
            server.fingerprint(),
            CHALLENGE.as_slice(),
            MessageId(id),
            TIMESTAMP,
            [0u8; 0].as_slice(),
            backend::digest(plaintext),
        ));
        let signature = primitives::pss_sign(client, &signed).expect("sign");
        let claims = (
            client.fingerprint(),
            MessageId(id),
            TIMESTAMP,
            CHALLENGE.as_slice(),
            signature,
        );
        let inner = codec::encode(&(claims, plaintext));
        let capacity = oaep_block_capacity(server.public().modulus_len());
        let count = inner.len().div_ceil(capacity) as u32;
        let blocks: Vec<Vec<u8>> = (inner.chunks(capacity).zip(0u32..))
            .map(|(piece, i)| {
                let label = [
                    ASYMMETRIC_BLOCK_LABEL,
                    &i.to_be_bytes(),
                    &count.to_be_bytes(),
                ]
                .concat();
                primitives::oaep_encrypt(server.public(), &label, piece).expect("block")
            })
            .collect();
        let header: Header = (ENVELOPE_VERSION, Mode::Asymmetric, server.fingerprint());
        codec::encode(&(header, 0u32, blocks))
    })
}

/// The text of `fail_envelope_wrong_signature_label`.
pub(crate) const WRONG_LABEL_TEXT: &[u8] = b"Signed under the label of another protocol version.";

fn wrong_signature_label() -> Vector {
    Vector::new("fail_envelope_wrong_signature_label")
        .field("kind", "envelope")
        .field("mode", Mode::Asymmetric)
        .field("sender", CLIENT_KEY_FILE)
        .field("recipient", SERVER_KEY_FILE)
        .field("expect_freshness", hex(&CHALLENGE))
        .field("expect", "verify")
        .field("seed", 7)
        .field(
            "mutation",
            "made as seal makes it, but signed under the label \"CloakRoom envelope signature v0\"",
        )
        .section(
            "envelope",
            asymmetric_with_label(b"CloakRoom envelope signature v0", 7, WRONG_LABEL_TEXT),
        )
}
