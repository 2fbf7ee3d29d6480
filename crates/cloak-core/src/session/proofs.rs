//! The session's own cryptography, on top of envelopes: the payload of a
//! sent message (which carries a receipt key), the receipt MAC, and the
//! proof by which a client shows it holds its key when fetching messages.

use bincode::{Decode, Encode};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::messages::{Challenge, FetchRequest};
use crate::backend::{Active, Backend};
use crate::codec;
use crate::envelope::{MessageId, Mode};
use crate::fingerprint::Fingerprint;
use crate::keys::{KeyPair, PublicKey};
use crate::limits::{ACK_PROOF_LABEL, FETCH_PROOF_LABEL, HASH_LEN, RECEIPT_LABEL};

/// The plaintext of a `Send` envelope: the message, plus a one-time key for
/// the receipt. Only the holder of the server's private key can read the
/// receipt key, so only the real server can produce a valid receipt.
#[derive(Clone, PartialEq, Eq, Encode, Decode, Zeroize, ZeroizeOnDrop)]
pub struct SendPayload {
    /// One-time HMAC key for the receipt.
    pub receipt_key: [u8; HASH_LEN],
    /// The message.
    pub text: Vec<u8>,
}

/// Bytes a payload adds around the text (key + length prefix), so callers
/// can keep an asymmetric message within the envelope limit.
pub const SEND_PAYLOAD_OVERHEAD: usize = HASH_LEN + 9;

impl SendPayload {
    /// A payload with a fresh random receipt key.
    pub fn new(text: Vec<u8>) -> Self {
        let mut receipt_key = [0u8; HASH_LEN];
        Active::fill_random(&mut receipt_key);
        SendPayload { receipt_key, text }
    }

    /// Encoded form, the envelope's plaintext.
    pub fn to_bytes(&self) -> zeroize::Zeroizing<Vec<u8>> {
        zeroize::Zeroizing::new(codec::encode(self))
    }

    /// Decodes a verified envelope's plaintext.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        codec::decode::<Self, { crate::limits::MAX_ENVELOPE_LEN }>(bytes).ok()
    }
}

fn receipt_hmac(
    receipt_key: &[u8; HASH_LEN],
    message_id: MessageId,
    server: Fingerprint,
    challenge: &Challenge,
    envelope: &[u8],
) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(receipt_key)
        .expect("HMAC accepts keys of any length");
    mac.update(&codec::encode(&(
        RECEIPT_LABEL,
        message_id,
        server,
        challenge,
        Active::sha256(envelope),
    )));
    mac
}

/// The receipt MAC for an accepted envelope: binds the message id, the
/// server, the session challenge and the exact envelope bytes.
pub fn receipt_mac(
    receipt_key: &[u8; HASH_LEN],
    message_id: MessageId,
    server: Fingerprint,
    challenge: &Challenge,
    envelope: &[u8],
) -> [u8; HASH_LEN] {
    receipt_hmac(receipt_key, message_id, server, challenge, envelope)
        .finalize()
        .into_bytes()
        .into()
}

/// Checks a receipt MAC in constant time.
pub fn verify_receipt(
    receipt_key: &[u8; HASH_LEN],
    message_id: MessageId,
    server: Fingerprint,
    challenge: &Challenge,
    envelope: &[u8],
    mac: &[u8; HASH_LEN],
) -> bool {
    receipt_hmac(receipt_key, message_id, server, challenge, envelope)
        .verify_slice(mac)
        .is_ok()
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
    Active::fill_random(&mut challenge);
    let bytes = fetch_proof_bytes(
        server,
        server_challenge,
        client.fingerprint(),
        &challenge,
        mode,
    );
    let proof =
        Active::pss_sign(client.rsa(), &bytes).map_err(|e| crate::SealError::Crypto(e.0))?;
    Ok(FetchRequest {
        client: client.fingerprint(),
        challenge,
        mode,
        proof,
    })
}

/// Whether `request` was signed by `client_key` for this server and
/// connection.
pub fn verify_fetch(
    request: &FetchRequest,
    client_key: &PublicKey,
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
    client_key.fingerprint() == request.client
        && Active::pss_verify(client_key.rsa(), &bytes, &request.proof)
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
    Active::pss_sign(client.rsa(), &bytes).map_err(|e| crate::SealError::Crypto(e.0))
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
    Active::pss_verify(client_key.rsa(), &bytes, proof)
}

/// A fresh random message id, chosen before the first attempt so that
/// retries reuse it.
pub fn new_message_id() -> MessageId {
    let mut id = [0u8; 16];
    Active::fill_random(&mut id);
    MessageId(id)
}

/// A fresh random challenge.
pub fn new_challenge() -> Challenge {
    let mut challenge = [0u8; crate::limits::CHALLENGE_LEN];
    Active::fill_random(&mut challenge);
    challenge
}
