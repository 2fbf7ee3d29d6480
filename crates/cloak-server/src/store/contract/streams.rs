//! Streams: what a sink wrote reads back frame by frame exactly, however
//! large, and a stream no row came to name is removed, so that refused,
//! retried and abandoned uploads cost no room for good.

use crate::store::{Content, Insert, Limits, MessageStore, StoreError, StreamRef};

use super::Fixture;
use super::sample::{
    assert_gone, bytes_limit, client, frames, frames_into, inbound, inbound_stream, is_full,
    mailbox_limit, outbound, outbound_stream, stream,
};

/// Stores `frames` as the stream of a message received from client 1 and
/// reads them back through the message's content, both ways.
fn round_trip(store: &dyn MessageStore, written: &[&[u8]]) {
    let (committed, bytes) = stream(store, written);
    let counted: usize = written.iter().map(|f| f.len() + 4).sum();
    assert_eq!(bytes, counted as u64, "4 bytes of length per frame");
    let message = inbound_stream(1, 9, 5, committed);
    assert_eq!(store.store_inbound(&message).unwrap(), Insert::Stored);
    let Content::Stream(found) = store.find_inbound("0909").unwrap().content else {
        panic!("a stream message found without its stream");
    };
    let largest = written.iter().map(|f| f.len()).max().unwrap_or(0);
    assert!(frames(store, &found) == written, "read back as written");
    assert!(
        frames_into(store, &found, largest) == written,
        "into a buffer"
    );
    assert_eq!(store.usage().unwrap().used_bytes, bytes);
}

pub(crate) fn a_committed_stream_reads_back_frame_by_frame(fixture: &dyn Fixture) {
    let store = fixture.open(Limits::default());
    round_trip(&*store, &[b"head", &[7u8; 1000], b"", b"final"]);
}

pub(crate) fn a_large_frame_reads_back_whole(fixture: &dyn Fixture) {
    let store = fixture.open(Limits::default());
    let large: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    round_trip(&*store, &[b"head", &large, b"final"]);
}

pub(crate) fn a_stream_of_megabytes_reads_back_in_order(fixture: &dyn Fixture) {
    let store = fixture.open(Limits::default());
    // 5 MB in frames of 64 KiB, each told apart by its first bytes.
    let chunks: Vec<Vec<u8>> = (0..80u32)
        .map(|n| {
            let mut chunk = vec![(n % 256) as u8; 64 * 1024];
            chunk[..4].copy_from_slice(&n.to_be_bytes());
            chunk
        })
        .collect();
    let written: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
    round_trip(&*store, &written);
}

pub(crate) fn a_stream_message_is_found_as_a_stream_that_opens(fixture: &dyn Fixture) {
    let store = fixture.open(Limits::default());
    let (committed, _) = stream(&*store, &[b"head", b"chunk"]);
    let message = inbound_stream(1, 9, 5, committed);
    store.store_inbound(&message).unwrap();
    let found = store.find_inbound("09").unwrap();
    assert_eq!(found, message, "found as stored");
    let Content::Stream(named) = found.content else {
        unreachable!("compared above");
    };
    assert_eq!(
        frames(&*store, &named),
        [b"head".to_vec(), b"chunk".to_vec()]
    );
    let listed = store.inbox(&Default::default()).unwrap();
    assert_eq!(
        listed[0].content,
        Content::Unloaded,
        "a listing opens nothing"
    );
}

