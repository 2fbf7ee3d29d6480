//! Every field the session's proofs bind, changed alone, must make the
//! proof fail: the fetch proof (who may take a mailbox), the ack proof (who
//! may empty it) and the receipt MAC (when a sender may believe the server
//! stored its message).
//!
//! Each check is a single `bool` that the server or client acts on, so a
//! check that wrongly answered `true` for one field would go unnoticed in
//! any honest run. Each test therefore starts with a control (the unchanged
//! inputs verify, so a failure below is the change's doing) and then
//! changes one input at a time. The RSA proofs cost a public-key operation
//! per check, so they change each field once; the receipt MAC is cheap, so
//! it flips every bit of every input.
//!
//! Roles: `s` is the client, `r` the server, `t` anybody else (another
//! client, another server, an attacker with a key of their own).

mod common;

use cloak_core::session::proofs::{
    receipt_mac, sign_ack, sign_fetch, verify_ack, verify_fetch, verify_receipt,
};
use cloak_core::session::{Challenge, FetchRequest};
use cloak_core::{Fingerprint, MessageId, Mode};
use common::keys_2048;

const SERVER_CHALLENGE: Challenge = [0x5c; 32];
const CLIENT_CHALLENGE: Challenge = [0xc5; 32];

/// `bytes` with one bit changed: the smallest change there is.
fn flipped<const N: usize>(bytes: &[u8; N], bit: usize) -> [u8; N] {
    let mut out = *bytes;
    out[bit / 8] ^= 1 << (bit % 8);
    out
}

fn other_fingerprint(fingerprint: Fingerprint) -> Fingerprint {
    Fingerprint(flipped(&fingerprint.0, 0))
}

// --- The fetch proof -------------------------------------------------------

/// The client's fetch, signed for this server and connection.
fn fetch(mode: Mode) -> FetchRequest {
    let k = keys_2048();
    sign_fetch(&k.s, k.r.fingerprint(), &SERVER_CHALLENGE, mode).expect("sign the fetch")
}

/// What the server decides for `request`, given the key it found for the
/// client the request names.
fn fetch_verifies(request: &FetchRequest, key: Option<&cloak_core::PublicKey>) -> bool {
    verify_fetch(request, key, keys_2048().r.fingerprint(), &SERVER_CHALLENGE)
}

#[test]
fn an_unchanged_fetch_proof_verifies_in_both_modes() {
    // The control for every fetch test below.
    let k = keys_2048();
    for mode in [Mode::Asymmetric, Mode::Hybrid] {
        assert!(fetch_verifies(&fetch(mode), Some(k.s.public())), "{mode}");
    }
}

#[test]
fn a_fetch_proof_checked_with_another_key_fails() {
    let k = keys_2048();
    assert!(!fetch_verifies(&fetch(Mode::Hybrid), Some(k.t.public())));
}

#[test]
fn a_fetch_for_an_unknown_client_fails_even_with_a_good_proof() {
    // `None` is what the server passes when the fingerprint named is not
    // authorized: no proof, however good, may then open a mailbox.
    assert!(!fetch_verifies(&fetch(Mode::Hybrid), None));
}

#[test]
fn a_fetch_signed_by_another_key_naming_the_client_fails() {
    // A stranger's own valid proof, with the victim's fingerprint put in:
    // the server looks up the victim's key, which did not sign it.
    let k = keys_2048();
    let mut request = sign_fetch(&k.t, k.r.fingerprint(), &SERVER_CHALLENGE, Mode::Hybrid)
        .expect("sign the fetch");
    assert!(
        fetch_verifies(&request, Some(k.t.public())),
        "control: the stranger's proof is good for the stranger"
    );
    request.client = k.s.fingerprint();
    assert!(!fetch_verifies(&request, Some(k.s.public())));
    assert!(!fetch_verifies(&request, Some(k.t.public())));
}

#[test]
fn a_fetch_proof_for_another_server_fails() {
    // A proof the client gave another server (or a server with another
    // key) cannot be relayed here.
    let k = keys_2048();
    let request = sign_fetch(&k.s, k.t.fingerprint(), &SERVER_CHALLENGE, Mode::Hybrid)
        .expect("sign the fetch");
    assert!(!fetch_verifies(&request, Some(k.s.public())));
    assert!(!verify_fetch(
        &fetch(Mode::Hybrid),
        Some(k.s.public()),
        other_fingerprint(k.r.fingerprint()),
        &SERVER_CHALLENGE,
    ));
}

