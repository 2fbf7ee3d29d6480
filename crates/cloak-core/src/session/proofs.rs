//! The session's own cryptography, on top of envelopes: the payload of a
//! sent message (which carries a receipt key), the receipt MAC, and the
//! proof by which a client shows it holds its key when fetching messages.

use zeroize::Zeroizing;

use super::messages::{Challenge, FetchRequest};
use crate::backend;
use crate::codec;
use crate::envelope::{MessageId, Mode};
use crate::fingerprint::Fingerprint;
use crate::keys::{KeyPair, PublicKey};
use crate::limits::{ACK_PROOF_LABEL, FETCH_PROOF_LABEL, HASH_LEN, RECEIPT_LABEL};
use crate::primitives;

/// Length of the one-time receipt key at the start of every sent
/// message's plaintext.
pub const RECEIPT_KEY_LEN: usize = HASH_LEN;

/// A fresh one-time receipt key. The client puts it in front of the
/// message text inside the envelope; only the holder of the server's private
/// key can read it, so only the real server can produce a valid receipt.
/// (A prefix rather than an encoded structure, so a stream of unknown
/// length can carry it.)
pub fn new_receipt_key() -> Zeroizing<[u8; RECEIPT_KEY_LEN]> {
    let mut key = Zeroizing::new([0u8; RECEIPT_KEY_LEN]);
    backend::fill_random(key.as_mut());
    key
}

/// Splits a sent message's plaintext into its receipt key and its text.
pub fn split_payload(plaintext: &[u8]) -> Option<(&[u8; RECEIPT_KEY_LEN], &[u8])> {
    plaintext.split_first_chunk::<RECEIPT_KEY_LEN>()
}

/// The bytes a receipt MAC covers.
fn receipt_bytes(
    message_id: MessageId,
    server: Fingerprint,
    challenge: &Challenge,
    plaintext_digest: &[u8; HASH_LEN],
) -> Vec<u8> {
    codec::encode(&(
        RECEIPT_LABEL,
        message_id,
        server,
        challenge,
        plaintext_digest,
    ))
}

/// The receipt MAC for an accepted message: binds the message id, the
/// server, the session challenge and the digest of the exact plaintext the
/// server verified (both sides computed it anyway, for the signature).
pub fn receipt_mac(
    receipt_key: &[u8; HASH_LEN],
    message_id: MessageId,
    server: Fingerprint,
    challenge: &Challenge,
    plaintext_digest: &[u8; HASH_LEN],
) -> [u8; HASH_LEN] {
    let bytes = receipt_bytes(message_id, server, challenge, plaintext_digest);
    backend::hmac_sha256(receipt_key, &[&bytes])
}

/// Checks a receipt MAC in constant time.
pub fn verify_receipt(
    receipt_key: &[u8; HASH_LEN],
    message_id: MessageId,
    server: Fingerprint,
    challenge: &Challenge,
    plaintext_digest: &[u8; HASH_LEN],
    mac: &[u8; HASH_LEN],
) -> bool {
    let bytes = receipt_bytes(message_id, server, challenge, plaintext_digest);
    backend::hmac_sha256_verify(receipt_key, &bytes, mac)
}

/// The bytes a fetch proof signs: the label, the server's fingerprint and
/// challenge (so the proof is good for this server and this connection
/// only), and every field of the request.
fn fetch_proof_bytes(
    server: Fingerprint,
    server_challenge: &Challenge,
    client: Fingerprint,
    client_challenge: &Challenge,
    mode: Mode,
) -> Vec<u8> {
    codec::encode(&(
        FETCH_PROOF_LABEL,
        server,
        server_challenge,
        client,
        client_challenge,
        mode,
    ))
}

/// Builds a signed fetch request with a fresh client challenge.
pub fn sign_fetch(
    client: &KeyPair,
    server: Fingerprint,
    server_challenge: &Challenge,
    mode: Mode,
) -> Result<FetchRequest, crate::SealError> {
    let mut challenge = [0u8; crate::limits::CHALLENGE_LEN];
    backend::fill_random(&mut challenge);
    let bytes = fetch_proof_bytes(
        server,
        server_challenge,
        client.fingerprint(),
        &challenge,
        mode,
    );
    let proof = primitives::pss_sign(client, &bytes).map_err(crate::SealError::from)?;
    Ok(FetchRequest {
        client: client.fingerprint(),
        challenge,
        mode,
        proof,
    })
}

/// Whether `request` was signed by `client_key` for this server and
/// connection. With no key (the client named is unknown) it is `false`,
/// after the same work (see `standin`).
pub fn verify_fetch(
    request: &FetchRequest,
    client_key: Option<&PublicKey>,
    server: Fingerprint,
    server_challenge: &Challenge,
) -> bool {
    let bytes = fetch_proof_bytes(
        server,
        server_challenge,
        request.client,
        &request.challenge,
        request.mode,
    );
    let named = client_key.is_some_and(|key| key.fingerprint() == request.client);
    crate::standin::pss_verify(client_key, &bytes, &request.proof) & named
}

/// The bytes an acknowledgement signs: the label, this server and both
/// challenges of this connection (so it cannot be replayed elsewhere), and
/// the ids.
fn ack_proof_bytes(
    server: Fingerprint,
    server_challenge: &Challenge,
    client: Fingerprint,
    client_challenge: &Challenge,
    ids: &[MessageId],
) -> Vec<u8> {
    codec::encode(&(
        ACK_PROOF_LABEL,
        server,
        server_challenge,
        client,
        client_challenge,
        ids,
    ))
}

