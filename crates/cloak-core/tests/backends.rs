//! The two crypto backends against each other (built with the `aws-lc`
//! feature): whatever one seals the other opens, in both modes, at every
//! key size, across stream chunk boundaries; keys load the same way and
//! give the same fingerprints on both; and an envelope altered after one
//! sealed it is refused by the other.
#![cfg(feature = "aws-lc")]

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use cloak_core::limits::STREAM_CHUNK_LEN;
use cloak_core::{
    Backend, FreshnessCheck, KeyPair, Mode, OpenOptions, PublicKey, SealOptions, open, seal,
};
use common::FRESH;

/// A sender and a recipient of each supported size, made once.
fn pairs() -> &'static [(KeyPair, KeyPair)] {
    static PAIRS: OnceLock<Vec<(KeyPair, KeyPair)>> = OnceLock::new();
    PAIRS.get_or_init(|| {
        [2048, 3072, 4096]
            .into_iter()
            .map(|bits| {
                let key = || KeyPair::generate(bits).expect("keygen");
                (key(), key())
            })
            .collect()
    })
}

fn text(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

/// Seals on `sealer`'s backend and opens on `opener`'s.
fn cross(sender: &KeyPair, recipient: &KeyPair, sealer: Backend, opener: Backend, mode: Mode) {
    // Asymmetric: several OAEP blocks. Hybrid: two full chunks and a
    // partial one.
    let len = if mode == Mode::Asymmetric {
        1500
    } else {
        2 * STREAM_CHUNK_LEN + 17
    };
    let plaintext = text(len);
    let (s, r) = (
        sender.with_backend(sealer),
        recipient.public().with_backend(sealer),
    );
    assert_eq!((s.backend(), r.backend()), (sealer, sealer));
    let sealed = seal(&s, &r, mode, FRESH, &plaintext, &SealOptions::default()).unwrap();
    let (r, s) = (
        recipient.with_backend(opener),
        sender.public().with_backend(opener),
    );
    assert_eq!((s.backend(), r.backend()), (opener, opener));
    let what = format!("{} bits, {mode:?}, {sealer} -> {opener}", r.public().bits());
    let opened = open(
        &r,
        &s,
        &sealed.bytes,
        FreshnessCheck::Expect(FRESH),
        &OpenOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(opened.plaintext, plaintext, "{what}");
    assert_eq!(opened.plaintext_digest, sealed.plaintext_digest, "{what}");
    // And the other backend refuses exactly what this one refuses.
    let mut tampered = sealed.bytes.clone();
    let at = tampered.len() - 40;
    tampered[at] ^= 1;
    let refused = open(
        &r,
        &s,
        &tampered,
        FreshnessCheck::Expect(FRESH),
        &OpenOptions::default(),
    );
    assert!(refused.is_err(), "{what}: a flipped byte opened");
}

#[test]
fn each_backend_opens_what_the_other_sealed() {
    for (sender, recipient) in pairs() {
        for mode in [Mode::Asymmetric, Mode::Hybrid] {
            cross(sender, recipient, Backend::RustCrypto, Backend::AwsLc, mode);
            cross(sender, recipient, Backend::AwsLc, Backend::RustCrypto, mode);
        }
    }
}

#[test]
fn both_backends_are_built_and_aws_lc_is_the_default() {
    assert_eq!(Backend::ALL, &[Backend::RustCrypto, Backend::AwsLc]);
    assert_eq!(Backend::default(), Backend::AwsLc);
    let (sender, _) = &pairs()[0];
    assert_eq!(sender.backend(), Backend::AwsLc);
    assert_eq!(sender.public().backend(), Backend::AwsLc);
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(name)
}

/// Parses a private key file's text (no file checks: the fixtures are
/// checked out without their 0600 mode).
fn load_private(name: &str) -> KeyPair {
    let pem = std::fs::read_to_string(fixture(name)).unwrap();
    KeyPair::from_pem(&pem, Path::new(name)).unwrap()
}

#[test]
fn key_files_load_the_same_on_both_backends() {
    for name in [
        "key-variants/client_private_pkcs8.pem",
        "python-keys/client_private.pem",
        "python-keys/server_private.pem",
    ] {
        let key = load_private(name);
        let rust = key.with_backend(Backend::RustCrypto);
        assert_eq!(key.backend(), Backend::AwsLc, "{name}");
        assert_eq!(key.fingerprint(), rust.fingerprint(), "{name}");
        assert_eq!(key.public(), rust.public(), "{name}");
    }
    let public = PublicKey::load(&fixture("key-variants/client_public_spki.pem")).unwrap();
    assert_eq!(public.backend(), Backend::AwsLc);
    assert_eq!(
        public.fingerprint(),
        public.with_backend(Backend::RustCrypto).fingerprint()
    );
}

/// python-rsa's keys (primes of unequal size) on both backends, in both
/// modes and both directions.
#[test]
fn python_rsa_keys_work_across_backends() {
    let client = load_private("python-rsa-keys/client_private.pem");
    let server = load_private("python-rsa-keys/server_private.pem");
    assert!(client.has_unequal_primes() && server.has_unequal_primes());
    for mode in [Mode::Asymmetric, Mode::Hybrid] {
        for (a, b) in [
            (Backend::RustCrypto, Backend::AwsLc),
            (Backend::AwsLc, Backend::RustCrypto),
        ] {
            cross(&client, &server, a, b, mode);
            cross(&server, &client, a, b, mode);
        }
    }
}
