//! The sender proof verifies only for its signer, for the context it was
//! made for, under the key it was sealed with, and byte for byte as sent.

use super::*;
use crate::envelope::OpenOptions;
use crate::limits::CHALLENGE_LEN;
use crate::test_keys::keys;

const CHALLENGE: Challenge = [0x5c; CHALLENGE_LEN];

/// S proves a stream to R; returns the proof, its context and R's opener.
fn stream_proof() -> (Vec<u8>, ProofContext, StreamOpener) {
    let k = keys();
    let (mut sealer, head) =
        StreamSealer::new(&k.s, k.r.public(), &CHALLENGE, &Default::default()).unwrap();
    let context = ProofContext::stream(k.r.fingerprint(), &CHALLENGE, &head);
    let proof = seal(&ProofKey::of_sealer(&mut sealer).unwrap(), &k.s, &context).unwrap();
    let opener = StreamOpener::new(&k.r, &head, &OpenOptions::default()).unwrap();
    (proof, context, opener)
}

fn verifies(key: &ProofKey, proof: &[u8], context: &ProofContext, signer: &PublicKey) -> bool {
    open(key, proof, context, 256).verify(Some(signer))
}

#[test]
fn a_stream_proof_verifies_for_its_signer_and_names_it() {
    let k = keys();
    let (proof, context, opener) = stream_proof();
    let claim = open(&ProofKey::of_opener(&opener), &proof, &context, 256);
    assert!(claim.opened());
    assert_eq!(claim.sender(), k.s.fingerprint());
    assert!(claim.verify(Some(k.s.public())));
    // Another key, even one the claim could be checked with, or none.
    assert!(!claim.verify(Some(k.t.public())));
    assert!(!claim.verify(None));
}

#[test]
fn an_envelope_proof_verifies_only_with_its_wrapped_key() {
    let k = keys();
    let (key, wrapped) = ProofKey::wrap_fresh(k.r.public()).unwrap();
    let context = ProofContext::envelope(k.r.fingerprint(), &CHALLENGE, &wrapped, b"envelope");
    let proof = seal(&key, &k.s, &context).unwrap();
    let unwrapped = ProofKey::unwrap(&k.r, &wrapped);
    assert!(verifies(&unwrapped, &proof, &context, k.s.public()));
    // Not for another recipient's key, nor from a changed wrapping.
    assert!(!verifies(
        &ProofKey::unwrap(&k.t, &wrapped),
        &proof,
        &context,
        k.s.public()
    ));
    let mut bent = wrapped.clone();
    bent[9] ^= 1;
    assert!(!verifies(
        &ProofKey::unwrap(&k.r, &bent),
        &proof,
        &context,
        k.s.public()
    ));
    assert!(!verifies(
        &ProofKey::unwrap(&k.r, &wrapped[1..]),
        &proof,
        &context,
        k.s.public()
    ));
}

#[test]
fn every_bound_field_changed_fails() {
    let k = keys();
    let (proof, context, opener) = stream_proof();
    let key = ProofKey::of_opener(&opener);
    assert!(verifies(&key, &proof, &context, k.s.public()));
    let changes: [(&str, ProofContext); 4] = [
        (
            "mode",
            ProofContext {
                mode: Mode::Asymmetric,
                ..context.clone()
            },
        ),
        (
            "server",
            ProofContext {
                server: k.t.fingerprint(),
                ..context.clone()
            },
        ),
        (
            "challenge",
            ProofContext {
                challenge: [0x5d; CHALLENGE_LEN],
                ..context.clone()
            },
        ),
        (
            "subject",
            ProofContext {
                subject: [0; HASH_LEN],
                ..context.clone()
            },
        ),
    ];
    for (field, changed) in changes {
        assert!(!verifies(&key, &proof, &changed, k.s.public()), "{field}");
    }
}

/// The signature alone is bound to each field too: a proof resealed by
/// someone who knows the proof key (the sender itself) for another
/// context still fails.
#[test]
fn a_signature_moved_to_another_context_fails() {
    let k = keys();
    let (proof, context, opener) = stream_proof();
    let key = ProofKey::of_opener(&opener);
    let claim = open(&key, &proof, &context, 256);
    let other = ProofContext {
        challenge: [0x5d; CHALLENGE_LEN],
        ..context.clone()
    };
    let inner = codec::encode(&ProofInner {
        sender: claim.sender(),
        signature: claim.signature.clone(),
    });
    let resealed = backend::aead(key.1, &key.0)
        .seal(&PROOF_NONCE, &other.subject, &inner)
        .unwrap();
    assert!(open(&key, &resealed, &other, 256).opened());
    assert!(!verifies(&key, &resealed, &other, k.s.public()));
}

