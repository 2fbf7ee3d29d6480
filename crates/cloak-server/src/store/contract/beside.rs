//! Two handles on one place at once, as a server and an operator command
//! (or two server instances) have: each sees what the other committed, and
//! opening one never disturbs what the other is writing.

use crate::store::{Content, InboxQuery, Limits, MessageStore};

use super::Fixture;
use super::sample::{
    assert_gone, bytes_limit, client, frames, id, inbound, inbound_stream, is_full, outbound,
    stream,
};

/// Used bytes and counts, which both handles must agree on.
fn held(store: &dyn MessageStore) -> (u64, u64, u64) {
    let usage = store.usage().unwrap();
    (usage.used_bytes, usage.received, usage.queued)
}

pub(crate) fn two_handles_see_each_others_messages(fixture: &dyn Fixture) {
    let server = fixture.open(Limits::default());
    let operator = fixture.open_beside(Limits::default());
    let received = inbound(1, 1, 10, 10);
    server.store_inbound(&received).unwrap();
    assert_eq!(operator.find_inbound("01").unwrap(), received);
    assert_eq!(operator.inbox(&InboxQuery::default()).unwrap().len(), 1);

    operator.enqueue(&outbound(7, 2)).unwrap();
    let (pending, total) = server.pending(&client(7), 10).unwrap();
    assert_eq!((pending, total), (vec![outbound(7, 2)], 1));
    assert_eq!(server.queued_counts().unwrap()[&client(7)], 1);
    assert_eq!(held(&*server), held(&*operator));

    operator.quarantine(id(2)).unwrap();
    assert_eq!(server.quarantined().unwrap(), [outbound(7, 2)]);
    assert_eq!(operator.delete(&[id(1), id(2)]).unwrap().len(), 2);
    assert!(server.inbox(&InboxQuery::default()).unwrap().is_empty());
    assert!(server.quarantined().unwrap().is_empty());
    assert_eq!(held(&*server), (0, 0, 0));
}

pub(crate) fn a_stream_written_through_one_handle_opens_through_the_other(fixture: &dyn Fixture) {
    let server = fixture.open(Limits::default());
    let operator = fixture.open_beside(Limits::default());
    let (committed, _) = stream(&*server, &[b"head", &[3u8; 70_000], b"final"]);
    server
        .store_inbound(&inbound_stream(1, 1, 1, committed))
        .unwrap();
    let Content::Stream(found) = operator.find_inbound("01").unwrap().content else {
        panic!("a stream message found without its stream");
    };
    let read = frames(&*operator, &found);
    assert!(read == [&b"head"[..], &[3u8; 70_000], b"final"]);
    // Deleted through the other handle, it is gone for both.
    operator.delete(&[id(1)]).unwrap();
    assert_gone(&*server, &found, "deleted through another handle");
    assert_gone(&*operator, &found, "deleted through this handle");
}

pub(crate) fn an_acknowledgement_through_another_handle_is_seen_by_pending(fixture: &dyn Fixture) {
    let server = fixture.open(Limits::default());
    let other = fixture.open_beside(Limits::default());
    for n in 1..=5 {
        server.enqueue(&outbound(7, n)).unwrap();
    }
    // Each delivery is acknowledged through the other handle before the
    // next one is asked for: none may come back.
    let mut delivered = Vec::new();
    for left in (1..=5).rev() {
        let (next, total) = server.pending(&client(7), 1).unwrap();
        assert_eq!(total, left);
        let next = next[0].message_id;
        assert!(!delivered.contains(&next), "{next} came back after its ack");
        assert_eq!(other.acknowledge(&client(7), &[next]).unwrap(), 1);
        delivered.push(next);
    }
    let (rest, total) = server.pending(&client(7), 10).unwrap();
    assert!(rest.is_empty() && total == 0);
    assert_eq!(delivered, (1..=5).map(id).collect::<Vec<_>>(), "in order");
    assert!(server.queued_counts().unwrap().values().all(|&n| n == 0));
}

pub(crate) fn stored_bytes_from_another_handle_count_against_the_limit(fixture: &dyn Fixture) {
    let server = fixture.open(bytes_limit(100));
    let operator = fixture.open_beside(bytes_limit(100));
    operator.store_inbound(&inbound(1, 1, 1, 60)).unwrap();
    assert!(is_full(server.store_inbound(&inbound(2, 1, 1, 41))));
    server.enqueue(&outbound(7, 1)).unwrap();
    let mut sink = server.begin_stream().unwrap();
    assert!(is_full(sink.write_frame(&[0u8; 27])));
    sink.write_frame(&[0u8; 26]).unwrap();
    assert_eq!(held(&*server), (70, 1, 1));
}

pub(crate) fn opening_beside_leaves_streams_in_flight_alone(fixture: &dyn Fixture) {
    let server = fixture.open(Limits::default());
    let mut sink = server.begin_stream().unwrap();
    sink.write_frame(b"head").unwrap();
    let (committed, _) = stream(&*server, &[b"head", b"committed"]);
    // An operator command starts while both are on their way to a row.
    let operator = fixture.open_beside(Limits::default());
    sink.write_frame(b"final").unwrap();
    let growing = sink.commit().unwrap();
    server
        .store_inbound(&inbound_stream(1, 1, 1, committed.clone()))
        .unwrap();
    server
        .store_inbound(&inbound_stream(1, 2, 2, growing.clone()))
        .unwrap();
    drop(operator);
    assert_eq!(frames(&*server, &committed).len(), 2);
    assert_eq!(
        frames(&*server, &growing),
        [b"head".to_vec(), b"final".to_vec()]
    );
}
