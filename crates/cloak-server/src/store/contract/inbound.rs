//! Received messages: stored once per sender and id, however often a
//! sender retries, and listed and found as the operator commands show
//! them.

use crate::store::{Content, InboxQuery, Insert, Limits, MessageStore, StoreError};

use super::Fixture;
use super::sample::{client, inbound};

/// A message as a listing shows it: everything but its sealed bytes (and
/// its digest, which a listing need not load).
fn listed(m: &crate::store::Inbound) -> impl PartialEq + std::fmt::Debug {
    (
        m.message_id,
        m.sender,
        m.sender_name.clone(),
        m.received_at,
        m.mode,
        m.size,
    )
}

/// Received times of the messages `query` lists.
fn times(store: &dyn MessageStore, query: InboxQuery) -> Vec<u64> {
    let inbox = store.inbox(&query).unwrap();
    inbox.iter().map(|m| m.received_at).collect()
}

pub(crate) fn a_retry_is_a_duplicate_and_another_text_a_conflict(fixture: &dyn Fixture) {
    let store = fixture.open(Limits::default());
    let first = inbound(1, 1, 1, 10);
    assert_eq!(store.store_inbound(&first).unwrap(), Insert::Stored);
    // A retry seals the same text again, under a new receipt key: the
    // envelope and the time differ, the digest does not.
    let mut retry = inbound(1, 1, 2, 12);
    retry.content = Content::Envelope(vec![0x11; 12]);
    assert_eq!(store.store_inbound(&retry).unwrap(), Insert::Duplicate);
    let mut other = first.clone();
    other.text_digest = Some([0xaa; 32]);
    other.content = Content::Envelope(vec![0xbb; 10]);
    assert_eq!(store.store_inbound(&other).unwrap(), Insert::Conflict);

    let kept = store.find_inbound(&first.message_id.to_string()).unwrap();
    assert_eq!(kept, first, "the first text stays, as it was");
    let usage = store.usage().unwrap();
    assert_eq!((usage.received, usage.used_bytes), (1, 10), "nothing else");
}

pub(crate) fn the_same_id_from_another_sender_is_another_message(fixture: &dyn Fixture) {
    let store = fixture.open(Limits::default());
    assert_eq!(
        store.store_inbound(&inbound(1, 0xab, 1, 10)).unwrap(),
        Insert::Stored
    );
    assert_eq!(
        store.store_inbound(&inbound(2, 0xab, 2, 10)).unwrap(),
        Insert::Stored
    );
    let inbox = store.inbox(&InboxQuery::default()).unwrap();
    let senders: Vec<_> = inbox.iter().map(|m| m.sender).collect();
    assert_eq!(senders, [client(1), client(2)]);
}

pub(crate) fn the_inbox_lists_oldest_first_without_content(fixture: &dyn Fixture) {
    let store = fixture.open(Limits::default());
    let stored = [
        inbound(1, 1, 20, 10),
        inbound(2, 2, 10, 10),
        inbound(1, 3, 30, 10),
        // Received in the same second as the first: after it.
        inbound(3, 4, 20, 10),
    ];
    for m in &stored {
        assert_eq!(store.store_inbound(m).unwrap(), Insert::Stored);
    }
    let inbox = store.inbox(&InboxQuery::default()).unwrap();
    let expected: Vec<_> = [1, 0, 3, 2].iter().map(|&i| listed(&stored[i])).collect();
    assert_eq!(inbox.iter().map(listed).collect::<Vec<_>>(), expected);
    assert!(inbox.iter().all(|m| m.content == Content::Unloaded));
}

pub(crate) fn an_inbox_query_chooses_since_and_limit(fixture: &dyn Fixture) {
    let store = fixture.open(Limits::default());
    for (id, at) in [(1u8, 10u64), (2, 20), (3, 30), (4, 40)] {
        store.store_inbound(&inbound(1, id, at, 10)).unwrap();
    }
    let query = |since, limit| InboxQuery { since, limit };
    let store = &*store;
    assert_eq!(times(store, query(Some(20), Some(2))), [20, 30]);
    assert_eq!(times(store, query(Some(11), Some(1))), [20]);
    assert_eq!(times(store, query(Some(11), None)), [20, 30, 40]);
    assert_eq!(times(store, query(None, Some(3))), [10, 20, 30]);
    assert_eq!(times(store, query(Some(0), None)), [10, 20, 30, 40]);
    assert!(times(store, query(Some(41), None)).is_empty());
    assert!(times(store, query(None, Some(0))).is_empty());
}

pub(crate) fn an_empty_store_lists_nothing(fixture: &dyn Fixture) {
    let store = fixture.open(Limits::default());
    assert!(store.inbox(&InboxQuery::default()).unwrap().is_empty());
    let recent = InboxQuery {
        since: Some(1),
        limit: Some(10),
    };
    assert!(store.inbox(&recent).unwrap().is_empty());
    assert!(matches!(
        store.find_inbound("00"),
        Err(StoreError::NotFound(_))
    ));
    let (pending, total) = store.pending(&client(1), 10).unwrap();
    assert!(pending.is_empty() && total == 0);
    assert!(store.queued_counts().unwrap().is_empty());
    assert!(store.quarantined().unwrap().is_empty());
    assert!(store.legacy_sealed().unwrap().is_empty());
    let usage = store.usage().unwrap();
    assert_eq!(
        (
            usage.used_bytes,
            usage.reserved_bytes,
            usage.received,
            usage.queued
        ),
        (0, 0, 0, 0)
    );
}

pub(crate) fn a_message_is_found_by_a_prefix_of_its_id_in_any_case(fixture: &dyn Fixture) {
    let store = fixture.open(Limits::default());
    let wanted = inbound(2, 0xcd, 30, 10);
    store.store_inbound(&inbound(1, 0xab, 20, 10)).unwrap();
    store.store_inbound(&wanted).unwrap();
    for prefix in ["c", "CDCD", "cDcD", &wanted.message_id.to_string()] {
        assert_eq!(store.find_inbound(prefix).unwrap(), wanted, "{prefix}");
    }
}

pub(crate) fn an_ambiguous_or_unknown_prefix_is_refused(fixture: &dyn Fixture) {
    let store = fixture.open(Limits::default());
    let mut near = inbound(1, 0xab, 1, 10);
    near.message_id.0[1] = 0xcd;
    store.store_inbound(&inbound(1, 0xab, 1, 10)).unwrap();
    store.store_inbound(&near).unwrap();
    // The same id from two senders: the id alone cannot tell them apart.
    store.store_inbound(&inbound(2, 0x12, 1, 10)).unwrap();
    store.store_inbound(&inbound(3, 0x12, 1, 10)).unwrap();
    for prefix in ["a", "AB", "1212"] {
        assert!(
            matches!(store.find_inbound(prefix), Err(StoreError::Ambiguous(_))),
            "{prefix}"
        );
    }
    assert_eq!(store.find_inbound("abcd").unwrap(), near);
    let too_long = format!("{}00", near.message_id);
    for prefix in ["ffff", "' OR 1=1 --", "%", "_", "abz", &too_long] {
        assert!(
            matches!(store.find_inbound(prefix), Err(StoreError::NotFound(_))),
            "{prefix}"
        );
    }
    assert!(
        store.find_inbound("").is_err(),
        "no prefix names no message"
    );
}
