//! Frame parsing on arbitrary bytes: never panics, never accepts a length
//! over the limit, and a complete frame's bounds lie inside the input;
//! `missing` is zero exactly when a whole frame is there.
#![no_main]

use cloak_core::limits::MAX_FRAME_LEN;
use cloak_core::session::frame;
use libfuzzer_sys::fuzz_target;

// Links the capped allocator.
use cloak_fuzz as _;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    loop {
        let parsed = frame::parse(rest, MAX_FRAME_LEN);
        let missing = frame::missing(rest);
        match parsed {
            Ok(None) => assert!(missing > 0),
            Ok(Some(_)) => assert_eq!(missing, 0),
            Err(_) => {}
        }
        let Ok(Some(total)) = parsed else { break };
        assert!(total >= frame::HEADER_LEN && total <= rest.len());
        assert!(total - frame::HEADER_LEN <= MAX_FRAME_LEN);
        rest = &rest[total..];
    }
});
