//! Decoding session messages (both directions) from arbitrary payloads:
//! never panics, and whatever decodes survives a re-encode unchanged in
//! value (session messages are decoded leniently; the sealed data inside
//! them is checked canonically by the envelope target). The borrowed
//! reading of stream chunks agrees with the full decoder on every input.
#![no_main]

use cloak_core::session::messages::{chunk_data, decode_payload, encode_payload};
use cloak_core::session::{ClientMessage, ServerMessage};
use libfuzzer_sys::fuzz_target;

// Links the capped allocator.
use cloak_fuzz as _;

fuzz_target!(|data: &[u8]| {
    let full = decode_payload::<ClientMessage>(data).ok();
    match chunk_data(data) {
        Some(chunk) => assert_eq!(
            full,
            Some(ClientMessage::Chunk {
                data: chunk.to_vec()
            })
        ),
        None => assert!(!matches!(full, Some(ClientMessage::Chunk { .. }))),
    }
    if let Ok(message) = decode_payload::<ClientMessage>(data) {
        let again = decode_payload::<ClientMessage>(&encode_payload(&message)).unwrap();
        assert_eq!(again, message);
    }
    if let Ok(message) = decode_payload::<ServerMessage>(data) {
        let again = decode_payload::<ServerMessage>(&encode_payload(&message)).unwrap();
        assert_eq!(again, message);
    }
});