pub(crate) fn a_retried_stream_is_removed_and_the_first_kept(fixture: &dyn Fixture) {
    let store = fixture.open(Limits::default());
    let (first, bytes) = stream(&*store, &[b"head", b"first"]);
    let message = inbound_stream(1, 9, 5, first.clone());
    store.store_inbound(&message).unwrap();

    let (retried, _) = stream(&*store, &[b"head", b"again"]);
    let retry = inbound_stream(1, 9, 6, retried.clone());
    assert_eq!(store.store_inbound(&retry).unwrap(), Insert::Duplicate);
    assert_gone(&*store, &retried, "a retry's stream");

    let (other, _) = stream(&*store, &[b"head", b"other"]);
    let mut conflict = inbound_stream(1, 9, 7, other.clone());
    conflict.text_digest = Some([0xaa; 32]);
    assert_eq!(store.store_inbound(&conflict).unwrap(), Insert::Conflict);
    assert_gone(&*store, &other, "a conflicting stream");

    assert_eq!(store.find_inbound("09").unwrap(), message);
    assert_eq!(
        frames(&*store, &first),
        [b"head".to_vec(), b"first".to_vec()]
    );
    assert_eq!(store.usage().unwrap().used_bytes, bytes, "counted once");
}

pub(crate) fn a_stream_refused_by_a_full_mailbox_is_removed(fixture: &dyn Fixture) {
    let store = fixture.open(mailbox_limit(1));
    store.enqueue(&outbound(7, 1)).unwrap();
    let (refused, _) = stream(&*store, &[b"x"]);
    assert!(matches!(
        store.enqueue(&outbound_stream(7, 2, refused.clone())),
        Err(StoreError::MailboxFull { .. })
    ));
    assert_gone(&*store, &refused, "a stream its mailbox refused");
    let (queued, total) = store.pending(&client(7), 10).unwrap();
    assert_eq!((queued.len(), total), (1, 1));
    assert_eq!(store.usage().unwrap().used_bytes, 10);
}

pub(crate) fn a_stream_refused_for_room_is_removed(fixture: &dyn Fixture) {
    let store = fixture.open(bytes_limit(100));
    store.store_inbound(&inbound(2, 1, 1, 50)).unwrap();
    // A 60-byte stream does not fit beside 50 stored bytes. A store may
    // refuse it while it is written, or when its row comes (the embedded
    // store gives a committed stream's room back until then); either way
    // nothing of it stays.
    let received = try_stream(&*store, 56);
    if let Some(stream) = received {
        assert!(is_full(store.store_inbound(&inbound_stream(
            1,
            2,
            2,
            stream.clone()
        ))));
        assert_gone(&*store, &stream, "a received stream refused for room");
    }
    if let Some(stream) = try_stream(&*store, 56) {
        assert!(is_full(store.enqueue(&outbound_stream(
            7,
            3,
            stream.clone()
        ))));
        assert_gone(&*store, &stream, "a queued stream refused for room");
    }
    let usage = store.usage().unwrap();
    assert_eq!((usage.used_bytes, usage.reserved_bytes), (50, 0));
}

/// A committed stream of one `len`-byte frame, or `None` when the store
/// refused its room while it was written.
fn try_stream(store: &dyn MessageStore, len: usize) -> Option<StreamRef> {
    let mut sink = store.begin_stream().unwrap();
    match sink.write_frame(&vec![0u8; len]) {
        Ok(()) => Some(sink.commit().unwrap()),
        Err(e) => {
            assert!(is_full(Err::<(), _>(e)));
            None
        }
    }
}

pub(crate) fn an_abandoned_sink_leaves_nothing_and_gives_its_room_back(fixture: &dyn Fixture) {
    let store = fixture.open(bytes_limit(100));
    let mut sink = store.begin_stream().unwrap();
    sink.write_frame(&[0u8; 60]).unwrap();
    assert_eq!(store.usage().unwrap().reserved_bytes, 64);
    assert!(is_full(store.store_inbound(&inbound(1, 1, 1, 40))));
    drop(sink);
    let usage = store.usage().unwrap();
    assert_eq!((usage.used_bytes, usage.reserved_bytes), (0, 0));
    // All of it is room again, for a message and for another stream.
    let mut sink = store.begin_stream().unwrap();
    sink.write_frame(&[0u8; 96]).unwrap();
    drop(sink);
    store.store_inbound(&inbound(1, 1, 1, 100)).unwrap();
    assert_eq!(store.usage().unwrap().received, 1);
}
