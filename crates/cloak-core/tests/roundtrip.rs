//! Round trips in both modes, key sizes 2048 and 3072, at the sizes where
//! block arithmetic goes wrong: empty, one byte, exact block boundaries and
//! the maximum; and the limits just past them.

mod common;

use cloak_core::limits::{
    DEFAULT_MAX_ASYMMETRIC_PLAINTEXT, MAX_HYBRID_PLAINTEXT, oaep_block_capacity,
};
use cloak_core::{FreshnessCheck, KeyPair, Mode, OpenOptions, SealError, SealOptions, open, seal};
use common::{FRESH, Trio, keys_2048, keys_3072};

fn round_trip(k: &Trio, mode: Mode, text: &[u8]) {
    let sealed = seal(
        &k.s,
        k.r.public(),
        mode,
        FRESH,
        text,
        &SealOptions::default(),
    )
    .unwrap_or_else(|e| panic!("seal {mode} {} bytes: {e}", text.len()));
    let opened = open(
        &k.r,
        k.s.public(),
        &sealed.bytes,
        FreshnessCheck::Expect(FRESH),
        &OpenOptions::default(),
    )
    .unwrap_or_else(|e| panic!("open {mode} {} bytes: {e}", text.len()));
    assert_eq!(opened.plaintext, text);
    assert_eq!(opened.sender, k.s.fingerprint());
    assert_eq!(opened.message_id, sealed.message_id);
    assert_eq!(opened.mode, mode);
    assert_eq!(opened.freshness, FRESH);
}

fn small_sizes(k: &Trio) -> Vec<usize> {
    let cap = oaep_block_capacity(k.r.public().bits() / 8);
    vec![0, 1, cap - 1, cap, cap + 1, 2 * cap, 3 * cap + 7]
}

#[test]
fn both_modes_2048_and_3072() {
    for k in [keys_2048(), keys_3072()] {
        for mode in [Mode::Asymmetric, Mode::Hybrid] {
            for len in small_sizes(k) {
                let text: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
                round_trip(k, mode, &text);
            }
        }
    }
}

#[test]
fn block_capacity_matches_rfc8017() {
    assert_eq!(oaep_block_capacity(256), 190);
    assert_eq!(oaep_block_capacity(384), 318);
}

/// The asymmetric envelope grows by one RSA block exactly when the encoded
/// inner message crosses a block boundary: find that length and check the
/// last length of k blocks and the first of k+1 both round-trip.
#[test]
fn exact_inner_block_boundary() {
    let k = keys_2048();
    let modulus = k.r.public().bits() / 8;
    let len_of = |n: usize| {
        seal(
            &k.s,
            k.r.public(),
            Mode::Asymmetric,
            FRESH,
            &vec![9u8; n],
            &SealOptions::default(),
        )
        .unwrap()
        .bytes
        .len()
    };
    let mut previous = len_of(0);
    let boundary = (1..600)
        .find(|&n| {
            let now = len_of(n);
            let grew = now >= previous + modulus;
            previous = now;
            grew
        })
        .expect("a block boundary within 600 bytes");
    round_trip(k, Mode::Asymmetric, &vec![1u8; boundary - 1]);
    round_trip(k, Mode::Asymmetric, &vec![2u8; boundary]);
}

#[test]
fn maximum_sizes_round_trip_and_one_more_byte_is_refused() {
    let k = keys_2048();
    round_trip(
        k,
        Mode::Asymmetric,
        &vec![0xa5; DEFAULT_MAX_ASYMMETRIC_PLAINTEXT],
    );
    round_trip(k, Mode::Hybrid, &vec![0x5a; MAX_HYBRID_PLAINTEXT]);

    let err = seal(
        &k.s,
        k.r.public(),
        Mode::Asymmetric,
        FRESH,
        &vec![0; DEFAULT_MAX_ASYMMETRIC_PLAINTEXT + 1],
        &SealOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(
        err,
        SealError::TooLarge {
            mode: Mode::Asymmetric,
            ..
        }
    ));
    assert!(err.to_string().contains("use hybrid mode"), "{err}");

    let err = seal(
        &k.s,
        k.r.public(),
        Mode::Hybrid,
        FRESH,
        &vec![0; MAX_HYBRID_PLAINTEXT + 1],
        &SealOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(
        err,
        SealError::TooLarge {
            mode: Mode::Hybrid,
            ..
        }
    ));
}

#[test]
fn configurable_asymmetric_limit() {
    let k = keys_2048();
    let options = SealOptions {
        max_asymmetric_plaintext: 100,
        ..SealOptions::default()
    };
    assert!(
        seal(
            &k.s,
            k.r.public(),
            Mode::Asymmetric,
            FRESH,
            &[0; 100],
            &options
        )
        .is_ok()
    );
    assert!(
        seal(
            &k.s,
            k.r.public(),
            Mode::Asymmetric,
            FRESH,
            &[0; 101],
            &options
        )
        .is_err()
    );
    // The recipient enforces its own limit too, before decrypting.
    let sealed = seal(
        &k.s,
        k.r.public(),
        Mode::Asymmetric,
        FRESH,
        &[0; 4000],
        &SealOptions::default(),
    )
    .unwrap();
    let strict = OpenOptions {
        max_asymmetric_plaintext: 100,
        ..OpenOptions::default()
    };
    assert!(
        open(
            &k.r,
            k.s.public(),
            &sealed.bytes,
            FreshnessCheck::Expect(FRESH),
            &strict
        )
        .is_err()
    );
}

#[test]
fn every_seal_uses_a_fresh_key_nonce_and_id() {
    let k = keys_2048();
    let a = seal(
        &k.s,
        k.r.public(),
        Mode::Hybrid,
        FRESH,
        b"same",
        &SealOptions::default(),
    )
    .unwrap();
    let b = seal(
        &k.s,
        k.r.public(),
        Mode::Hybrid,
        FRESH,
        b"same",
        &SealOptions::default(),
    )
    .unwrap();
    assert_ne!(a.message_id, b.message_id);
    assert_ne!(a.bytes, b.bytes);
    // Past the cleartext header (version, mode, recipient fingerprint: under
    // 40 bytes), no 16-byte window of one envelope appears in the other.
    let windows: std::collections::HashSet<&[u8]> = a.bytes[40..].windows(16).collect();
    let shared = b.bytes[40..]
        .windows(16)
        .filter(|w| windows.contains(w))
        .count();
    assert_eq!(shared, 0, "{shared} shared 16-byte windows");
}

#[test]
fn caller_chosen_message_id_and_timestamp_are_signed_and_returned() {
    let k = keys_2048();
    let options = SealOptions {
        message_id: Some(cloak_core::MessageId([7; 16])),
        timestamp: Some(1_700_000_000),
        ..SealOptions::default()
    };
    let sealed = seal(&k.s, k.r.public(), Mode::Hybrid, FRESH, b"retry", &options).unwrap();
    let opened = open(
        &k.r,
        k.s.public(),
        &sealed.bytes,
        FreshnessCheck::Expect(FRESH),
        &OpenOptions::default(),
    )
    .unwrap();
    assert_eq!(opened.message_id, cloak_core::MessageId([7; 16]));
    assert_eq!(opened.timestamp, 1_700_000_000);
}

#[test]
fn key_generation_sizes() {
    for bits in [1024, 1000, 2047, 2500, 8192] {
        let err = KeyPair::generate(bits).unwrap_err();
        assert!(err.to_string().contains("2048, 3072 or 4096"), "{err}");
    }
}
