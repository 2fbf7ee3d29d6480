//! Decoding session messages (both directions) from arbitrary payloads:
//! never panics, and whatever decodes survives a re-encode unchanged in
//! value (session messages are decoded leniently; the sealed data inside
//! them is checked canonically by the envelope target).
#![no_main]

use cloak_core::session::messages::{decode_payload, encode_payload};
use cloak_core::session::{ClientMessage, ServerMessage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = decode_payload::<ClientMessage>(data) {
        let again = decode_payload::<ClientMessage>(&encode_payload(&message)).unwrap();
        assert_eq!(again, message);
    }
    if let Ok(message) = decode_payload::<ServerMessage>(data) {
        let again = decode_payload::<ServerMessage>(&encode_payload(&message)).unwrap();
        assert_eq!(again, message);
    }
});
