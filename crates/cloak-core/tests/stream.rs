//! The hybrid STREAM: any size round-trips in pieces of any size, and
//! reordering, dropping, duplicating or truncating chunks is detected.

mod common;

use cloak_core::envelope::stream::{self, StreamOpener, StreamSealer};
use cloak_core::limits::{MAX_TRAILER_LEN, STREAM_CHUNK_LEN};
use cloak_core::{FreshnessCheck, OpenOptions, SealOptions};
use common::{FRESH, keys_2048};

struct Sealed {
    head: Vec<u8>,
    chunks: Vec<Vec<u8>>,
}

/// Seals `text` fed in pieces of `piece` bytes.
fn seal(text: &[u8], piece: usize) -> Sealed {
    let k = keys_2048();
    let (mut sealer, head) =
        StreamSealer::new(&k.s, k.r.public(), FRESH, &SealOptions::default()).unwrap();
    let mut chunks = Vec::new();
    for part in text.chunks(piece.max(1)) {
        chunks.extend(sealer.push(part).unwrap());
    }
    let end = sealer.finish().unwrap();
    chunks.extend(end.last_data);
    chunks.push(end.final_chunk);
    Sealed { head, chunks }
}

/// Opens head + data chunks + final chunk; returns the plaintext if valid.
fn open(head: &[u8], chunks: &[Vec<u8>]) -> Option<Vec<u8>> {
    let k = keys_2048();
    let mut opener = StreamOpener::new(&k.r, head, &OpenOptions::default()).ok()?;
    let (last, data) = chunks.split_last()?;
    let mut out = Vec::new();
    for chunk in data {
        out.extend_from_slice(opener.chunk(chunk).ok()?);
    }
    let opened = opener
        .finish(last)
        .ok()?
        .verify(k.s.public(), FreshnessCheck::Expect(FRESH))
        .ok()?;
    assert_eq!(opened.len, out.len() as u64);
    Some(out)
}

