//! The mirror is right only if well-formed descriptions decode to what
//! cloak-core's derived encoding means: these build such descriptions and
//! check that they decrypt (or decode to the expected value), and that
//! they still never verify.

use cloak_core::envelope::stream::StreamOpener;
use cloak_core::session::messages::decode_payload;
use cloak_core::session::{ClientMessage, ServerHello, ServerMessage};
use cloak_core::{FreshnessCheck, MessageId, Mode, OpenOptions};

use super::*;
use crate::fixture;

fn to_server() -> Route<'static> {
    let keys = fixture();
    Route {
        to: &keys.server,
        from: &keys.client,
    }
}

fn claims() -> ClaimsCase {
    ClaimsCase {
        sender: None,
        message_id: [1; 16],
        timestamp: 5,
        freshness: None,
        signature: Blob::KeySized(0),
    }
}

fn list<T>(count: u32, repeat: T, tail: Vec<T>) -> List<T> {
    List {
        count,
        repeat,
        tail,
        declared: None,
    }
}

fn header() -> HeaderCase {
    HeaderCase {
        version: None,
        mode: None,
        recipient: None,
    }
}

fn hybrid_chunks() -> List<Piece> {
    let trailer = TrailerCase {
        claims: claims(),
        plaintext_len: None,
    };
    list(
        1,
        Piece::Data(Blob::Run { len: 9, byte: 7 }),
        vec![Piece::Final(trailer)],
    )
}

fn decrypts_but_does_not_verify(bytes: &[u8]) {
    let route = to_server();
    let decrypted = cloak_core::decrypt(&route.to.keys, bytes, &OpenOptions::default())
        .expect("a well-formed envelope decrypts");
    assert_eq!(decrypted.claimed_sender(), route.from.keys.fingerprint());
    let verified = decrypted.verify(route.from.keys.public(), FreshnessCheck::Expect(FRESHNESS));
    assert!(verified.is_err());
}

#[test]
fn a_hybrid_envelope_with_a_wrapped_key_decrypts() {
    let envelope = EnvelopeCase {
        body: BodyCase::Hybrid {
            chunks: hybrid_chunks(),
            key: KeyCase::Wrapped([3; 32]),
        },
        header: header(),
    };
    decrypts_but_does_not_verify(&envelope.build(to_server()).unwrap());
}

#[test]
fn an_asymmetric_envelope_decrypts() {
    let envelope = EnvelopeCase {
        body: BodyCase::Asymmetric(Blocks::Sealed {
            inner: InnerCase::Inner {
                claims: claims(),
                // Over one block's capacity, so the labels count.
                plaintext: Blob::Run { len: 700, byte: 1 },
            },
            count: None,
        }),
        header: header(),
    };
    decrypts_but_does_not_verify(&envelope.build(to_server()).unwrap());
}

#[test]
fn a_stream_opens_to_its_final_chunk() {
    let route = to_server();
    let stream = StreamCase {
        chunks: hybrid_chunks(),
        head: HeadCase {
            header: header(),
            key: KeyCase::Wrapped([4; 32]),
        },
    }
    .build(route)
    .unwrap();
    let chunks: Vec<&[u8]> = stream.chunks.iter().collect();
    assert_eq!(chunks.len(), 2);
    let mut opener =
        StreamOpener::new(&route.to.keys, &stream.head, &OpenOptions::default()).unwrap();
    assert_eq!(opener.chunk(chunks[0]).unwrap(), [7; 9]);
    let decrypted = opener
        .finish(chunks[1])
        .expect("the trailer closes the stream");
    let verified = decrypted.verify(route.from.keys.public(), FreshnessCheck::Expect(FRESHNESS));
    assert!(verified.is_err());
}

#[test]
fn session_messages_decode_to_their_values() {
    let route = to_server();
    let ack = ClientCase::Ack {
        ids: list(3, [8; 16], vec![[9; 16]]),
        proof: Blob::Bytes(vec![1, 2]),
    };
    assert_eq!(
        decode_payload::<ClientMessage>(&ack.build(route).unwrap()).unwrap(),
        ClientMessage::Ack {
            ids: vec![
                MessageId([8; 16]),
                MessageId([8; 16]),
                MessageId([8; 16]),
                MessageId([9; 16])
            ],
            proof: vec![1, 2],
        }
    );
    let hello = ServerCase::Hello {
        modes: list(2, 1, vec![0]),
        server: Some([5; 32]),
        challenge: [6; 32],
    };
    assert_eq!(
        decode_payload::<ServerMessage>(&hello.build(route).unwrap()).unwrap(),
        ServerMessage::Hello(ServerHello {
            server: cloak_core::Fingerprint([5; 32]),
            challenge: [6; 32],
            modes: vec![Mode::Hybrid, Mode::Hybrid, Mode::Asymmetric],
        })
    );
}

#[test]
fn a_huge_count_stops_at_a_frame() {
    // A raw count in the upper half that asks for a whole frame of copies.
    let frame = cloak_core::limits::MAX_FRAME_LEN as u64;
    let raw = ((1u64 << 31) - frame).div_ceil(frame + 1) * (frame + 1) + frame;
    let chunks = list(raw as u32, Piece::Raw(Blob::Bytes(vec![])), vec![]);
    let envelope = EnvelopeCase {
        body: BodyCase::Hybrid {
            chunks,
            key: KeyCase::Raw(Blob::KeySized(0)),
        },
        header: header(),
    };
    let bytes = envelope.build(to_server()).unwrap();
    assert!(bytes.len() <= cloak_core::limits::MAX_FRAME_LEN);
    assert!(bytes.len() > cloak_core::limits::MAX_FRAME_LEN - 16);
}
