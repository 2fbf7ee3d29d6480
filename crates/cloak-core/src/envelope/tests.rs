//! Unit tests that need the envelope's internals: re-sealing someone else's
//! signed content (surreptitious forwarding) and rewriting header fields.

use super::*;
use crate::test_keys::keys;

const FRESH: &[u8] = b"challenge-0123456789abcdef";

/// R decrypts S's envelope and, keeping S's claims (signature included)
/// and plaintext intact, re-encrypts them to T. T must not accept it as S
/// writing to T.
fn forward(mode: Mode) -> Result<Opened, OpenError> {
    let k = keys();
    let sealed = seal(
        &k.s,
        k.r.public(),
        mode,
        FRESH,
        b"for R only",
        &SealOptions::default(),
    )
    .unwrap();
    let decrypted = decrypt(&k.r, &sealed.bytes, &OpenOptions::default()).unwrap();
    let (claims, plaintext) = (decrypted.claims.clone(), decrypted.plaintext.to_vec());
    let body = match mode {
        Mode::Asymmetric => {
            let inner = Inner { claims, plaintext };
            asymmetric::encrypt(k.t.public(), &codec::encode(&inner)).unwrap()
        }
        Mode::Hybrid => stream::forge_body(k.t.public(), &plaintext, claims),
    };
    let header = Header {
        version: ENVELOPE_VERSION,
        mode,
        recipient: k.t.fingerprint(),
    };
    let forwarded = Envelope { header, body }.to_bytes();
    // Control: the forged envelope does decrypt for T; only the signature
    // binding to R stops it.
    assert!(decrypt(&k.t, &forwarded, &OpenOptions::default()).is_ok());
    open(
        &k.t,
        k.s.public(),
        &forwarded,
        FreshnessCheck::Expect(FRESH),
        &OpenOptions::default(),
    )
}

#[test]
fn surreptitious_forwarding_is_rejected() {
    for mode in [Mode::Asymmetric, Mode::Hybrid] {
        assert_eq!(forward(mode), Err(OpenError::Rejected), "{mode}");
    }
}

#[test]
fn rewritten_mode_in_header_is_rejected() {
    let k = keys();
    for mode in [Mode::Asymmetric, Mode::Hybrid] {
        let sealed = seal(
            &k.s,
            k.r.public(),
            mode,
            FRESH,
            b"hi",
            &SealOptions::default(),
        )
        .unwrap();
        let mut env = Envelope::from_bytes(&sealed.bytes).unwrap();
        env.header.mode = match mode {
            Mode::Asymmetric => Mode::Hybrid,
            Mode::Hybrid => Mode::Asymmetric,
        };
        let result = open(
            &k.r,
            k.s.public(),
            &env.to_bytes(),
            FreshnessCheck::Expect(FRESH),
            &OpenOptions::default(),
        );
        assert_eq!(result, Err(OpenError::Rejected));
    }
}

#[test]
fn swapped_asymmetric_blocks_are_rejected() {
    let k = keys();
    let text = vec![b'x'; 600];
    let sealed = seal(
        &k.s,
        k.r.public(),
        Mode::Asymmetric,
        FRESH,
        &text,
        &SealOptions::default(),
    )
    .unwrap();
    let env = Envelope::from_bytes(&sealed.bytes).unwrap();
    let Body::Asymmetric { blocks } = &env.body else {
        panic!("asymmetric body expected")
    };
    assert!(blocks.len() >= 3);
    let with_blocks = |blocks: Vec<Vec<u8>>| Envelope {
        header: env.header.clone(),
        body: Body::Asymmetric { blocks },
    };
    let mut swapped = blocks.clone();
    swapped.swap(0, 1);
    let mut dropped = blocks.clone();
    dropped.pop();
    for forged in [swapped, dropped] {
        let bytes = with_blocks(forged).to_bytes();
        assert!(decrypt(&k.r, &bytes, &OpenOptions::default()).is_err());
    }
    // Control: the untouched blocks still open.
    assert!(
        decrypt(
            &k.r,
            &with_blocks(blocks.clone()).to_bytes(),
            &OpenOptions::default()
        )
        .is_ok()
    );
}

#[test]
fn header_version_other_than_ours_is_rejected() {
    let k = keys();
    let sealed = seal(
        &k.s,
        k.r.public(),
        Mode::Hybrid,
        FRESH,
        b"hi",
        &SealOptions::default(),
    )
    .unwrap();
    let mut env = Envelope::from_bytes(&sealed.bytes).unwrap();
    env.header.version += 1;
    assert!(decrypt(&k.r, &env.to_bytes(), &OpenOptions::default()).is_err());
}

#[test]
fn block_counts_are_bounded_before_decryption() {
    // 64 KiB at 2048 bits needs at most 351 blocks of 256 bytes.
    let max = asymmetric::max_blocks(256, 64 * 1024);
    assert_eq!(max, (64 * 1024 + 1024usize).div_ceil(190));
    let ok = vec![vec![0u8; 256]; max];
    assert!(asymmetric::shape_acceptable(256, &ok, 64 * 1024));
    let too_many = vec![vec![0u8; 256]; max + 1];
    assert!(!asymmetric::shape_acceptable(256, &too_many, 64 * 1024));
    assert!(!asymmetric::shape_acceptable(256, &[], 64 * 1024));
    assert!(!asymmetric::shape_acceptable(
        256,
        &[vec![0u8; 255]],
        64 * 1024
    ));
}

