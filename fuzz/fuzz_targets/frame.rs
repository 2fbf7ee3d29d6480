//! Frame parsing on arbitrary bytes: never panics, never accepts a length
//! over the limit, and a complete frame's bounds lie inside the input.
#![no_main]

use cloak_core::limits::MAX_FRAME_LEN;
use cloak_core::session::frame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some(total)) = frame::parse(rest, MAX_FRAME_LEN) {
        assert!(total >= frame::HEADER_LEN && total <= rest.len());
        assert!(total - frame::HEADER_LEN <= MAX_FRAME_LEN);
        rest = &rest[total..];
    }
});
