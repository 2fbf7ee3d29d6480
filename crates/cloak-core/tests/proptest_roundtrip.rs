//! Property: any plaintext up to a few KiB round-trips in both modes, and a
//! random byte change anywhere is rejected.

mod common;

use cloak_core::{FreshnessCheck, Mode, OpenOptions, SealOptions, open, seal};
use common::{FRESH, keys_2048};
use proptest::prelude::*;

fn open_as_r(bytes: &[u8]) -> Option<Vec<u8>> {
    let k = keys_2048();
    open(
        &k.r,
        k.s.public(),
        bytes,
        FreshnessCheck::Expect(FRESH),
        &OpenOptions::default(),
    )
    .ok()
    .map(|o| o.plaintext)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn round_trip(text in prop::collection::vec(any::<u8>(), 0..3000), hybrid in any::<bool>()) {
        let k = keys_2048();
        let mode = if hybrid { Mode::Hybrid } else { Mode::Asymmetric };
        let sealed = seal(&k.s, k.r.public(), mode, FRESH, &text, &SealOptions::default()).unwrap();
        prop_assert_eq!(open_as_r(&sealed.bytes), Some(text));
    }

    #[test]
    fn random_change_rejected(text in prop::collection::vec(any::<u8>(), 0..500), hybrid in any::<bool>(),
                              position in any::<prop::sample::Index>(), mask in 1u8..=255) {
        let k = keys_2048();
        let mode = if hybrid { Mode::Hybrid } else { Mode::Asymmetric };
        let mut bytes = seal(&k.s, k.r.public(), mode, FRESH, &text, &SealOptions::default()).unwrap().bytes;
        let i = position.index(bytes.len());
        bytes[i] ^= mask;
        prop_assert_eq!(open_as_r(&bytes), None);
    }
}
