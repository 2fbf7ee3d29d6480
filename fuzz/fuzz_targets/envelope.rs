//! Opening arbitrary bytes as an envelope and as a stream head: never
//! panics, and never accepts (only sealed envelopes of the fixed sender
//! verify, and the fuzzer cannot sign).
#![no_main]

use std::sync::OnceLock;

use cloak_core::envelope::stream::StreamOpener;
use cloak_core::{FreshnessCheck, KeyPair, OpenOptions};
use libfuzzer_sys::fuzz_target;

/// Keys made once per process: key generation dominates otherwise.
fn keys() -> &'static (KeyPair, KeyPair) {
    static KEYS: OnceLock<(KeyPair, KeyPair)> = OnceLock::new();
    KEYS.get_or_init(|| {
        (
            KeyPair::generate(2048).expect("keygen"),
            KeyPair::generate(2048).expect("keygen"),
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let (sender, recipient) = keys();
    let opened = cloak_core::open(
        recipient,
        sender.public(),
        data,
        FreshnessCheck::Expect(b"fuzz"),
        &OpenOptions::default(),
    );
    assert!(opened.is_err(), "an unsigned input verified");
    if let Ok(mut opener) = StreamOpener::new(recipient, data, &OpenOptions::default()) {
        let _ = opener.chunk(data);
    }
});