fn text(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[test]
fn any_size_in_any_pieces_round_trips() {
    let c = STREAM_CHUNK_LEN;
    for len in [0, 1, c - 1, c, c + 1, 3 * c + 5] {
        for piece in [1000, c, 7 * c] {
            let t = text(len);
            let sealed = seal(&t, piece);
            assert_eq!(sealed.chunks.len(), len.div_ceil(c) + 1, "len {len}");
            assert_eq!(
                open(&sealed.head, &sealed.chunks),
                Some(t),
                "len {len} piece {piece}"
            );
        }
    }
}

#[test]
fn chunk_attacks_are_detected() {
    let t = text(3 * STREAM_CHUNK_LEN + 100);
    let Sealed { head, chunks } = seal(&t, 5000);
    assert_eq!(chunks.len(), 5);
    let mut attacks: Vec<(&str, Vec<Vec<u8>>)> = Vec::new();
    let mut swapped = chunks.clone();
    swapped.swap(0, 1);
    attacks.push(("reordered", swapped));
    let mut dropped = chunks.clone();
    dropped.remove(1);
    attacks.push(("dropped", dropped));
    let mut duplicated = chunks.clone();
    duplicated.insert(1, chunks[1].clone());
    attacks.push(("duplicated", duplicated));
    attacks.push(("truncated before the end", chunks[..3].to_vec()));
    attacks.push(("final chunk alone", vec![chunks[4].clone()]));
    let mut flipped = chunks.clone();
    flipped[2][10] ^= 1;
    attacks.push(("flipped", flipped));
    let mut cut = chunks.clone();
    cut[3].truncate(50);
    attacks.push(("short last data chunk", cut));
    for (name, forged) in attacks {
        assert_eq!(open(&head, &forged), None, "{name} was accepted");
    }
    // A chunk of another stream of the same sender to the same recipient.
    let other = seal(&t, 5000);
    let mut spliced = chunks.clone();
    spliced[1] = other.chunks[1].clone();
    assert_eq!(open(&head, &spliced), None, "spliced");
    assert_eq!(open(&other.head, &chunks), None, "other head");
    assert_eq!(open(&head, &chunks), Some(t), "control");
}

#[test]
fn data_after_a_short_chunk_or_oversized_chunks_are_refused() {
    let k = keys_2048();
    let Sealed { head, chunks } = seal(&text(10), 10);
    let mut opener = StreamOpener::new(&k.r, &head, &OpenOptions::default()).unwrap();
    assert!(opener.chunk(&vec![0u8; STREAM_CHUNK_LEN + 17]).is_err());
    let mut opener2 = StreamOpener::new(&k.r, &head, &OpenOptions::default()).unwrap();
    assert!(opener2.chunk(&chunks[0]).is_ok());
    assert!(
        opener2.chunk(&chunks[0]).is_err(),
        "nothing after a short chunk"
    );
    drop(opener);
    // A final chunk longer than any trailer is refused before decryption.
    let opener3 = StreamOpener::new(&k.r, &head, &OpenOptions::default()).unwrap();
    assert!(opener3.finish(&vec![0u8; MAX_TRAILER_LEN + 17]).is_err());
}

#[test]
fn stale_freshness_and_other_signer_are_rejected_at_the_end() {
    let k = keys_2048();
    let len = STREAM_CHUNK_LEN + 4000;
    let Sealed { head, chunks } = seal(&text(len), len);
    let finish = || {
        let mut opener = StreamOpener::new(&k.r, &head, &OpenOptions::default()).unwrap();
        opener.chunk(&chunks[0]).unwrap();
        opener.chunk(&chunks[1]).unwrap();
        opener.finish(&chunks[2]).unwrap()
    };
    assert!(
        finish()
            .verify(k.s.public(), FreshnessCheck::Expect(b"another challenge"))
            .is_err()
    );
    assert!(
        finish()
            .verify(k.t.public(), FreshnessCheck::Expect(FRESH))
            .is_err()
    );
    assert!(
        finish()
            .verify(k.s.public(), FreshnessCheck::Expect(FRESH))
            .is_ok()
    );
    assert!(
        StreamOpener::new(&k.t, &head, &OpenOptions::default()).is_err(),
        "not for T"
    );
}

#[test]
fn chunks_sealed_in_place_open_like_pushed_ones() {
    let c = STREAM_CHUNK_LEN;
    let k = keys_2048();
    let t = text(2 * c + 77);
    let (mut sealer, head) =
        StreamSealer::new(&k.s, k.r.public(), FRESH, &SealOptions::default()).unwrap();
    let mut chunks = Vec::new();
    for part in t.chunks(c) {
        let mut chunk = part.to_vec();
        let tag = sealer.seal_chunk_in_place(&mut chunk).unwrap();
        assert_ne!(chunk, part, "encrypted");
        chunk.extend_from_slice(&tag);
        chunks.push(chunk);
    }
    let end = sealer.finish().unwrap();
    assert!(end.last_data.is_none());
    chunks.push(end.final_chunk);
    assert_eq!(open(&head, &chunks), Some(t));
}

#[test]
fn misplaced_chunks_are_refused_by_the_sealer() {
    let c = STREAM_CHUNK_LEN;
    let k = keys_2048();
    let new = || StreamSealer::new(&k.s, k.r.public(), FRESH, &SealOptions::default()).unwrap();
    let (mut sealer, _) = new();
    assert!(sealer.seal_chunk_in_place(&mut []).is_err(), "empty");
    assert!(
        sealer.seal_chunk_in_place(&mut text(c + 1)).is_err(),
        "over a chunk"
    );
    sealer.seal_chunk_in_place(&mut text(c - 1)).unwrap();
    assert!(
        sealer.seal_chunk_in_place(&mut text(c)).is_err(),
        "after a short chunk"
    );
    let (mut sealer, _) = new();
    sealer.push(&text(10)).unwrap();
    assert!(
        sealer.seal_chunk_in_place(&mut text(c)).is_err(),
        "while pushed data waits in the buffer"
    );
}

#[test]
fn a_joined_stream_opens_as_an_envelope_and_its_tampering_is_caught() {
    let k = keys_2048();
    let t = text(STREAM_CHUNK_LEN + 300);
    let Sealed { head, mut chunks } = seal(&t, 1000);
    let last = chunks.pop().unwrap();
    let envelope = stream::join(&head, chunks.clone(), last.clone()).unwrap();
    let opened = cloak_core::open(
        &k.r,
        k.s.public(),
        &envelope,
        FreshnessCheck::Expect(FRESH),
        &OpenOptions::default(),
    )
    .unwrap();
    assert_eq!(*opened.plaintext, t);
    // The same chunks in another order, or one chunk short, do not open.
    let mut swapped = chunks.clone();
    swapped.swap(0, 1);
    let short = chunks[..1].to_vec();
    for forged in [swapped, short] {
        let envelope = stream::join(&head, forged, last.clone()).unwrap();
        assert!(cloak_core::decrypt(&k.r, &envelope, &OpenOptions::default()).is_err());
    }
    assert!(stream::join(&head[1..], chunks, last).is_err(), "bad head");
}
