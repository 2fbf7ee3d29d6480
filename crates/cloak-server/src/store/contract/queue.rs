//! Keeping queued messages sound: a message that does not open is set
//! aside, not lost and not in its mailbox's way, and a re-sealed message
//! takes its new bytes in its old place in the queue.

use crate::store::{Limits, MessageStore, Outbound};

use super::Fixture;
use super::sample::{
    assert_gone, client, frames, id, mailbox_limit, outbound, outbound_stream, stream,
};

/// The first byte of the ids pending for client 7.
fn pending_ids(store: &dyn MessageStore) -> Vec<u8> {
    let (messages, _) = store.pending(&client(7), 10).unwrap();
    messages.iter().map(|m| m.message_id.0[0]).collect()
}

pub(crate) fn a_quarantined_message_is_set_aside_and_kept(fixture: &dyn Fixture) {
    let store = fixture.open(mailbox_limit(2));
    store.enqueue(&outbound(7, 1)).unwrap();
    store.enqueue(&outbound(7, 2)).unwrap();
    store.quarantine(id(1)).unwrap();
    let (pending, total) = store.pending(&client(7), 10).unwrap();
    assert_eq!((pending, total), (vec![outbound(7, 2)], 1));
    assert_eq!(store.queued_counts().unwrap()[&client(7)], 1);
    assert_eq!(store.quarantined().unwrap(), [outbound(7, 1)], "as queued");
    let usage = store.usage().unwrap();
    assert_eq!((usage.queued, usage.used_bytes), (2, 20), "still held");
    // Its place in the mailbox is free for the messages that do open.
    store.enqueue(&outbound(7, 3)).unwrap();
    assert_eq!(pending_ids(&*store), [2, 3]);
    assert_eq!(store.delete(&[id(1)]).unwrap(), [id(1)]);
    assert!(store.quarantined().unwrap().is_empty());
    assert_eq!(store.usage().unwrap().used_bytes, 20);
}

pub(crate) fn a_quarantined_stream_still_opens_until_deleted(fixture: &dyn Fixture) {
    let store = fixture.open(Limits::default());
    let (committed, bytes) = stream(&*store, &[b"head", b"damaged"]);
    let queued = outbound_stream(7, 1, committed.clone());
    store.enqueue(&queued).unwrap();
    store.quarantine(id(1)).unwrap();
    assert_eq!(store.quarantined().unwrap(), [queued]);
    assert_eq!(frames(&*store, &committed).len(), 2, "kept for a look");
    assert_eq!(store.usage().unwrap().used_bytes, bytes);
    store.delete(&[id(1)]).unwrap();
    assert_gone(&*store, &committed, "a deleted quarantined stream");
    assert_eq!(store.usage().unwrap().used_bytes, 0);
}

pub(crate) fn messages_queued_now_need_no_new_seal(fixture: &dyn Fixture) {
    let store = fixture.open(Limits::default());
    let (committed, _) = stream(&*store, &[b"head"]);
    store.enqueue(&outbound(7, 1)).unwrap();
    store.enqueue(&outbound_stream(7, 2, committed)).unwrap();
    assert!(store.legacy_sealed().unwrap().is_empty());
}

pub(crate) fn a_resealed_message_takes_its_new_bytes_in_its_place(fixture: &dyn Fixture) {
    let store = fixture.open(Limits::default());
    store.enqueue(&outbound(7, 1)).unwrap();
    store.enqueue(&outbound(7, 2)).unwrap();
    let longer = Outbound {
        envelope: vec![0x33; 30],
        ..outbound(7, 1)
    };
    store.resealed(&longer).unwrap();
    let (pending, _) = store.pending(&client(7), 10).unwrap();
    assert_eq!(pending, [longer, outbound(7, 2)], "in its place");
    assert_eq!(store.usage().unwrap().used_bytes, 30 + 10);

    let (first, first_bytes) = stream(&*store, &[b"head", b"one"]);
    store
        .resealed(&outbound_stream(7, 1, first.clone()))
        .unwrap();
    assert_eq!(store.usage().unwrap().used_bytes, first_bytes + 10);
    let (second, second_bytes) = stream(&*store, &[b"head", b"two", b"three"]);
    let as_stream = outbound_stream(7, 1, second.clone());
    store.resealed(&as_stream).unwrap();
    assert_gone(&*store, &first, "a stream its message was re-sealed from");
    let (pending, _) = store.pending(&client(7), 10).unwrap();
    assert_eq!(pending[0], as_stream);
    assert_eq!(frames(&*store, &second).len(), 3);
    assert_eq!(store.usage().unwrap().used_bytes, second_bytes + 10);
    assert!(store.legacy_sealed().unwrap().is_empty());
}
