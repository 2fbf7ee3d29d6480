//! Mailboxes: messages queued for a client are delivered in the order
//! they were queued, and only that client removes them, since an
//! acknowledgement names ids that anyone could guess or replay.

use crate::store::{Limits, MessageStore, StoreError};

use super::Fixture;
use super::sample::{client, id, mailbox_limit, outbound};

/// The first byte of the ids `store` has pending for `to`, and the total.
fn pending_ids(store: &dyn MessageStore, to: u8, limit: usize) -> (Vec<u8>, usize) {
    let (messages, total) = store.pending(&client(to), limit).unwrap();
    (messages.iter().map(|m| m.message_id.0[0]).collect(), total)
}

pub(crate) fn a_mailbox_is_delivered_in_queue_order_up_to_a_limit(fixture: &dyn Fixture) {
    let store = fixture.open(Limits::default());
    // Queue order, not the order of the ids.
    for n in [3, 1, 2] {
        store.enqueue(&outbound(7, n)).unwrap();
    }
    store.enqueue(&outbound(8, 9)).unwrap();
    let store = &*store;
    assert_eq!(pending_ids(store, 7, 2), (vec![3, 1], 3));
    assert_eq!(pending_ids(store, 7, 10), (vec![3, 1, 2], 3));
    assert_eq!(pending_ids(store, 7, 0), (vec![], 3));
    assert_eq!(pending_ids(store, 8, 10), (vec![9], 1));
    assert_eq!(pending_ids(store, 9, 10), (vec![], 0));
}

pub(crate) fn a_queued_message_is_delivered_as_it_was_queued(fixture: &dyn Fixture) {
    let store = fixture.open(Limits::default());
    let mut queued = outbound(7, 1);
    queued.created_at = 1_700_000_000;
    queued.size = 12_345;
    queued.envelope = (0..=255).collect();
    store.enqueue(&queued).unwrap();
    let (pending, _) = store.pending(&client(7), 10).unwrap();
    assert_eq!(pending, [queued]);
}

pub(crate) fn only_its_recipient_acknowledges_a_message(fixture: &dyn Fixture) {
    let store = fixture.open(Limits::default());
    for n in [3, 1, 2] {
        store.enqueue(&outbound(7, n)).unwrap();
    }
    store.enqueue(&outbound(8, 9)).unwrap();
    let ids = [id(3), id(1)];
    assert_eq!(store.acknowledge(&client(8), &ids).unwrap(), 0);
    assert_eq!(pending_ids(&*store, 7, 10), (vec![3, 1, 2], 3), "untouched");
    assert_eq!(store.acknowledge(&client(7), &ids).unwrap(), 2);
    assert_eq!(store.acknowledge(&client(7), &ids).unwrap(), 0, "once");
    assert_eq!(store.acknowledge(&client(7), &[id(0x55)]).unwrap(), 0);
    assert_eq!(store.acknowledge(&client(7), &[]).unwrap(), 0);
    assert_eq!(pending_ids(&*store, 7, 10), (vec![2], 1));
    assert_eq!(pending_ids(&*store, 8, 10), (vec![9], 1));
}

pub(crate) fn queued_counts_count_each_mailbox(fixture: &dyn Fixture) {
    let store = fixture.open(Limits::default());
    for n in [3, 1, 2] {
        store.enqueue(&outbound(7, n)).unwrap();
    }
    store.enqueue(&outbound(8, 9)).unwrap();
    store.acknowledge(&client(7), &[id(3), id(1)]).unwrap();
    let counts = store.queued_counts().unwrap();
    assert_eq!(counts[&client(7)], 1);
    assert_eq!(counts[&client(8)], 1);
    store.acknowledge(&client(8), &[id(9)]).unwrap();
    let counts = store.queued_counts().unwrap();
    // An emptied mailbox may be left out or counted as empty.
    assert_eq!(counts.get(&client(8)).copied().unwrap_or(0), 0);
    assert_eq!(counts.values().sum::<usize>(), 1);
}

pub(crate) fn a_full_mailbox_refuses_more_until_one_is_acknowledged(fixture: &dyn Fixture) {
    let store = fixture.open(mailbox_limit(3));
    for n in [3, 1, 2] {
        store.enqueue(&outbound(7, n)).unwrap();
    }
    match store.enqueue(&outbound(7, 4)) {
        Err(StoreError::MailboxFull { name, max: 3 }) => assert_eq!(name, "c7"),
        other => panic!("a fourth message in a mailbox of three: {other:?}"),
    }
    assert_eq!(
        pending_ids(&*store, 7, 10),
        (vec![3, 1, 2], 3),
        "nothing partial"
    );
    // Another client's mailbox is its own.
    store.enqueue(&outbound(8, 9)).unwrap();
    store.acknowledge(&client(7), &[id(1)]).unwrap();
    store.enqueue(&outbound(7, 4)).unwrap();
    assert_eq!(pending_ids(&*store, 7, 10), (vec![3, 2, 4], 3));
}
