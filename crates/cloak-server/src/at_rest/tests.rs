//! The at-rest seal is bound to its place; old seals are upgraded, and a
//! row that does not open is set aside, with a real store and real keys.

use cloak_core::{Fingerprint, MessageId};

use super::*;
use crate::store::sqlite::SqliteStore;
use crate::store::{Limits, MessageStore, Outbound, Queue};

use crate::test_key::key;

fn place(recipient: u8, id: u8) -> Place {
    Place {
        recipient: Fingerprint([recipient; 32]),
        message_id: MessageId([id; 16]),
    }
}

#[test]
fn a_seal_opens_only_in_its_place() {
    let here = place(1, 1);
    let sealed = seal(key(), here, b"for one mailbox").unwrap();
    assert_eq!(
        open(key(), here, &sealed.bytes).unwrap().plaintext,
        b"for one mailbox"
    );
    assert!(
        open(key(), place(2, 1), &sealed.bytes).is_err(),
        "moved to another mailbox"
    );
    assert!(
        open(key(), place(1, 2), &sealed.bytes).is_err(),
        "re-queued under another id"
    );
    assert!(open_legacy(key(), &sealed.bytes).is_err());
    assert!(here.freshness().len() <= cloak_core::limits::MAX_FRESHNESS_LEN);
}

fn queued(place: Place, envelope: Vec<u8>) -> Outbound {
    Outbound {
        message_id: place.message_id,
        recipient: place.recipient,
        recipient_name: "client".into(),
        created_at: 1,
        size: 3,
        envelope,
        stream: None,
    }
}

#[test]
fn old_seals_are_upgraded_and_unopenable_ones_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), Limits::default()).unwrap();
    // Sealed the old way (bound to nothing), and one that does not open.
    let old = cloak_core::seal(
        key(),
        key().public(),
        Mode::Hybrid,
        LEGACY_FRESHNESS,
        b"old",
        &SealOptions::default(),
    )
    .unwrap();
    let good = place(1, 0).with_id(old.message_id);
    store.enqueue(&queued(good, old.bytes.clone())).unwrap();
    let mut damaged = old.bytes.clone();
    damaged[100] ^= 1;
    store.enqueue(&queued(place(1, 9), damaged)).unwrap();
    store.mark_legacy();
    assert_eq!(store.legacy_sealed().unwrap().len(), 2);

    assert_eq!(upgrade(&store, key()).unwrap(), 1);
    assert!(store.legacy_sealed().unwrap().is_empty());
    let (pending, total) = store.pending(&good.recipient, 10).unwrap();
    assert_eq!(
        (pending.len(), total),
        (1, 1),
        "the damaged one is set aside"
    );
    assert_eq!(
        open(key(), good, &pending[0].envelope).unwrap().plaintext,
        b"old"
    );
    let aside = store.quarantined().unwrap();
    assert_eq!(aside.len(), 1);
    assert_eq!(aside[0].message_id, MessageId([9; 16]));
}

impl Place {
    fn with_id(mut self, id: MessageId) -> Place {
        self.message_id = id;
        self
    }
}

/// The plaintext of the stored stream `stream` if it opens as sealed for
/// `at`.
fn open_stream_file(
    store: &SqliteStore,
    stream: &crate::store::StreamRef,
    at: Place,
) -> Option<Vec<u8>> {
    let mut stream = super::stored::StoredStream::open(key(), store, stream).ok()?;
    let mut plaintext = Vec::new();
    while let Some(chunk) = stream.next_chunk().ok()? {
        plaintext.extend_from_slice(chunk);
    }
    let opened = (stream.finish().ok()?)
        .verify(key().public(), FreshnessCheck::Expect(&at.freshness()))
        .ok()?;
    (opened.message_id == at.message_id).then_some(plaintext)
}

/// Sealed as a stream at sizes around the chunk boundary: the length
/// returned is the plaintext's, and the file opens, in its place only, to
/// exactly what was read.
#[test]
fn a_sealed_stream_opens_in_its_place_to_what_was_read() {
    use cloak_core::limits::STREAM_CHUNK_LEN;

    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), Limits::default()).unwrap();
    let here = place(3, 4);
    for len in [
        1,
        STREAM_CHUNK_LEN - 1,
        STREAM_CHUNK_LEN,
        2 * STREAM_CHUNK_LEN + 5,
    ] {
        let text: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
        let mut spool = store.begin_stream().unwrap();
        let sealed = seal_stream(key(), here, &mut &text[..], spool.as_mut()).unwrap();
        assert_eq!(sealed, len as u64);
        let path = spool.commit().unwrap();
        assert_eq!(
            open_stream_file(&store, &path, here).as_deref(),
            Some(&text[..]),
            "{len}"
        );
        assert!(open_stream_file(&store, &path, place(3, 5)).is_none());
        assert!(open_stream_file(&store, &path, place(2, 4)).is_none());
    }
}

/// A queued stream sealed the old way (bound to nothing) is re-sealed into
/// a new file bound to its place, with the same text.
#[test]
fn an_old_stream_is_resealed_for_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), Limits::default()).unwrap();
    let text = vec![b'q'; 300_000];
    let here = place(4, 7);
    let options = SealOptions {
        message_id: Some(here.message_id),
        ..SealOptions::default()
    };
    let (mut sealer, head) =
        StreamSealer::new(key(), key().public(), LEGACY_FRESHNESS, &options).unwrap();
    let mut spool = store.begin_stream().unwrap();
    spool.write_frame(&head).unwrap();
    for chunk in sealer.push(&text).unwrap() {
        spool.write_frame(&chunk).unwrap();
    }
    let end = sealer.finish().unwrap();
    for chunk in end.last_data.iter().chain([&end.final_chunk]) {
        spool.write_frame(chunk).unwrap();
    }
    let old = spool.commit().unwrap();
    assert!(
        open_stream_file(&store, &old, here).is_none(),
        "not bound yet"
    );
    let mut message = queued(here, Vec::new());
    message.stream = Some(old.clone());
    store.enqueue(&message).unwrap();
    store.mark_legacy();

    assert_eq!(upgrade(&store, key()).unwrap(), 1);
    let (pending, _) = store.pending(&here.recipient, 10).unwrap();
    let new = pending[0].stream.clone().expect("still a stream");
    assert_ne!(new, old);
    assert_eq!(open_stream_file(&store, &new, here), Some(text));
}
