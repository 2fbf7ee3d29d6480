//! The signed content: the exact bytes the sender's RSA-PSS signature covers.
//!
//! The signature binds the plaintext to its whole context, so that no part of
//! a valid envelope can be reused elsewhere: another recipient (surreptitious
//! forwarding), another session (freshness), another mode (downgrade), or
//! another wrapped key (hybrid key commitment, since AES-GCM alone is not
//! key-committing).

use bincode::Encode;

use super::wire::{MessageId, Mode};
use crate::backend::{Active, Backend};
use crate::codec;
use crate::fingerprint::Fingerprint;
use crate::limits::{ENVELOPE_VERSION, HASH_LEN, SIGNATURE_LABEL};

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
    pub plaintext_sha256: [u8; HASH_LEN],
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
    plaintext: &[u8],
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
        plaintext_sha256: Active::sha256(plaintext),
    })
}
