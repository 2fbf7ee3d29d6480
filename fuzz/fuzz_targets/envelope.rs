//! Opening arbitrary bytes as an envelope and as a stream head: never
//! panics, and never accepts what the fuzzer made (it cannot sign as the
//! sender). The keys are the repository's test fixtures, so the seeds
//! (sessions recorded between them) decrypt and reach every check.
#![no_main]

use cloak_core::envelope::stream::StreamOpener;
use cloak_core::{FreshnessCheck, OpenOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let keys = cloak_fuzz::fixture();
    let (sender, recipient) = (&keys.client.keys, &keys.server.keys);
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
