//! Messages leaving the store: acknowledged, deleted or expired, a message
//! gives its room back and takes its stream with it, or the store would
//! only ever grow.

use crate::store::{Limits, MessageStore, StreamRef};

use super::Fixture;
use super::sample::{
    assert_gone, bytes_limit, client, frames, id, inbound, inbound_stream, outbound,
    outbound_stream, stream,
};

/// Stores, from client 1, a received envelope and a received stream under
/// ids `envelope_id` and `stream_id` at `at`, then queues an envelope and
/// a stream for client 7 under the same ids: the received stream's name
/// and the queued one's.
fn fill(store: &dyn MessageStore, envelope_id: u8, stream_id: u8, at: u64) -> [StreamRef; 2] {
    let (received, _) = stream(store, &[b"head", &[1u8; 100]]);
    let (queued, _) = stream(store, &[b"head", &[2u8; 100]]);
    store
        .store_inbound(&inbound(1, envelope_id, at, 10))
        .unwrap();
    store
        .store_inbound(&inbound_stream(1, stream_id, at, received.clone()))
        .unwrap();
    store.enqueue(&outbound(7, envelope_id)).unwrap();
    store
        .enqueue(&outbound_stream(7, stream_id, queued.clone()))
        .unwrap();
    [received, queued]
}

pub(crate) fn acknowledged_messages_give_room_back_and_remove_their_streams(fixture: &dyn Fixture) {
    let store = fixture.open(bytes_limit(1000));
    let (committed, bytes) = stream(&*store, &[b"head", &[9u8; 500]]);
    store
        .enqueue(&outbound_stream(7, 1, committed.clone()))
        .unwrap();
    store.enqueue(&outbound(7, 2)).unwrap();
    assert_eq!(store.usage().unwrap().used_bytes, bytes + 10);
    store.acknowledge(&client(7), &[id(1), id(2)]).unwrap();
    assert_gone(&*store, &committed, "an acknowledged stream");
    let usage = store.usage().unwrap();
    assert_eq!((usage.used_bytes, usage.queued), (0, 0));
    // The room is there for a message, and for a stream begun now.
    store.store_inbound(&inbound(1, 1, 1, 1000)).unwrap();
    store.delete(&[id(1)]).unwrap();
    let mut sink = store.begin_stream().unwrap();
    sink.write_frame(&[0u8; 996]).unwrap();
}

pub(crate) fn deleted_messages_give_room_back_and_remove_their_streams(fixture: &dyn Fixture) {
    let store = fixture.open(Limits::default());
    let streams = fill(&*store, 1, 2, 10);
    store.store_inbound(&inbound(1, 3, 10, 10)).unwrap();
    let before = store.usage().unwrap();
    let mut deleted = store.delete(&[id(1), id(2), id(0x55)]).unwrap();
    deleted.sort();
    // Each id stands for a received and a queued message here.
    assert_eq!(deleted, [id(1), id(1), id(2), id(2)]);
    for committed in &streams {
        assert_gone(&*store, committed, "a deleted message's stream");
    }
    let usage = store.usage().unwrap();
    assert_eq!((usage.received, usage.queued), (1, 0));
    assert_eq!(usage.used_bytes, 10);
    assert!(before.used_bytes > usage.used_bytes);
    assert_eq!(store.find_inbound("0303").unwrap().message_id, id(3));
    assert!(store.delete(&[id(1)]).unwrap().is_empty(), "once");
}

pub(crate) fn expiry_removes_the_messages_received_before_a_time(fixture: &dyn Fixture) {
    let store = fixture.open(Limits::default());
    let [old_stream, queued_stream] = fill(&*store, 1, 2, 10);
    store.store_inbound(&inbound(1, 3, 20, 10)).unwrap();
    store.store_inbound(&inbound(1, 4, 30, 10)).unwrap();
    assert_eq!(store.expire(20).unwrap(), 2, "before, not at");
    assert_gone(&*store, &old_stream, "an expired message's stream");
    let inbox = store.inbox(&Default::default()).unwrap();
    let left: Vec<_> = inbox.iter().map(|m| m.received_at).collect();
    assert_eq!(left, [20, 30]);
    // Queued messages wait for their client, however old.
    let (queued, _) = store.pending(&client(7), 10).unwrap();
    assert_eq!(queued.len(), 2);
    assert_eq!(frames(&*store, &queued_stream).len(), 2);
    let usage = store.usage().unwrap();
    let queued_bytes = 10 + (4 + 4) + (100 + 4);
    assert_eq!(usage.used_bytes, 20 + queued_bytes);
    assert_eq!(store.expire(20).unwrap(), 0);
}
