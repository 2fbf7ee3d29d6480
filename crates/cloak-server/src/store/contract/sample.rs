//! Messages and streams for the contract, built from a byte or two, so
//! that a test reads as which sender, mailbox and id it means; and the
//! checks on streams that every test of streams repeats.

use cloak_core::{Fingerprint, MessageId, Mode};

use crate::store::{Content, Inbound, Limits, MessageStore, Outbound, StoreError, StreamRef};

/// The client numbered `n`.
pub(super) fn client(n: u8) -> Fingerprint {
    Fingerprint([n; 32])
}

/// The message id made of the byte `n`.
pub(super) fn id(n: u8) -> MessageId {
    MessageId([n; 16])
}

/// Limits of `max_bytes` bytes, the rest as by default.
pub(super) fn bytes_limit(max_bytes: u64) -> Limits {
    Limits {
        max_bytes,
        ..Limits::default()
    }
}

/// Limits of `max_mailbox` messages per mailbox, the rest as by default.
pub(super) fn mailbox_limit(max_mailbox: usize) -> Limits {
    Limits {
        max_mailbox,
        ..Limits::default()
    }
}

/// A message received from client `sender` at time `at`, its envelope
/// `bytes` long (an envelope counts its length against the limit).
pub(super) fn inbound(sender: u8, id_byte: u8, at: u64, bytes: usize) -> Inbound {
    Inbound {
        message_id: id(id_byte),
        sender: client(sender),
        sender_name: format!("c{sender}"),
        received_at: at,
        mode: Mode::Hybrid,
        size: 5,
        text_digest: Some([id_byte; 32]),
        content: Content::Envelope(vec![0xee; bytes]),
    }
}

/// [`inbound`], its content a committed stream.
pub(super) fn inbound_stream(sender: u8, id_byte: u8, at: u64, stream: StreamRef) -> Inbound {
    Inbound {
        content: Content::Stream(stream),
        ..inbound(sender, id_byte, at, 0)
    }
}

/// A message queued for client `to`, its envelope 10 bytes long.
pub(super) fn outbound(to: u8, id_byte: u8) -> Outbound {
    Outbound {
        message_id: id(id_byte),
        recipient: client(to),
        recipient_name: format!("c{to}"),
        created_at: 1,
        size: 3,
        envelope: vec![id_byte; 10],
        stream: None,
    }
}

/// [`outbound`], sealed as a committed stream instead of an envelope.
pub(super) fn outbound_stream(to: u8, id_byte: u8, stream: StreamRef) -> Outbound {
    Outbound {
        envelope: Vec::new(),
        stream: Some(stream),
        ..outbound(to, id_byte)
    }
}

/// Writes `frames` as a new stream and commits it: its name, and the bytes
/// its sink counted (what its row then counts against the limit).
pub(super) fn stream(store: &dyn MessageStore, frames: &[&[u8]]) -> (StreamRef, u64) {
    let mut sink = store.begin_stream().unwrap();
    for frame in frames {
        sink.write_frame(frame).unwrap();
    }
    let bytes = sink.bytes();
    (sink.commit().unwrap(), bytes)
}

/// What [`MessageStore::open_stream`] reads back, every frame.
pub(super) fn frames(store: &dyn MessageStore, stream: &StreamRef) -> Vec<Vec<u8>> {
    let mut source = store.open_stream(stream).unwrap();
    std::iter::from_fn(|| source.next_frame().unwrap()).collect()
}

/// The same, read through [`crate::store::FrameSource::next_frame_into`]
/// with a buffer of `room` bytes.
pub(super) fn frames_into(
    store: &dyn MessageStore,
    stream: &StreamRef,
    room: usize,
) -> Vec<Vec<u8>> {
    let mut source = store.open_stream(stream).unwrap();
    let mut buf = vec![0u8; room];
    std::iter::from_fn(|| {
        let len = source.next_frame_into(&mut buf).unwrap()?;
        Some(buf[..len].to_vec())
    })
    .collect()
}

/// Asserts that a stream no row names any more was removed. A store may
/// refuse to open it or open it empty (streams kept as rows), but none of
/// its frames can be read: the contract's streams never start empty.
pub(super) fn assert_gone(store: &dyn MessageStore, stream: &StreamRef, why: &str) {
    let Ok(mut source) = store.open_stream(stream) else {
        return;
    };
    assert!(
        !matches!(source.next_frame(), Ok(Some(_))),
        "{why}: the stream {stream} still reads"
    );
}

/// Whether `result` says the store is full.
pub(super) fn is_full<T>(result: Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::Full { .. }))
}

/// Whether a new stream finds no room: refused as it begins or at its
/// first frame, whichever a store checks first.
pub(super) fn no_room_for_a_stream(store: &dyn MessageStore) -> bool {
    match store.begin_stream() {
        Err(StoreError::Full { .. }) => true,
        Err(e) => panic!("a stream could not begin: {e}"),
        Ok(mut sink) => is_full(sink.write_frame(b"")),
    }
}
