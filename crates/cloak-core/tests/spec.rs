//! An independent reading of docs/PROTOCOL.md §3: envelopes sealed by the
//! library are opened and their signatures checked here with the `rsa`,
//! `aes-gcm`, `sha2` and `blake3` crates directly, following the document
//! rather than the library's code. A change that kept the library's own
//! seal and open in step (another nonce, associated data, OAEP label, block
//! order, or signed field) passes every round trip and fails here.

mod common;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use cloak_core::codec;
use cloak_core::{KeyPair, Mode, SealOptions};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use sha2::{Digest, Sha256};

/// Claims: sender, message id, timestamp, freshness, signature.
type Claims = ([u8; 32], [u8; 16], u64, Vec<u8>, Vec<u8>);
/// An asymmetric envelope: version, mode, recipient, body variant, blocks.
type Asymmetric = (u16, u32, [u8; 32], u32, Vec<Vec<u8>>);
/// A hybrid envelope: version, mode, recipient, body variant, wrapped key,
/// chunks.
type Hybrid = (u16, u32, [u8; 32], u32, Vec<u8>, Vec<Vec<u8>>);

const LIMIT: usize = cloak_core::limits::MAX_ENVELOPE_LEN;
const FRESHNESS: &[u8] = b"a challenge from the recipient";

/// The recipient, in the library's form and in the rsa crate's.
fn recipient() -> (KeyPair, rsa::PrivateKey) {
    let pem = include_str!("../../../tests/fixtures/key-variants/client_private_pkcs8.pem");
    let ours = KeyPair::from_pem(pem, std::path::Path::new("fixture")).unwrap();
    (ours, rsa::PrivateKey::from_pkcs8_pem(pem).unwrap())
}

fn sender() -> &'static KeyPair {
    &common::keys_2048().s
}

fn oaep_open(key: &rsa::PrivateKey, label: Vec<u8>, block: &[u8]) -> Vec<u8> {
    let padding = rsa::Oaep::<Sha256>::new_with_label(label);
    key.decrypt_blinded(&mut rand::rng(), padding, block)
        .expect("OAEP block under its label")
}

/// §3.4: `nonce(i, last)` = 3 zero bytes ‖ u64be(i) ‖ u8(last).
fn nonce(i: u64, last: bool) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[3..11].copy_from_slice(&i.to_be_bytes());
    nonce[11] = u8::from(last);
    nonce
}

/// §3.2: the signed content, rebuilt from the document, checked with the
/// sender's public key.
fn assert_signed(mode: u32, claims: &Claims, recipient: [u8; 32], wrapped_key: &[u8], text: &[u8]) {
    let (sender_fp, message_id, timestamp, freshness, signature) = claims;
    assert_eq!(*sender_fp, sender().fingerprint().0);
    assert_eq!(freshness, FRESHNESS);
    let digest: [u8; 32] =
        *blake3::Hasher::new_derive_key("CloakRoom 2026-11-28 plaintext digest v1")
            .update(text)
            .finalize()
            .as_bytes();
    let signed = codec::encode(&(
        b"CloakRoom envelope signature v1".to_vec(),
        1u16,
        mode,
        *sender_fp,
        recipient,
        freshness.clone(),
        *message_id,
        *timestamp,
        wrapped_key.to_vec(),
        digest,
    ));
    let public = rsa::PublicKey::from_public_key_pem(&sender().public().to_pem().unwrap()).unwrap();
    assert!(
        public.pss_verify::<Sha256>(&signed, signature).is_ok(),
        "the signature is not over §3.2's content"
    );
}

fn seal(mode: Mode, text: &[u8], to: &KeyPair) -> Vec<u8> {
    cloak_core::seal(
        sender(),
        to.public(),
        mode,
        FRESHNESS,
        text,
        &SealOptions::default(),
    )
    .unwrap()
    .bytes
}

