//! Structure-aware fuzzing of everything a peer's bytes reach: envelopes
//! (`open`), hybrid streams (`StreamOpener` chunk by chunk, then `finish`)
//! and session messages in both directions (`decode_payload`, then the
//! envelope or stream head inside, as the receiver would open it).
//!
//! Inputs are short descriptions (see `cloak_fuzz::cases`) whose counts and
//! lengths may be huge and whose keys and chunks may be really sealed to
//! the fixture keys, so that what byte-level fuzzing cannot write within
//! its input size, or cannot encrypt, is reached in a few mutations. The
//! capped allocator turns an allocation driven by a forged count into a
//! crash; and nothing the fuzzer made may ever verify, since it cannot
//! sign as the sender.
#![no_main]

use arbitrary::Arbitrary;
use cloak_core::envelope::stream::StreamOpener;
use cloak_core::session::messages::decode_payload;
use cloak_core::session::{ClientMessage, ServerMessage, sender_proof};
use cloak_core::{FreshnessCheck, OpenOptions};
use cloak_fuzz::cases::{ClientCase, EnvelopeCase, FRESHNESS, Route, ServerCase, StreamCase};
use cloak_fuzz::fixture;
use libfuzzer_sys::fuzz_target;

/// The challenge sender proofs are checked against: any will do, since
/// the fuzzer cannot sign as the sender for any.
const CHALLENGE: [u8; 32] = [0x5c; 32];

#[derive(Arbitrary, Debug)]
enum Case {
    Envelope(EnvelopeCase),
    Stream(StreamCase),
    Client(ClientCase),
    Server(ServerCase),
}

/// Opens an envelope as its recipient would.
fn open(route: Route, envelope: &[u8]) {
    let opened = cloak_core::open(
        &route.to.keys,
        route.from.keys.public(),
        envelope,
        FreshnessCheck::Expect(FRESHNESS),
        &OpenOptions::default(),
    );
    assert!(opened.is_err(), "an envelope the fuzzer made verified");
}

/// Opens a stream as a receiver does: chunk by chunk, up to the first
/// refusal, the last chunk as the final one.
fn open_stream<'a>(route: Route, head: &[u8], chunks: impl Iterator<Item = &'a [u8]>) {
    let Ok(mut opener) = StreamOpener::new(&route.to.keys, head, &OpenOptions::default()) else {
        return;
    };
    let mut chunks = chunks.peekable();
    while let Some(chunk) = chunks.next() {
        if chunks.peek().is_some() {
            if opener.chunk(chunk).is_err() {
                return;
            }
            continue;
        }
        if let Ok(decrypted) = opener.finish(chunk) {
            let verified =
                decrypted.verify(route.from.keys.public(), FreshnessCheck::Expect(FRESHNESS));
            assert!(verified.is_err(), "a stream the fuzzer made verified");
        }
        return;
    }
}

fuzz_target!(|case: Case| {
    let keys = fixture();
    let to_server = Route {
        to: &keys.server,
        from: &keys.client,
    };
    let to_client = Route {
        to: &keys.client,
        from: &keys.server,
    };
    match case {
        Case::Envelope(envelope) => {
            if let Some(bytes) = envelope.build(to_server) {
                open(to_server, &bytes);
            }
        }
        Case::Stream(stream) => {
            if let Some(stream) = stream.build(to_server) {
                open_stream(to_server, &stream.head, stream.chunks.iter());
            }
        }
        Case::Client(message) => {
            let Some(payload) = message.build(to_server) else {
                return;
            };
            // A message in the wrong direction must not decode, nor crash.
            let _ = decode_payload::<ServerMessage>(&payload);
            match decode_payload::<ClientMessage>(&payload) {
                Ok(ClientMessage::Send {
                    wrapped_key,
                    proof,
                    envelope,
                }) => {
                    let claim = sender_proof::claim_envelope(
                        &to_server.to.keys,
                        &CHALLENGE,
                        &wrapped_key,
                        &proof,
                        &envelope,
                    );
                    assert!(
                        !claim.verify(Some(to_server.from.keys.public())),
                        "a sender proof the fuzzer made verified"
                    );
                    open(to_server, &envelope);
                }
                Ok(ClientMessage::SendStream { head, proof }) => {
                    if let Ok(opener) =
                        StreamOpener::new(&to_server.to.keys, &head, &OpenOptions::default())
                    {
                        let claim = sender_proof::claim_stream(
                            &to_server.to.keys,
                            &opener,
                            &CHALLENGE,
                            &head,
                            &proof,
                        );
                        assert!(
                            !claim.verify(Some(to_server.from.keys.public())),
                            "a sender proof the fuzzer made verified"
                        );
                    }
                    open_stream(to_server, &head, [].into_iter())
                }
                _ => {}
            }
        }
        Case::Server(message) => {
            let Some(payload) = message.build(to_client) else {
                return;
            };
            let _ = decode_payload::<ClientMessage>(&payload);
            match decode_payload::<ServerMessage>(&payload) {
                // Two are enough to reach every check; each costs an RSA
                // private-key operation.
                Ok(ServerMessage::Delivery { envelopes, .. }) => {
                    envelopes.iter().take(2).for_each(|e| open(to_client, e));
                }
                Ok(ServerMessage::DeliveryStream { head, .. }) => {
                    open_stream(to_client, &head, [].into_iter());
                }
                _ => {}
            }
        }
    }
});
