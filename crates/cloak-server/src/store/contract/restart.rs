//! Restarts: whatever a store said it committed is there when its server
//! opens it again, and what no row names (a crash between a stream's commit
//! and its row) is not kept for ever.

use crate::store::{InboxQuery, Insert, Limits, MessageStore, StoreError};

use super::Fixture;
use super::sample::{
    assert_gone, bytes_limit, client, frames, id, inbound, inbound_stream, no_room_for_a_stream,
    outbound, outbound_stream, stream,
};

/// What the store holds, as a restart must find it again.
fn held(store: &dyn MessageStore) -> (u64, u64, u64) {
    let usage = store.usage().unwrap();
    (usage.used_bytes, usage.received, usage.queued)
}

pub(crate) fn received_messages_survive_a_restart(fixture: &dyn Fixture) {
    let store = fixture.open(Limits::default());
    let envelope = inbound(1, 1, 10, 10);
    let (committed, _) = stream(&*store, &[b"head", &[5u8; 3000], b"final"]);
    let streamed = inbound_stream(2, 2, 20, committed.clone());
    assert_eq!(store.store_inbound(&envelope).unwrap(), Insert::Stored);
    assert_eq!(store.store_inbound(&streamed).unwrap(), Insert::Stored);
    store.store_inbound(&inbound(1, 3, 30, 10)).unwrap();
    store.delete(&[id(3)]).unwrap();
    let before = held(&*store);
    drop(store);

    let store = fixture.open(Limits::default());
    assert_eq!(held(&*store), before);
    let inbox = store.inbox(&InboxQuery::default()).unwrap();
    let ids: Vec<_> = inbox.iter().map(|m| m.message_id).collect();
    assert_eq!(ids, [id(1), id(2)], "the deleted one stays deleted");
    assert_eq!(store.find_inbound("0101").unwrap(), envelope);
    assert_eq!(store.find_inbound("0202").unwrap(), streamed);
    let read = frames(&*store, &committed);
    assert!(read == [&b"head"[..], &[5u8; 3000], b"final"]);
    // A retry after the restart is still a retry.
    assert_eq!(store.store_inbound(&envelope).unwrap(), Insert::Duplicate);
}

pub(crate) fn queued_messages_survive_a_restart(fixture: &dyn Fixture) {
    let store = fixture.open(Limits::default());
    let (committed, _) = stream(&*store, &[b"head", &[9u8; 5000]]);
    let streamed = outbound_stream(7, 2, committed.clone());
    for queued in [
        outbound(7, 1),
        streamed.clone(),
        outbound(7, 3),
        outbound(7, 4),
    ] {
        store.enqueue(&queued).unwrap();
    }
    store.acknowledge(&client(7), &[id(3)]).unwrap();
    store.quarantine(id(4)).unwrap();
    let before = held(&*store);
    drop(store);

    let store = fixture.open(Limits::default());
    assert_eq!(held(&*store), before);
    let (pending, total) = store.pending(&client(7), 10).unwrap();
    assert_eq!(pending, [outbound(7, 1), streamed]);
    assert_eq!(total, 2);
    assert_eq!(
        frames(&*store, &committed),
        [b"head".to_vec(), vec![9u8; 5000]]
    );
    assert_eq!(store.quarantined().unwrap(), [outbound(7, 4)]);
    // Acknowledged after the restart, it goes with its stream.
    store.acknowledge(&client(7), &[id(2)]).unwrap();
    assert_gone(&*store, &committed, "acknowledged after a restart");
}

pub(crate) fn a_stream_no_row_names_is_gone_after_a_restart(fixture: &dyn Fixture) {
    let store = fixture.open(Limits::default());
    let (kept, _) = stream(&*store, &[b"head", b"kept"]);
    store
        .store_inbound(&inbound_stream(1, 1, 1, kept.clone()))
        .unwrap();
    // The server stopped between committing this and writing its row.
    let (orphan, _) = stream(&*store, &[b"head", b"orphan"]);
    drop(store);

    let store = fixture.open(Limits::default());
    assert_gone(&*store, &orphan, "a stream a crash left without a row");
    assert_eq!(frames(&*store, &kept).len(), 2);
    let usage = store.usage().unwrap();
    assert_eq!(usage.used_bytes, 4 + 4 + 4 + 4, "the kept stream alone");
}

pub(crate) fn a_restart_takes_the_limits_it_is_opened_with(fixture: &dyn Fixture) {
    let store = fixture.open(Limits::default());
    store.store_inbound(&inbound(1, 1, 1, 50)).unwrap();
    store.enqueue(&outbound(7, 1)).unwrap();
    drop(store);

    let store = fixture.open(Limits {
        max_bytes: 70,
        max_mailbox: 1,
        sender_share: None,
    });
    assert_eq!(store.usage().unwrap().limit_bytes, 70);
    assert!(matches!(
        store.enqueue(&outbound(7, 2)),
        Err(StoreError::MailboxFull { max: 1, .. })
    ));
    assert!(matches!(
        store.store_inbound(&inbound(1, 2, 2, 11)),
        Err(StoreError::Full { used: 60, max: 70 })
    ));
    store.store_inbound(&inbound(1, 2, 2, 10)).unwrap();
    drop(store);
    let store = fixture.open(bytes_limit(60));
    assert_eq!(
        store.usage().unwrap().used_bytes,
        70,
        "over a lowered limit"
    );
    assert!(no_room_for_a_stream(&*store));
}