#[test]
fn asymmetric_blocks_open_as_the_document_says() {
    let (ours, theirs) = recipient();
    // Three blocks or more at 2048 bits (190 bytes each).
    let text: Vec<u8> = (0..500u32).map(|i| (i * 7) as u8).collect();
    let (version, mode, recipient, body, blocks): Asymmetric =
        codec::decode::<_, LIMIT>(&seal(Mode::Asymmetric, &text, &ours)).unwrap();
    assert_eq!((version, mode, body), (1, 0, 0));
    assert_eq!(recipient, ours.fingerprint().0);
    let n = blocks.len();
    assert!(n >= 3, "{n} blocks");
    let mut inner = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        assert_eq!(block.len(), 256);
        let mut label = b"CloakRoom asymmetric block v1".to_vec();
        label.extend_from_slice(&(i as u32).to_be_bytes());
        label.extend_from_slice(&(n as u32).to_be_bytes());
        let piece = oaep_open(&theirs, label, block);
        // Every block but the last is full (k − 66 bytes).
        if i + 1 < n {
            assert_eq!(piece.len(), 256 - 66, "block {i}");
        }
        inner.extend(piece);
    }
    let (claims, plaintext): (Claims, Vec<u8>) = codec::decode::<_, LIMIT>(&inner).unwrap();
    assert_eq!(plaintext, text);
    assert_signed(0, &claims, recipient, &[], &text);
}

#[test]
fn a_hybrid_stream_opens_as_the_document_says() {
    let (ours, theirs) = recipient();
    // Two full chunks and a short one.
    let text: Vec<u8> = (0..(2 * 256 * 1024 + 1000) as u32)
        .map(|i| (i % 251) as u8)
        .collect();
    let (version, mode, recipient, body, wrapped_key, chunks): Hybrid =
        codec::decode::<_, LIMIT>(&seal(Mode::Hybrid, &text, &ours)).unwrap();
    assert_eq!((version, mode, body), (1, 1, 1));
    assert_eq!(chunks.len(), 4, "three data chunks and the final one");
    let key = oaep_open(
        &theirs,
        b"CloakRoom hybrid key wrap v1".to_vec(),
        &wrapped_key,
    );
    assert_eq!(key.len(), 32);
    // aad = SHA-256(encode(StreamHead { header, wrapped_key })).
    let head = codec::encode(&((version, mode, recipient), wrapped_key.clone()));
    let aad = Sha256::digest(&head);
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::try_from(&key[..]).unwrap());
    let open = |i: usize, last: bool, sealed: &[u8]| {
        cipher
            .decrypt(
                &Nonce::from(nonce(i as u64, last)),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .unwrap_or_else(|_| panic!("chunk {i} (last: {last}) does not open as §3.4 says"))
    };
    let (data, last) = chunks.split_at(chunks.len() - 1);
    let mut plaintext = Vec::new();
    for (i, chunk) in data.iter().enumerate() {
        let piece = open(i, false, chunk);
        assert!(
            piece.len() == 256 * 1024 || i + 1 == data.len(),
            "chunk {i}"
        );
        plaintext.extend(piece);
    }
    assert_eq!(plaintext, text);
    let (claims, plaintext_len): (Claims, u64) =
        codec::decode::<_, LIMIT>(&open(data.len(), true, &last[0])).unwrap();
    assert_eq!(plaintext_len, text.len() as u64);
    assert_signed(1, &claims, recipient, &wrapped_key, &text);
}

/// PROTOCOL.md §4.2's worked example of the receipt MAC, computed
/// independently (Python's hmac) and pinned here.
#[test]
fn the_receipt_mac_matches_the_documented_example() {
    use cloak_core::session::proofs::receipt_mac;
    let mac = receipt_mac(
        &[0x11; 32],
        cloak_core::MessageId(std::array::from_fn(|i| i as u8)),
        "SHA256:qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqo"
            .parse()
            .unwrap(),
        &[0xbb; 32],
        &[0xcc; 32],
    );
    assert_eq!(
        hex(&mac),
        "923d83056fe813b9db88528a34538016cb70d9a88c729297a7b03658bdb0ba37"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