/// A proof naming T but signed by S is neither S's nor T's.
#[test]
fn a_proof_naming_someone_else_fails_for_both() {
    let k = keys();
    let (_, context, opener) = stream_proof();
    let key = ProofKey::of_opener(&opener);
    let signature = primitives::pss_sign(&k.s, &context.signed_bytes(k.t.fingerprint())).unwrap();
    let inner = codec::encode(&ProofInner {
        sender: k.t.fingerprint(),
        signature,
    });
    let forged = backend::aead(key.1, &key.0)
        .seal(&PROOF_NONCE, &context.subject, &inner)
        .unwrap();
    assert_eq!(
        open(&key, &forged, &context, 256).sender(),
        k.t.fingerprint()
    );
    assert!(!verifies(&key, &forged, &context, k.s.public()));
    assert!(!verifies(&key, &forged, &context, k.t.public()));
}

#[test]
fn every_flipped_byte_and_every_truncation_fails() {
    let k = keys();
    let (proof, context, opener) = stream_proof();
    let key = ProofKey::of_opener(&opener);
    for i in 0..proof.len() {
        let mut bent = proof.clone();
        bent[i] ^= 0x80;
        let claim = open(&key, &bent, &context, 256);
        assert!(
            !claim.opened() && !claim.verify(Some(k.s.public())),
            "byte {i}"
        );
    }
    for len in [0, 1, proof.len() - 1] {
        assert!(
            !verifies(&key, &proof[..len], &context, k.s.public()),
            "{len} bytes"
        );
    }
    let mut longer = proof.clone();
    longer.push(0);
    assert!(!verifies(&key, &longer, &context, k.s.public()));
    assert!(!verifies(
        &key,
        &vec![0; MAX_SEALED_PROOF_LEN + 1],
        &context,
        k.s.public()
    ));
}

#[test]
fn the_proof_key_is_not_the_stream_key() {
    // A stream's chunks and its proof never share a key: the proof key is
    // derived, and the first chunk does not open under it.
    let k = keys();
    let (mut sealer, head) =
        StreamSealer::new(&k.s, k.r.public(), &CHALLENGE, &Default::default()).unwrap();
    let proof_key = ProofKey::of_sealer(&mut sealer).unwrap();
    // Once only: a second proof would reuse the key and the nonce.
    assert!(matches!(
        ProofKey::of_sealer(&mut sealer),
        Err(SealError::AlreadyProven)
    ));
    let chunk = sealer
        .push(&[7; crate::limits::STREAM_CHUNK_LEN])
        .unwrap()
        .remove(0);
    let aad = backend::sha256(&head);
    assert!(
        backend::aead(proof_key.1, &proof_key.0)
            .open(&[0; AEAD_NONCE_LEN], &aad, &chunk)
            .is_none()
    );
}

/// A proof that does not open still costs a signature check, of the
/// server's own key size: the claim carries a dummy signature that long.
#[test]
fn an_unopened_proof_costs_a_check_of_the_servers_key_size() {
    let k = keys();
    let claim = claim_envelope(&k.r, &CHALLENGE, &[0; 256], &[1; 300], b"envelope");
    assert!(!claim.opened());
    assert_eq!(claim.signature.len(), 256);
    assert!(!claim.verify(Some(k.s.public())));
}

/// PROTOCOL.md §4.2.1's worked example of the signed bytes.
#[test]
fn the_signed_bytes_match_the_documented_example() {
    let context = ProofContext {
        mode: Mode::Hybrid,
        server: Fingerprint([0xaa; HASH_LEN]),
        challenge: [0xbb; CHALLENGE_LEN],
        subject: [0xee; HASH_LEN],
    };
    let signed = context.signed_bytes(Fingerprint([0xdd; HASH_LEN]));
    let expected = [
        &[0x19][..],
        b"CloakRoom sender proof v2",
        &[0x01],
        &[0xaa; 32],
        &[0xbb; 32],
        &[0xdd; 32],
        &[0xee; 32],
    ]
    .concat();
    assert_eq!(signed, expected);
    assert_eq!(signed.len(), 155);
}
