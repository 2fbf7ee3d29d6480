//! Session messages (docs/PROTOCOL.md §4.2) as payloads: the protocol
//! version as two big-endian bytes, then the message's variant index and
//! fields. Their lists (`Delivery.envelopes`, `Ack.ids`, `Hello.modes`)
//! take any count; the envelopes and heads inside are built as in
//! `envelope`, so a decoded message carries them on to be opened.

use arbitrary::Arbitrary;
use cloak_core::limits::PROTOCOL_VERSION;

use super::{Blob, EnvelopeCase, HeadCase, List, Route};
use crate::wire::{Writer, encoded};

fn payload(variant: u32, fields: impl FnOnce(&mut Writer) -> Option<()>) -> Option<Vec<u8>> {
    let mut w = Writer::new();
    w.raw(&PROTOCOL_VERSION.to_be_bytes())?;
    w.u32(variant)?;
    fields(&mut w)?;
    Some(w.into_bytes())
}

/// A message from client to server.
#[derive(Arbitrary, Debug)]
pub enum ClientCase {
    /// `Send { wrapped_key, proof, envelope }`.
    Send {
        /// The wrapped proof key.
        wrapped_key: Blob,
        /// The sealed sender proof.
        proof: Blob,
        /// The envelope.
        envelope: EnvelopeCase,
    },
    /// `Fetch(FetchRequest { client, challenge, mode, proof })`.
    Fetch {
        /// The client's fingerprint, if not the route's sender.
        client: Option<[u8; 32]>,
        /// The client's challenge.
        challenge: [u8; 32],
        /// The mode's variant index.
        mode: u32,
        /// The proof.
        proof: Blob,
    },
    /// `Ack { ids, proof }`.
    Ack {
        /// The ids.
        ids: List<[u8; 16]>,
        /// The proof.
        proof: Blob,
    },
    /// `SendStream { head, proof }`.
    SendStream {
        /// The stream head.
        head: HeadCase,
        /// The sealed sender proof.
        proof: Blob,
    },
    /// `Chunk { data }`.
    Chunk(Blob),
    /// `End { data }`.
    End(Blob),
    /// Another variant index, and any bytes after it.
    Other {
        /// The variant index.
        variant: u32,
        /// What follows.
        rest: Blob,
    },
}

impl ClientCase {
    /// The payload, on `route` from client to server.
    pub fn build(&self, route: Route) -> Option<Vec<u8>> {
        match self {
            ClientCase::Send {
                wrapped_key,
                proof,
                envelope,
            } => payload(0, |w| {
                wrapped_key.write(w, route)?;
                proof.write(w, route)?;
                w.bytes(&envelope.build(route)?)
            }),
            ClientCase::Fetch {
                client,
                challenge,
                mode,
                proof,
            } => payload(1, |w| {
                w.raw(&client.unwrap_or(route.from.keys.fingerprint().0))?;
                w.raw(challenge)?;
                w.u32(*mode)?;
                proof.write(w, route)
            }),
            ClientCase::Ack { ids, proof } => payload(2, |w| {
                ids.items(w.room(), false, |id, _, _| Some(id.to_vec()))?
                    .write(w)?;
                proof.write(w, route)
            }),
            ClientCase::SendStream { head, proof } => payload(3, |w| {
                w.bytes(&head.build(route)?)?;
                proof.write(w, route)
            }),
            ClientCase::Chunk(data) => payload(4, |w| data.write(w, route)),
            ClientCase::End(data) => payload(5, |w| data.write(w, route)),
            ClientCase::Other { variant, rest } => {
                payload(*variant, |w| w.raw(&rest.to_vec(route, w.room())?))
            }
        }
    }
}

/// A message from server to client.
#[derive(Arbitrary, Debug)]
pub enum ServerCase {
    /// `Delivery { envelopes, remaining }`.
    Delivery {
        /// The envelopes.
        envelopes: Box<List<EnvelopeCase>>,
        /// Messages still queued.
        remaining: u32,
    },
    /// `Hello(ServerHello { server, challenge, modes })`.
    Hello {
        /// The modes' variant indices.
        modes: List<u32>,
        /// The server's fingerprint, if not the route's sender.
        server: Option<[u8; 32]>,
        /// The challenge.
        challenge: [u8; 32],
    },
    /// `Receipt(Receipt { message_id, mac })`.
    Receipt {
        /// The message id.
        message_id: [u8; 16],
        /// The MAC.
        mac: [u8; 32],
    },
    /// `Acked { removed }`.
    Acked(u32),
    /// `Error { code, detail }`.
    Error {
        /// The code's variant index.
        code: u32,
        /// The detail (a `String`: its bytes may not be UTF-8).
        detail: Blob,
    },
    /// `DeliveryStream { head, size, remaining }`.
    DeliveryStream {
        /// The head.
        head: HeadCase,
        /// The announced size.
        size: u64,
        /// Messages still queued.
        remaining: u32,
    },
    /// `StreamChunk { data }`.
    StreamChunk(Blob),
    /// `StreamEnd { data }`.
    StreamEnd(Blob),
    /// Another variant index, and any bytes after it.
    Other {
        /// The variant index.
        variant: u32,
        /// What follows.
        rest: Blob,
    },
}

impl ServerCase {
    /// The payload, on `route` from server to client.
    pub fn build(&self, route: Route) -> Option<Vec<u8>> {
        match self {
            ServerCase::Hello {
                modes,
                server,
                challenge,
            } => payload(0, |w| {
                w.raw(&server.unwrap_or(route.from.keys.fingerprint().0))?;
                w.raw(challenge)?;
                modes
                    .items(w.room(), false, |mode, _, _| {
                        encoded(usize::MAX, |w| w.u32(*mode))
                    })?
                    .write(w)
            }),
            ServerCase::Receipt { message_id, mac } => payload(1, |w| {
                w.raw(message_id)?;
                w.raw(mac)
            }),
            ServerCase::Delivery {
                envelopes,
                remaining,
            } => payload(2, |w| {
                envelopes
                    .items(w.room(), true, |envelope, _, _| envelope.build(route))?
                    .write(w)?;
                w.u32(*remaining)
            }),
            ServerCase::Acked(removed) => payload(3, |w| w.u32(*removed)),
            ServerCase::Error { code, detail } => payload(4, |w| {
                w.u32(*code)?;
                detail.write(w, route)
            }),
            ServerCase::DeliveryStream {
                head,
                size,
                remaining,
            } => payload(5, |w| {
                w.bytes(&head.build(route)?)?;
                w.u64(*size)?;
                w.u32(*remaining)
            }),
            ServerCase::StreamChunk(data) => payload(6, |w| data.write(w, route)),
            ServerCase::StreamEnd(data) => payload(7, |w| data.write(w, route)),
            ServerCase::Other { variant, rest } => {
                payload(*variant, |w| w.raw(&rest.to_vec(route, w.room())?))
            }
        }
    }
}