#[test]
fn a_fetch_proof_over_another_server_challenge_fails() {
    // A recorded fetch replayed on a new connection: its proof is over the
    // old connection's challenge.
    let k = keys_2048();
    for bit in [0, 255] {
        assert!(
            !verify_fetch(
                &fetch(Mode::Hybrid),
                Some(k.s.public()),
                k.r.fingerprint(),
                &flipped(&SERVER_CHALLENGE, bit),
            ),
            "server challenge bit {bit}"
        );
    }
}

#[test]
fn a_fetch_with_another_client_challenge_fails() {
    // The client challenge is what the delivery is sealed over: an
    // attacker who could swap it could have an old delivery accepted.
    let k = keys_2048();
    for bit in [0, 255] {
        let mut request = fetch(Mode::Hybrid);
        request.challenge = flipped(&request.challenge, bit);
        assert!(
            !fetch_verifies(&request, Some(k.s.public())),
            "client challenge bit {bit}"
        );
    }
}

#[test]
fn a_fetch_naming_another_client_fails() {
    // The client's own proof with another fingerprint put in: checked
    // against the other client's key (what the server would look up) and
    // against the signer's (the key must be the one named).
    let k = keys_2048();
    for fingerprint in [k.t.fingerprint(), other_fingerprint(k.s.fingerprint())] {
        let mut request = fetch(Mode::Hybrid);
        request.client = fingerprint;
        assert!(
            !fetch_verifies(&request, Some(k.t.public())),
            "{fingerprint}"
        );
        assert!(
            !fetch_verifies(&request, Some(k.s.public())),
            "{fingerprint}"
        );
    }
}

#[test]
fn a_fetch_with_another_mode_fails() {
    // A downgrade of the delivery's mode by someone on the path.
    let k = keys_2048();
    for (signed, sent) in [
        (Mode::Hybrid, Mode::Asymmetric),
        (Mode::Asymmetric, Mode::Hybrid),
    ] {
        let mut request = fetch(signed);
        request.mode = sent;
        assert!(
            !fetch_verifies(&request, Some(k.s.public())),
            "signed {signed}, sent {sent}"
        );
    }
}

#[test]
fn a_fetch_proof_changed_or_cut_fails() {
    let k = keys_2048();
    let good = fetch(Mode::Hybrid);
    let len = good.proof.len();
    for index in [0, len / 2, len - 1] {
        let mut request = good.clone();
        request.proof[index] ^= 1;
        assert!(
            !fetch_verifies(&request, Some(k.s.public())),
            "proof byte {index}"
        );
    }
    for proof in [Vec::new(), good.proof[1..].to_vec(), vec![0xff; len]] {
        let request = FetchRequest {
            proof,
            ..good.clone()
        };
        assert!(!fetch_verifies(&request, Some(k.s.public())));
    }
}

// --- The ack proof ---------------------------------------------------------

fn id(n: u8) -> MessageId {
    MessageId([n; 16])
}

/// The ids of one delivery, and the client's proof acknowledging them.
fn acked() -> (Vec<MessageId>, Vec<u8>) {
    let k = keys_2048();
    let ids = vec![id(1), id(2), id(3)];
    let proof = sign_ack(
        &k.s,
        k.r.fingerprint(),
        &SERVER_CHALLENGE,
        &CLIENT_CHALLENGE,
        &ids,
    )
    .expect("sign the ack");
    (ids, proof)
}

/// What the server decides for an acknowledgement of `ids` with `proof`
/// from the client on this connection.
fn ack_verifies(ids: &[MessageId], proof: &[u8]) -> bool {
    let k = keys_2048();
    verify_ack(
        k.s.public(),
        k.r.fingerprint(),
        &SERVER_CHALLENGE,
        &CLIENT_CHALLENGE,
        ids,
        proof,
    )
}

#[test]
fn an_unchanged_ack_proof_verifies() {
    // The control for every ack test below, and for no ids at all (a
    // greeting-only delivery is acknowledged too).
    let k = keys_2048();
    let (ids, proof) = acked();
    assert!(ack_verifies(&ids, &proof));
    let empty = sign_ack(
        &k.s,
        k.r.fingerprint(),
        &SERVER_CHALLENGE,
        &CLIENT_CHALLENGE,
        &[],
    )
    .expect("sign the ack");
    assert!(ack_verifies(&[], &empty));
}

