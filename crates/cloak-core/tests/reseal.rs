//! Re-sealing a stream in place (a server delivering what it stored): the
//! new recipient opens exactly the stored plaintext, signed by the relay; a
//! damaged stored chunk stops the relay and leaves nothing decrypted; and
//! the new end is signed only over the stream that was verified.

mod common;

use cloak_core::envelope::reseal::{Reseal, ResealEnd};
use cloak_core::envelope::stream::{StreamOpener, StreamSealer};
use cloak_core::limits::{AEAD_TAG_LEN, STREAM_CHUNK_LEN};
use cloak_core::{FreshnessCheck, KeyPair, OpenOptions, SealOptions};
use common::{FRESH, keys_2048};

/// A stream from S to R (R stores it sealed to itself, as a server does).
fn stored(len: usize) -> (Vec<u8>, Vec<Vec<u8>>, Vec<u8>) {
    let k = keys_2048();
    let text: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
    let (mut sealer, head) =
        StreamSealer::new(&k.s, k.r.public(), FRESH, &SealOptions::default()).unwrap();
    let mut chunks = sealer.push(&text).unwrap();
    let end = sealer.finish().unwrap();
    chunks.extend(end.last_data);
    chunks.push(end.final_chunk);
    (text, chunks, head)
}

/// R re-seals its stored stream to T over `fresh`; returns T's opening.
fn relay(head: &[u8], chunks: &mut [Vec<u8>], relay_by: &KeyPair) -> Option<Vec<u8>> {
    let k = keys_2048();
    let opener = StreamOpener::new(&k.r, head, &OpenOptions::default()).unwrap();
    let (sealer, new_head) = StreamSealer::new(
        relay_by,
        k.t.public(),
        b"t's challenge",
        &SealOptions::default(),
    )
    .unwrap();
    let mut reseal = Reseal::new(opener, sealer);
    let (last, data) = chunks.split_last_mut().unwrap();
    for chunk in data.iter_mut() {
        let before = chunk.len();
        reseal.chunk(chunk).ok()?;
        assert_eq!(chunk.len(), before, "a chunk keeps its length");
    }
    let verified = reseal
        .finish(last)
        .ok()?
        .verify(k.s.public(), FreshnessCheck::Expect(FRESH))
        .ok()?;
    let end = verified.sign().unwrap();
    assert!(end.last_data.is_none());
    // T opens the new stream: the relay's signature, T's freshness.
    let mut opener = StreamOpener::new(&k.t, &new_head, &OpenOptions::default()).unwrap();
    let mut out = Vec::new();
    for chunk in data.iter() {
        out.extend_from_slice(opener.chunk(chunk).unwrap());
    }
    let opened = opener
        .finish(&end.final_chunk)
        .unwrap()
        .verify(relay_by.public(), FreshnessCheck::Expect(b"t's challenge"))
        .unwrap();
    assert_eq!(opened.len, out.len() as u64);
    Some(out)
}

#[test]
fn the_new_recipient_gets_exactly_the_stored_plaintext() {
    let k = keys_2048();
    for len in [
        1,
        STREAM_CHUNK_LEN - 1,
        STREAM_CHUNK_LEN,
        2 * STREAM_CHUNK_LEN + 5,
    ] {
        let (text, mut chunks, head) = stored(len);
        assert_eq!(relay(&head, &mut chunks, &k.r), Some(text), "len {len}");
    }
}

#[test]
fn a_damaged_stored_chunk_stops_the_relay_with_nothing_decrypted_left() {
    let k = keys_2048();
    let (_, mut chunks, head) = stored(2 * STREAM_CHUNK_LEN);
    chunks[1][100] ^= 1;
    let opener = StreamOpener::new(&k.r, &head, &OpenOptions::default()).unwrap();
    let (sealer, _) = StreamSealer::new(&k.r, k.t.public(), b"c", &SealOptions::default()).unwrap();
    let mut reseal = Reseal::new(opener, sealer);
    reseal.chunk(&mut chunks[0]).unwrap();
    assert!(reseal.chunk(&mut chunks[1]).is_err());
    let body = &chunks[1][..chunks[1].len() - AEAD_TAG_LEN];
    assert!(
        body.iter().all(|&b| b == 0),
        "unauthenticated plaintext left"
    );
}

/// R's re-seal of its stored stream to T, up to the stored stream's end.
fn finished<'k>(head: &[u8], chunks: &[Vec<u8>], relay_by: &'k KeyPair) -> ResealEnd<'k> {
    let k = keys_2048();
    let opener = StreamOpener::new(&k.r, head, &OpenOptions::default()).unwrap();
    let (sealer, _) =
        StreamSealer::new(relay_by, k.t.public(), b"c", &SealOptions::default()).unwrap();
    let mut reseal = Reseal::new(opener, sealer);
    let mut chunks = chunks.to_vec();
    let (last, data) = chunks.split_last_mut().unwrap();
    for chunk in data.iter_mut() {
        reseal.chunk(chunk).unwrap();
    }
    reseal.finish(last).unwrap()
}

#[test]
fn the_end_is_signed_only_once_the_stored_stream_verified() {
    let k = keys_2048();
    let (_, chunks, head) = stored(STREAM_CHUNK_LEN + 9);
    // A signature by anyone but S, or for another freshness value, is
    // refused; only a verified stream gives something to sign with.
    let by_t = finished(&head, &chunks, &k.r).verify(k.t.public(), FreshnessCheck::Expect(FRESH));
    assert!(by_t.is_err());
    let stale = finished(&head, &chunks, &k.r).verify(k.s.public(), FreshnessCheck::Expect(b"old"));
    assert!(stale.is_err());
    let verified = finished(&head, &chunks, &k.r)
        .verify(k.s.public(), FreshnessCheck::Expect(FRESH))
        .unwrap();
    assert_eq!(verified.opened().len, (STREAM_CHUNK_LEN + 9) as u64);
    assert!(verified.sign().is_ok());
}
