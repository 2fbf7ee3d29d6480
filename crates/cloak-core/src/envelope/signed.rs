//! The signed content: the exact bytes the sender's RSA-PSS signature covers.
//!
//! The signature binds the plaintext to its whole context, so that no part of
//! a valid envelope can be reused elsewhere: another recipient (surreptitious
//! forwarding), another session (freshness), another mode (downgrade), or
//! another wrapped key (hybrid key commitment, since AES-GCM alone is not
//! key-committing).

use bincode::Encode;

use super::options::FreshnessCheck;
use super::wire::{Claims, MessageId, Mode};
use crate::codec;
use crate::error::OpenError;
use crate::fingerprint::Fingerprint;
use crate::keys::{KeyPair, PublicKey};
use crate::limits::{ENVELOPE_VERSION, HASH_LEN, SIGNATURE_LABEL};
use crate::primitives;

/// Every field of the signed content; see docs/PROTOCOL.md.
#[derive(Encode)]
pub(crate) struct SignedContent<'a> {
    pub label: &'a [u8],
    pub version: u16,
    pub mode: Mode,
    pub sender: Fingerprint,
    pub recipient: Fingerprint,
    pub freshness: &'a [u8],
    pub message_id: MessageId,
    pub timestamp: u64,
    /// Empty in asymmetric mode.
    pub wrapped_key: &'a [u8],
    pub plaintext_digest: [u8; HASH_LEN],
}

/// Builds the encoded signed content for the given fields.
#[allow(clippy::too_many_arguments)]
pub(crate) fn signed_bytes(
    mode: Mode,
    sender: Fingerprint,
    recipient: Fingerprint,
    freshness: &[u8],
    message_id: MessageId,
    timestamp: u64,
    wrapped_key: &[u8],
    plaintext_digest: [u8; HASH_LEN],
) -> Vec<u8> {
    codec::encode(&SignedContent {
        label: SIGNATURE_LABEL,
        version: ENVELOPE_VERSION,
        mode,
        sender,
        recipient,
        freshness,
        message_id,
        timestamp,
        wrapped_key,
        plaintext_digest,
    })
}

/// Signs the claims for a message with this context.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sign(
    sender: &KeyPair,
    mode: Mode,
    recipient: Fingerprint,
    freshness: &[u8],
    message_id: MessageId,
    timestamp: u64,
    wrapped_key: &[u8],
    plaintext_digest: [u8; HASH_LEN],
) -> Result<Claims, crate::SealError> {
    let signed = signed_bytes(
        mode,
        sender.fingerprint(),
        recipient,
        freshness,
        message_id,
        timestamp,
        wrapped_key,
        plaintext_digest,
    );
    let signature = primitives::pss_sign(sender, &signed).map_err(crate::SealError::from)?;
    Ok(Claims {
        sender: sender.fingerprint(),
        message_id,
        timestamp,
        freshness: freshness.to_vec(),
        signature,
    })
}

/// Verifies `claims` as signed by `sender` for a message to `recipient` (us)
/// in `mode` with this wrapped key and plaintext digest. The freshness check
/// and the signature are both evaluated before the single answer. With no
/// `sender` (the claimed one is unknown) the answer is `Rejected`, after
/// the same work (see `standin`).
pub(crate) fn verify(
    claims: &Claims,
    sender: Option<&PublicKey>,
    mode: Mode,
    recipient: Fingerprint,
    wrapped_key: &[u8],
    plaintext_digest: [u8; HASH_LEN],
    freshness: FreshnessCheck<'_>,
) -> Result<(), OpenError> {
    let fresh = match freshness {
        FreshnessCheck::Expect(expected) => claims.freshness == expected,
        FreshnessCheck::Archived => true,
    };
    let named = sender.is_some_and(|key| key.fingerprint() == claims.sender);
    let signed = signed_bytes(
        mode,
        sender.map_or(claims.sender, PublicKey::fingerprint),
        recipient,
        &claims.freshness,
        claims.message_id,
        claims.timestamp,
        wrapped_key,
        plaintext_digest,
    );
    let signature_ok = crate::standin::pss_verify(sender, &signed, &claims.signature);
    if fresh && signature_ok && named {
        Ok(())
    } else {
        Err(OpenError::Rejected)
    }
}