#[test]
fn an_ack_proof_checked_with_another_key_fails() {
    let k = keys_2048();
    let (ids, proof) = acked();
    assert!(!verify_ack(
        k.t.public(),
        k.r.fingerprint(),
        &SERVER_CHALLENGE,
        &CLIENT_CHALLENGE,
        &ids,
        &proof,
    ));
}

#[test]
fn an_ack_signed_by_another_key_fails() {
    // Somebody else emptying the client's mailbox with a proof of their own.
    let k = keys_2048();
    let (ids, _) = acked();
    let proof = sign_ack(
        &k.t,
        k.r.fingerprint(),
        &SERVER_CHALLENGE,
        &CLIENT_CHALLENGE,
        &ids,
    )
    .expect("sign the ack");
    assert!(!ack_verifies(&ids, &proof));
}

#[test]
fn an_ack_proof_for_another_server_fails() {
    let k = keys_2048();
    let (ids, proof) = acked();
    for server in [k.t.fingerprint(), other_fingerprint(k.r.fingerprint())] {
        assert!(
            !verify_ack(
                k.s.public(),
                server,
                &SERVER_CHALLENGE,
                &CLIENT_CHALLENGE,
                &ids,
                &proof,
            ),
            "{server}"
        );
    }
}

#[test]
fn an_ack_proof_over_another_server_challenge_fails() {
    // An acknowledgement recorded on one connection, replayed on another.
    let k = keys_2048();
    let (ids, proof) = acked();
    for bit in [0, 255] {
        assert!(
            !verify_ack(
                k.s.public(),
                k.r.fingerprint(),
                &flipped(&SERVER_CHALLENGE, bit),
                &CLIENT_CHALLENGE,
                &ids,
                &proof,
            ),
            "server challenge bit {bit}"
        );
    }
}

#[test]
fn an_ack_proof_over_another_client_challenge_fails() {
    let k = keys_2048();
    let (ids, proof) = acked();
    for bit in [0, 255] {
        assert!(
            !verify_ack(
                k.s.public(),
                k.r.fingerprint(),
                &SERVER_CHALLENGE,
                &flipped(&CLIENT_CHALLENGE, bit),
                &ids,
                &proof,
            ),
            "client challenge bit {bit}"
        );
    }
}

#[test]
fn an_ack_proof_with_the_challenges_swapped_fails() {
    // Each challenge is bound in its own place, not merely both present.
    let k = keys_2048();
    let (ids, proof) = acked();
    assert!(!verify_ack(
        k.s.public(),
        k.r.fingerprint(),
        &CLIENT_CHALLENGE,
        &SERVER_CHALLENGE,
        &ids,
        &proof,
    ));
}

#[test]
fn an_ack_proof_for_other_ids_fails() {
    // The proof covers the exact list: no id may be changed, slipped in,
    // dropped or moved.
    let (ids, proof) = acked();
    let mut changed = ids.clone();
    changed[1] = MessageId(flipped(&changed[1].0, 0));
    let mut added = ids.clone();
    added.push(id(4));
    let mut removed = ids.clone();
    removed.pop();
    let mut reordered = ids.clone();
    reordered.swap(0, 2);
    let mut doubled = ids.clone();
    doubled.push(ids[0]);
    for (what, other) in [
        ("one id changed", changed),
        ("one id added", added),
        ("one id removed", removed),
        ("reordered", reordered),
        ("one id twice", doubled),
        ("no ids", Vec::new()),
    ] {
        assert!(!ack_verifies(&other, &proof), "{what}");
    }
}

#[test]
fn an_ack_proof_changed_or_cut_fails() {
    let (ids, proof) = acked();
    for index in [0, proof.len() / 2, proof.len() - 1] {
        let mut changed = proof.clone();
        changed[index] ^= 1;
        assert!(!ack_verifies(&ids, &changed), "proof byte {index}");
    }
    assert!(!ack_verifies(&ids, &[]));
    assert!(!ack_verifies(&ids, &proof[1..]));
}

#[test]
fn a_fetch_proof_is_no_ack_proof() {
    // The two proofs are signed by the same key on the same connection;
    // their labels keep one from standing for the other.
    let request = fetch(Mode::Hybrid);
    assert!(!ack_verifies(&[], &request.proof));
}

// --- The receipt MAC -------------------------------------------------------

const RECEIPT_KEY: [u8; 32] = [0x4b; 32];
const MESSAGE_ID: MessageId = MessageId([0x1d; 16]);
const DIGEST: [u8; 32] = [0xd1; 32];

/// The inputs of one receipt, as the client knows them.
#[derive(Clone, Copy)]
struct ReceiptInputs {
    key: [u8; 32],
    id: MessageId,
    server: Fingerprint,
    challenge: Challenge,
    digest: [u8; 32],
}

