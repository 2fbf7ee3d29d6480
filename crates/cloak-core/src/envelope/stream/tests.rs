//! The opener's own checks, each against a stream that authenticates
//! (sealed here under a key the test knows, as only the sender could), so
//! that a check that stopped working would let it through rather than
//! leave the failure to a later one (the signature at the end).

use super::*;
use crate::test_keys::keys;

/// A stream to R under a key this test holds.
struct Forger {
    cipher: Cipher,
    aad: [u8; HASH_LEN],
    head: Vec<u8>,
}

impl Forger {
    fn new() -> Self {
        let (key, head) = fresh_head(keys().r.public()).unwrap();
        Forger {
            cipher: backend::aead(keys().r.backend(), &key),
            aad: associated_data(&head),
            head: codec::encode(&head),
        }
    }

    fn data(&self, i: u64, plaintext: &[u8]) -> Vec<u8> {
        self.cipher
            .seal(&nonce(i, false), &self.aad, plaintext)
            .unwrap()
    }

    fn last(&self, i: u64, trailer: &Trailer) -> Vec<u8> {
        self.cipher
            .seal(&nonce(i, true), &self.aad, &codec::encode(trailer))
            .unwrap()
    }

    fn opener(&self) -> StreamOpener {
        StreamOpener::new(&keys().r, &self.head, &OpenOptions::default()).unwrap()
    }
}

fn trailer(plaintext_len: u64, freshness: usize, signature: usize) -> Trailer {
    Trailer {
        claims: Claims {
            sender: keys().s.fingerprint(),
            message_id: MessageId([5; 16]),
            timestamp: 1,
            freshness: vec![7; freshness],
            signature: vec![9; signature],
        },
        plaintext_len,
    }
}

#[test]
fn a_chunk_after_a_short_one_is_refused_though_it_authenticates() {
    let forger = Forger::new();
    let mut opener = forger.opener();
    assert!(opener.is_empty());
    assert_eq!(opener.chunk(&forger.data(0, &[1; 10])).unwrap(), &[1; 10]);
    assert_eq!((opener.len(), opener.is_empty()), (10, false));
    assert!(opener.chunk(&forger.data(1, &[2; 10])).is_err());
}

#[test]
fn a_full_chunk_may_be_followed_and_an_empty_one_is_refused() {
    let forger = Forger::new();
    let mut opener = forger.opener();
    let full = vec![3; STREAM_CHUNK_LEN];
    assert!(opener.chunk(&forger.data(0, &full)).is_ok());
    assert!(opener.chunk(&forger.data(1, &full)).is_ok());
    assert_eq!(opener.len(), 2 * STREAM_CHUNK_LEN as u64);
    assert!(forger.opener().chunk(&forger.data(0, &[])).is_err());
}

#[test]
fn a_chunk_over_the_chunk_size_is_refused_though_it_authenticates() {
    let forger = Forger::new();
    let big = vec![4; STREAM_CHUNK_LEN + 1];
    assert!(forger.opener().chunk(&forger.data(0, &big)).is_err());
}

#[test]
fn the_trailer_must_state_the_length_decrypted() {
    let forger = Forger::new();
    for (stated, accepted) in [(10, true), (11, false), (9, false)] {
        let mut opener = forger.opener();
        opener.chunk(&forger.data(0, &[1; 10])).unwrap();
        let end = forger.last(1, &trailer(stated, 32, 256));
        assert_eq!(opener.finish(&end).is_ok(), accepted, "stated {stated}");
    }
}

#[test]
fn freshness_in_the_trailer_is_bounded() {
    let forger = Forger::new();
    for (len, accepted) in [(MAX_FRESHNESS_LEN, true), (MAX_FRESHNESS_LEN + 1, false)] {
        let end = forger.last(0, &trailer(0, len, 256));
        assert_eq!(forger.opener().finish(&end).is_ok(), accepted, "{len}");
    }
}

#[test]
fn the_largest_honest_trailer_opens_and_an_oversized_one_does_not() {
    // A 4096-bit signature and the longest freshness; the signature inside
    // is only checked later.
    let forger = Forger::new();
    let end = forger.last(0, &trailer(0, MAX_FRESHNESS_LEN, 512));
    assert!(forger.opener().finish(&end).is_ok());
    let end = forger.last(0, &trailer(0, MAX_FRESHNESS_LEN, MAX_TRAILER_LEN));
    assert!(end.len() > MAX_TRAILER_LEN + AEAD_TAG_LEN);
    assert!(forger.opener().finish(&end).is_err());
}