#[test]
fn a_non_minimal_encoding_of_a_sealed_envelope_is_rejected() {
    // The version (1) written as marker 251 + u16: the same values, other
    // bytes. Signatures and AAD are computed over re-encoded values, so only
    // canonical decoding catches this change.
    let k = keys();
    for mode in [Mode::Asymmetric, Mode::Hybrid] {
        let sealed = seal(
            &k.s,
            k.r.public(),
            mode,
            FRESH,
            b"exact bytes",
            &SealOptions::default(),
        )
        .unwrap();
        assert_eq!(sealed.bytes[0], 1, "version 1 as a one-byte varint");
        let mut stretched = vec![251, 0, 1];
        stretched.extend_from_slice(&sealed.bytes[1..]);
        let bytes_ok = open(
            &k.r,
            k.s.public(),
            &sealed.bytes,
            FreshnessCheck::Expect(FRESH),
            &OpenOptions::default(),
        );
        assert!(bytes_ok.is_ok(), "control");
        let result = open(
            &k.r,
            k.s.public(),
            &stretched,
            FreshnessCheck::Expect(FRESH),
            &OpenOptions::default(),
        );
        assert_eq!(result, Err(OpenError::Rejected), "{mode}");
    }
}

#[test]
fn peek_mode_reads_the_header_only() {
    let k = keys();
    for mode in [Mode::Asymmetric, Mode::Hybrid] {
        let sealed = seal(
            &k.s,
            k.r.public(),
            mode,
            FRESH,
            b"peek",
            &SealOptions::default(),
        )
        .unwrap();
        assert_eq!(peek_mode(&sealed.bytes), Some(mode));
        // A body cut short does not stop the header from being read.
        assert_eq!(peek_mode(&sealed.bytes[..40]), Some(mode));
    }
    assert_eq!(peek_mode(&[]), None);
}

#[test]
fn many_empty_chunks_reserve_nothing_for_the_plaintext() {
    // 690,000 empty chunks in a 700 KB envelope once made the recipient
    // reserve 690,000 whole chunks of plaintext (180 GB) and abort.
    let k = keys();
    let envelope = Envelope {
        header: Header {
            version: ENVELOPE_VERSION,
            mode: Mode::Hybrid,
            recipient: k.r.fingerprint(),
        },
        body: Body::Hybrid {
            wrapped_key: vec![7; 256],
            chunks: vec![Vec::new(); 690_000],
        },
    };
    let bytes = envelope.to_bytes();
    assert!(bytes.len() < 700_000);
    assert_eq!(
        decrypt(&k.r, &bytes, &OpenOptions::default()).unwrap_err(),
        OpenError::Rejected
    );
}

#[test]
fn asymmetric_opening_paces_between_blocks_and_stops_when_told() {
    let k = keys();
    let text = vec![7u8; 600];
    let sealed = seal(
        &k.s,
        k.r.public(),
        Mode::Asymmetric,
        FRESH,
        &text,
        &SealOptions::default(),
    )
    .unwrap();
    let Envelope {
        body: Body::Asymmetric { blocks },
        ..
    } = Envelope::from_bytes(&sealed.bytes).unwrap()
    else {
        panic!("not asymmetric");
    };
    let options = OpenOptions::default();
    let mut calls = 0;
    let opened = decrypt_paced(&k.r, &sealed.bytes, &options, &mut || {
        calls += 1;
        true
    });
    assert!(opened.is_ok());
    // Once before every private-key operation but the first.
    assert_eq!(calls, blocks.len() - 1);
    let mut calls = 0;
    let stopped = decrypt_paced(&k.r, &sealed.bytes, &options, &mut || {
        calls += 1;
        false
    });
    assert_eq!((stopped.is_err(), calls), (true, 1));
}

#[test]
fn freshness_up_to_its_limit_seals_and_longer_does_not() {
    let k = keys();
    for mode in [Mode::Asymmetric, Mode::Hybrid] {
        let fits = vec![1u8; MAX_FRESHNESS_LEN];
        let sealed = seal(
            &k.s,
            k.r.public(),
            mode,
            &fits,
            b"x",
            &SealOptions::default(),
        );
        assert!(sealed.is_ok(), "{mode}");
        let long = vec![1u8; MAX_FRESHNESS_LEN + 1];
        let refused = seal(
            &k.s,
            k.r.public(),
            mode,
            &long,
            b"x",
            &SealOptions::default(),
        );
        assert!(
            matches!(refused, Err(SealError::FreshnessTooLong { .. })),
            "{mode}"
        );
    }
}

#[test]
fn an_envelope_carries_the_time_it_was_sealed() {
    let k = keys();
    let sealed = seal(
        &k.s,
        k.r.public(),
        Mode::Hybrid,
        FRESH,
        b"when",
        &SealOptions::default(),
    )
    .unwrap();
    let opened = open(
        &k.r,
        k.s.public(),
        &sealed.bytes,
        FreshnessCheck::Expect(FRESH),
        &OpenOptions::default(),
    )
    .unwrap();
    // The clock read here, not through the function under test.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        opened.timestamp <= now && opened.timestamp + 60 >= now,
        "{} vs {now}",
        opened.timestamp
    );
}