impl ReceiptInputs {
    fn honest() -> Self {
        ReceiptInputs {
            key: RECEIPT_KEY,
            id: MESSAGE_ID,
            server: keys_2048().r.fingerprint(),
            challenge: SERVER_CHALLENGE,
            digest: DIGEST,
        }
    }

    fn mac(&self) -> [u8; 32] {
        receipt_mac(
            &self.key,
            self.id,
            self.server,
            &self.challenge,
            &self.digest,
        )
    }

    fn verifies(&self, mac: &[u8; 32]) -> bool {
        verify_receipt(
            &self.key,
            self.id,
            self.server,
            &self.challenge,
            &self.digest,
            mac,
        )
    }
}

/// Every way of changing one bit of one input, named.
fn one_bit_changes() -> Vec<(String, ReceiptInputs)> {
    let honest = ReceiptInputs::honest();
    let mut changes = Vec::new();
    for bit in 0..256 {
        let mut c = honest;
        c.key = flipped(&honest.key, bit);
        changes.push((format!("receipt key bit {bit}"), c));
        let mut c = honest;
        c.server = Fingerprint(flipped(&honest.server.0, bit));
        changes.push((format!("server fingerprint bit {bit}"), c));
        let mut c = honest;
        c.challenge = flipped(&honest.challenge, bit);
        changes.push((format!("challenge bit {bit}"), c));
        let mut c = honest;
        c.digest = flipped(&honest.digest, bit);
        changes.push((format!("digest bit {bit}"), c));
    }
    for bit in 0..128 {
        let mut c = honest;
        c.id = MessageId(flipped(&honest.id.0, bit));
        changes.push((format!("message id bit {bit}"), c));
    }
    changes
}

#[test]
fn an_unchanged_receipt_verifies() {
    let honest = ReceiptInputs::honest();
    assert!(honest.verifies(&honest.mac()));
}

#[test]
fn a_receipt_for_any_other_input_fails() {
    // Checked both ways round: the client's check refuses the honest MAC
    // once it expects anything else, and a MAC the server computed over
    // anything else (another message, another connection, another server,
    // another text) does not pass for the honest one.
    let honest = ReceiptInputs::honest();
    let honest_mac = honest.mac();
    for (what, changed) in one_bit_changes() {
        assert!(!changed.verifies(&honest_mac), "expected with {what}");
        assert!(!honest.verifies(&changed.mac()), "computed with {what}");
    }
}

#[test]
fn a_receipt_mac_with_any_bit_changed_fails() {
    let honest = ReceiptInputs::honest();
    let mac = honest.mac();
    for bit in 0..256 {
        assert!(!honest.verifies(&flipped(&mac, bit)), "MAC bit {bit}");
    }
    assert!(!honest.verifies(&[0; 32]));
}

#[test]
fn a_receipt_for_another_server_key_fails() {
    // Not just any fingerprint: a real other server's.
    let mut other = ReceiptInputs::honest();
    other.server = keys_2048().t.fingerprint();
    assert!(!ReceiptInputs::honest().verifies(&other.mac()));
}

#[test]
fn a_sent_payload_splits_into_its_receipt_key_and_its_text() {
    use cloak_core::session::proofs::{RECEIPT_KEY_LEN, split_payload};
    let payload: Vec<u8> = (0..40u8).collect();
    let (key, text) = split_payload(&payload).unwrap();
    assert_eq!(&key[..], &payload[..RECEIPT_KEY_LEN]);
    assert_eq!(text, &payload[RECEIPT_KEY_LEN..]);
    let (_, empty) = split_payload(&payload[..RECEIPT_KEY_LEN]).unwrap();
    assert!(empty.is_empty());
    assert!(split_payload(&payload[..RECEIPT_KEY_LEN - 1]).is_none());
}

#[test]
fn receipt_keys_and_challenges_are_fresh_each_time() {
    use cloak_core::session::proofs::{new_challenge, new_receipt_key};
    let keys: Vec<_> = (0..4).map(|_| *new_receipt_key()).collect();
    let challenges: Vec<_> = (0..4).map(|_| new_challenge()).collect();
    for i in 0..4 {
        for j in i + 1..4 {
            assert_ne!(keys[i], keys[j]);
            assert_ne!(challenges[i], challenges[j]);
        }
    }
    assert!(keys.iter().all(|k| k.iter().any(|&b| b > 1)));
}
