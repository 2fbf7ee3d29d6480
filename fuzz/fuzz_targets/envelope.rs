//! Opening arbitrary bytes as an envelope and as a stream head: never
//! panics, and never accepts what the fuzzer made (it cannot sign as the
//! sender). The keys are the repository's test fixtures, so the seeds
//! (sessions recorded between them) decrypt and reach every check.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use cloak_core::envelope::stream::StreamOpener;
use cloak_core::{FreshnessCheck, KeyPair, OpenOptions};
use libfuzzer_sys::fuzz_target;

/// The fixture client (sender) and server (recipient) keys.
fn keys() -> &'static (KeyPair, KeyPair) {
    static KEYS: OnceLock<(KeyPair, KeyPair)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let pem = |text: &str| KeyPair::from_pem(text, Path::new("fixture")).expect("fixture key");
        (
            pem(include_str!(
                "../../tests/fixtures/python-keys/client_private.pem"
            )),
            pem(include_str!(
                "../../tests/fixtures/python-keys/server_private.pem"
            )),
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
