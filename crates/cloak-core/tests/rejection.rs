//! Every way an envelope must fail to open: each single-byte change,
//! truncation, the wrong recipient, another signer, a stale freshness value,
//! a refused mode. All give the one opaque error.

mod common;

use cloak_core::{FreshnessCheck, Mode, OpenError, OpenOptions, SealOptions, decrypt, open, seal};
use common::{FRESH, keys_2048};

fn open_as_r(bytes: &[u8]) -> Result<cloak_core::Opened, OpenError> {
    let k = keys_2048();
    open(
        &k.r,
        k.s.public(),
        bytes,
        FreshnessCheck::Expect(FRESH),
        &OpenOptions::default(),
    )
}

fn sealed(mode: Mode, text: &[u8]) -> Vec<u8> {
    let k = keys_2048();
    seal(
        &k.s,
        k.r.public(),
        mode,
        FRESH,
        text,
        &SealOptions::default(),
    )
    .unwrap()
    .bytes
}

#[test]
fn every_single_byte_change_is_rejected() {
    for mode in [Mode::Asymmetric, Mode::Hybrid] {
        let bytes = sealed(mode, b"attack at dawn");
        assert!(
            open_as_r(&bytes).is_ok(),
            "control: untouched envelope opens"
        );
        for i in 0..bytes.len() {
            for mask in [0x01u8, 0x80] {
                let mut forged = bytes.clone();
                forged[i] ^= mask;
                assert_eq!(
                    open_as_r(&forged),
                    Err(OpenError::Rejected),
                    "{mode}: byte {i} ^ {mask:#04x} of {} was accepted",
                    bytes.len()
                );
            }
        }
    }
}

#[test]
fn every_truncation_and_extension_is_rejected() {
    for mode in [Mode::Asymmetric, Mode::Hybrid] {
        let bytes = sealed(mode, b"truncate me");
        for len in 0..bytes.len() {
            assert!(
                open_as_r(&bytes[..len]).is_err(),
                "{mode}: prefix of {len} accepted"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(
            open_as_r(&longer).is_err(),
            "{mode}: trailing byte accepted"
        );
    }
}

#[test]
fn wrong_recipient_key_is_rejected() {
    let k = keys_2048();
    for mode in [Mode::Asymmetric, Mode::Hybrid] {
        let bytes = sealed(mode, b"for R");
        let result = open(
            &k.t,
            k.s.public(),
            &bytes,
            FreshnessCheck::Expect(FRESH),
            &OpenOptions::default(),
        );
        assert_eq!(result, Err(OpenError::Rejected));
    }
}

#[test]
fn signature_by_another_key_is_rejected() {
    let k = keys_2048();
    for mode in [Mode::Asymmetric, Mode::Hybrid] {
        // T signs and claims nothing false, but R expects S.
        let by_t = seal(
            &k.t,
            k.r.public(),
            mode,
            FRESH,
            b"from T",
            &SealOptions::default(),
        )
        .unwrap();
        assert!(open_as_r(&by_t.bytes).is_err());
        // Phase two with T's key works; so the rejection above is the key.
        let decrypted = decrypt(&k.r, &by_t.bytes, &OpenOptions::default()).unwrap();
        assert_eq!(decrypted.claimed_sender(), k.t.fingerprint());
        assert!(
            decrypted
                .verify(k.t.public(), FreshnessCheck::Expect(FRESH))
                .is_ok()
        );
    }
}

#[test]
fn stale_freshness_is_rejected() {
    let k = keys_2048();
    for mode in [Mode::Asymmetric, Mode::Hybrid] {
        let old = seal(
            &k.s,
            k.r.public(),
            mode,
            b"yesterday's challenge",
            b"replayed",
            &SealOptions::default(),
        )
        .unwrap();
        assert!(open_as_r(&old.bytes).is_err());
        let archived = open(
            &k.r,
            k.s.public(),
            &old.bytes,
            FreshnessCheck::Archived,
            &OpenOptions::default(),
        )
        .unwrap();
        assert_eq!(archived.freshness, b"yesterday's challenge");
    }
}

#[test]
fn refused_mode_is_rejected() {
    let k = keys_2048();
    let only_hybrid = OpenOptions {
        only_mode: Some(Mode::Hybrid),
        ..OpenOptions::default()
    };
    let asym = sealed(Mode::Asymmetric, b"downgrade");
    assert!(
        open(
            &k.r,
            k.s.public(),
            &asym,
            FreshnessCheck::Expect(FRESH),
            &only_hybrid
        )
        .is_err()
    );
    let hybrid = sealed(Mode::Hybrid, b"fine");
    assert!(
        open(
            &k.r,
            k.s.public(),
            &hybrid,
            FreshnessCheck::Expect(FRESH),
            &only_hybrid
        )
        .is_ok()
    );
}

#[test]
fn garbage_is_rejected() {
    for bytes in [&[][..], &[0u8; 1], &[0xff; 64], &[0u8; 4096]] {
        assert!(open_as_r(bytes).is_err());
    }
}