/// Signs an acknowledgement of `ids` for this connection.
pub fn sign_ack(
    client: &KeyPair,
    server: Fingerprint,
    server_challenge: &Challenge,
    client_challenge: &Challenge,
    ids: &[MessageId],
) -> Result<Vec<u8>, crate::SealError> {
    let bytes = ack_proof_bytes(
        server,
        server_challenge,
        client.fingerprint(),
        client_challenge,
        ids,
    );
    primitives::pss_sign(client, &bytes).map_err(crate::SealError::from)
}

/// Whether `proof` acknowledges `ids` by `client_key` on this connection.
pub fn verify_ack(
    client_key: &PublicKey,
    server: Fingerprint,
    server_challenge: &Challenge,
    client_challenge: &Challenge,
    ids: &[MessageId],
    proof: &[u8],
) -> bool {
    let bytes = ack_proof_bytes(
        server,
        server_challenge,
        client_key.fingerprint(),
        client_challenge,
        ids,
    );
    primitives::pss_verify(client_key, &bytes, proof)
}

/// A fresh random challenge.
pub fn new_challenge() -> Challenge {
    let mut challenge = [0u8; crate::limits::CHALLENGE_LEN];
    backend::fill_random(&mut challenge);
    challenge
}

#[cfg(test)]
mod tests {
    //! What the public API cannot forge, so `tests/proofs.rs` cannot reach
    //! it: a proof over bytes that name a client other than the key it is
    //! checked with. Only the signing functions here could make one, and
    //! they always name their signer; but the checks must not rely on that.
    //! Each way round fails for its own reason: a proof naming someone
    //! else fails `verify_fetch`'s check that the key is the one named; a
    //! proof passed off for its signer fails because the client is in the
    //! signed bytes. (Every other bound field is tested in `tests/proofs.rs`.)

    use std::path::Path;

    use super::*;
    use crate::limits::CHALLENGE_LEN;

    const SERVER: Fingerprint = Fingerprint([0x5e; HASH_LEN]);
    const SERVER_CHALLENGE: Challenge = [0x5c; CHALLENGE_LEN];
    const CLIENT_CHALLENGE: Challenge = [0xc5; CHALLENGE_LEN];
    /// Somebody else: any fingerprint but the signer's.
    const OTHER: Fingerprint = Fingerprint([0xc1; HASH_LEN]);

    /// A test-only key from the workspace's fixtures, so this test binary
    /// generates no key of its own.
    fn signer() -> KeyPair {
        KeyPair::from_pem(
            include_str!("../../../../tests/fixtures/key-variants/client_private_pkcs8.pem"),
            Path::new("fixture"),
        )
        .expect("fixture key")
    }

    /// `signer`'s fetch proof over bytes naming `named`, in a request
    /// naming `client`.
    fn fetch_request(signer: &KeyPair, named: Fingerprint, client: Fingerprint) -> FetchRequest {
        let bytes = fetch_proof_bytes(
            SERVER,
            &SERVER_CHALLENGE,
            named,
            &CLIENT_CHALLENGE,
            Mode::Hybrid,
        );
        FetchRequest {
            client,
            challenge: CLIENT_CHALLENGE,
            mode: Mode::Hybrid,
            proof: primitives::pss_sign(signer, &bytes).expect("sign"),
        }
    }

    fn fetch_verifies(request: &FetchRequest, key: &KeyPair) -> bool {
        verify_fetch(request, Some(key.public()), SERVER, &SERVER_CHALLENGE)
    }

    #[test]
    fn a_fetch_proof_naming_its_signer_verifies() {
        // The control for the two below.
        let signer = signer();
        let me = signer.fingerprint();
        assert!(fetch_verifies(&fetch_request(&signer, me, me), &signer));
    }

    #[test]
    fn a_fetch_proof_must_be_by_the_key_it_names() {
        let signer = signer();
        let request = fetch_request(&signer, OTHER, OTHER);
        let bytes = fetch_proof_bytes(
            SERVER,
            &SERVER_CHALLENGE,
            OTHER,
            &CLIENT_CHALLENGE,
            Mode::Hybrid,
        );
        assert!(
            crate::standin::pss_verify(Some(signer.public()), &bytes, &request.proof),
            "control: the signature itself is good for the key given"
        );
        assert!(
            !fetch_verifies(&request, &signer),
            "a proof naming another client passed for the signer's"
        );
    }

    #[test]
    fn a_fetch_proof_binds_the_client_it_names() {
        let signer = signer();
        let request = fetch_request(&signer, OTHER, signer.fingerprint());
        assert!(!fetch_verifies(&request, &signer));
    }

    #[test]
    fn an_ack_proof_binds_the_client_it_names() {
        let signer = signer();
        let ids = [MessageId([1; 16])];
        let ack = |named| {
            let bytes = ack_proof_bytes(SERVER, &SERVER_CHALLENGE, named, &CLIENT_CHALLENGE, &ids);
            primitives::pss_sign(&signer, &bytes).expect("sign")
        };
        let verifies = |proof: &[u8]| {
            verify_ack(
                signer.public(),
                SERVER,
                &SERVER_CHALLENGE,
                &CLIENT_CHALLENGE,
                &ids,
                proof,
            )
        };
        assert!(verifies(&ack(signer.fingerprint())), "control");
        assert!(!verifies(&ack(OTHER)));
    }
}
