//! The size limit: what is stored and what is still arriving share one
//! limit, so that no number of uploads at once can write more than it, and
//! one sender cannot take it all. Every store counts bytes alike (an
//! envelope its length, a stream its sink's `bytes()`), so that a limit
//! means the same on every backend.

use crate::store::{Limits, StoreError};

use super::Fixture;
use super::sample::{
    bytes_limit, client, id, inbound, inbound_stream, is_full, outbound, outbound_stream, stream,
};

pub(crate) fn the_total_size_is_bounded(fixture: &dyn Fixture) {
    let store = fixture.open(bytes_limit(100));
    store.store_inbound(&inbound(1, 1, 1, 60)).unwrap();
    let err = store.store_inbound(&inbound(1, 2, 2, 60)).unwrap_err();
    assert!(
        matches!(err, StoreError::Full { used: 60, max: 100 }),
        "{err}"
    );
    assert_eq!(store.usage().unwrap().received, 1, "nothing partial");
    // Exactly to the limit, and queued messages count too.
    store.store_inbound(&inbound(1, 3, 3, 30)).unwrap();
    store.enqueue(&outbound(7, 1)).unwrap();
    assert_eq!(store.usage().unwrap().used_bytes, 100);
    assert!(is_full(store.enqueue(&outbound(7, 2))));
    assert!(is_full(store.store_inbound(&inbound(2, 4, 4, 1))));
    let (_, queued) = store.pending(&client(7), 10).unwrap();
    assert_eq!(queued, 1);
}

pub(crate) fn one_sender_takes_at_most_its_share(fixture: &dyn Fixture) {
    let store = fixture.open(Limits {
        max_bytes: 1000,
        sender_share: Some(50),
        ..Limits::default()
    });
    store.store_inbound(&inbound(1, 1, 1, 300)).unwrap();
    store.store_inbound(&inbound(1, 2, 2, 200)).unwrap();
    assert!(is_full(store.store_inbound(&inbound(1, 3, 3, 1))));
    // Its streams count as its envelopes do.
    let (refused, _) = stream(&*store, &[b"x"]);
    assert!(is_full(
        store.store_inbound(&inbound_stream(1, 4, 4, refused))
    ));
    // The others' room is theirs.
    store.store_inbound(&inbound(2, 1, 5, 400)).unwrap();
    assert_eq!(store.usage().unwrap().received, 3);
    // Room its own messages give back is its own again.
    store.delete(&[id(2)]).unwrap();
    store.store_inbound(&inbound(1, 3, 6, 200)).unwrap();
}

pub(crate) fn a_sink_is_bounded_by_the_room_left(fixture: &dyn Fixture) {
    let store = fixture.open(bytes_limit(100));
    store.store_inbound(&inbound(1, 1, 1, 40)).unwrap();
    let mut sink = store.begin_stream().unwrap();
    sink.write_frame(&[0u8; 50]).unwrap();
    // Each frame counts 4 bytes of length beside its payload.
    assert_eq!(sink.bytes(), 54);
    assert!(is_full(sink.write_frame(&[0u8; 3])));
    assert_eq!(sink.bytes(), 54, "a refused frame is not written");
    sink.write_frame(&[0u8; 2]).unwrap();
    assert!(is_full(sink.write_frame(&[])), "the limit is reached");
    assert_eq!(store.usage().unwrap().reserved_bytes, 60);
}

pub(crate) fn sinks_growing_together_share_one_limit(fixture: &dyn Fixture) {
    let store = fixture.open(bytes_limit(200));
    store.store_inbound(&inbound(1, 1, 1, 40)).unwrap();
    let (mut one, mut two) = (store.begin_stream().unwrap(), store.begin_stream().unwrap());
    one.write_frame(&[0u8; 96]).unwrap();
    // 40 stored and 100 taken by the first: the second gets the 60 left,
    // not the 160 that were left when it began.
    match two.write_frame(&[0u8; 57]) {
        Err(StoreError::Full { used, max: 200 }) => assert_eq!(used, 40 + one.bytes()),
        other => panic!("two sinks grew past the limit: {other:?}"),
    }
    two.write_frame(&[0u8; 56]).unwrap();
    assert_eq!(
        store.usage().unwrap().reserved_bytes,
        one.bytes() + two.bytes()
    );
    // A message stored meanwhile finds no room either.
    assert!(is_full(store.store_inbound(&inbound(2, 1, 1, 1))));
    assert!(is_full(store.enqueue(&outbound(7, 1))));
    drop(two);
    store.store_inbound(&inbound(2, 1, 1, 60)).unwrap();
    assert!(is_full(one.write_frame(&[])));
}

pub(crate) fn a_committed_streams_bytes_count_through_its_row(fixture: &dyn Fixture) {
    let store = fixture.open(bytes_limit(200));
    store.store_inbound(&inbound(1, 1, 1, 40)).unwrap();
    let (committed, bytes) = stream(&*store, &[&[0u8; 96]]);
    assert_eq!(bytes, 100);
    store
        .store_inbound(&inbound_stream(3, 1, 1, committed))
        .unwrap();
    let usage = store.usage().unwrap();
    assert_eq!((usage.used_bytes, usage.reserved_bytes), (140, 0));
    let mut sink = store.begin_stream().unwrap();
    sink.write_frame(&[0u8; 56]).unwrap();
    match sink.write_frame(&[]) {
        Err(StoreError::Full { used, max }) => assert_eq!((used, max), (200, 200)),
        other => panic!("a sink grew past the limit: {other:?}"),
    }
}

pub(crate) fn usage_counts_what_is_stored(fixture: &dyn Fixture) {
    let store = fixture.open(bytes_limit(1000));
    store.store_inbound(&inbound(1, 1, 1, 300)).unwrap();
    store.store_inbound(&inbound(1, 1, 1, 300)).unwrap(); // a retry
    store.enqueue(&outbound(7, 1)).unwrap();
    store.enqueue(&outbound(7, 2)).unwrap();
    assert!(is_full(store.store_inbound(&inbound(1, 2, 2, 900))));
    let (committed, bytes) = stream(&*store, &[b"head", &[1u8; 200]]);
    store.enqueue(&outbound_stream(8, 3, committed)).unwrap();
    let mut sink = store.begin_stream().unwrap();
    sink.write_frame(&[2u8; 20]).unwrap();
    let usage = store.usage().unwrap();
    assert_eq!(usage.used_bytes, 300 + 10 + 10 + bytes);
    assert_eq!(usage.limit_bytes, 1000);
    assert_eq!(usage.reserved_bytes, 24);
    assert_eq!((usage.received, usage.queued), (1, 3));
    drop(sink);
    assert_eq!(store.usage().unwrap().reserved_bytes, 0);
}
