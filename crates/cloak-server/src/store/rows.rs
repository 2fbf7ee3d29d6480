//! Reading a stored row's fields back, checked: a row is only what the
//! store wrote if its id, fingerprint and mode parse, whichever database
//! it came from.

use cloak_core::{Fingerprint, MessageId, Mode};

use super::StoreError;

/// A stored message id (hex).
pub(crate) fn parse_id(hex: &str) -> Result<MessageId, StoreError> {
    hex.parse()
        .map_err(|_| StoreError::Damaged(format!("bad stored id `{hex}`")))
}

/// A stored key fingerprint (32 bytes).
pub(crate) fn fingerprint(bytes: Vec<u8>) -> Result<Fingerprint, StoreError> {
    let array: [u8; 32] = bytes
        .try_into()
        .map_err(|_| StoreError::Damaged("bad stored fingerprint".into()))?;
    Ok(Fingerprint(array))
}

/// A stored mode name.
pub(crate) fn mode(text: &str) -> Result<Mode, StoreError> {
    text.parse().map_err(StoreError::Damaged)
}

/// Whether `prefix` can start a message id (hex digits only): anything
/// else finds nothing, and never reaches a query as a pattern.
pub(crate) fn id_prefix(prefix: &str) -> Result<String, StoreError> {
    let wanted = prefix.to_ascii_lowercase();
    if wanted.is_empty() || !wanted.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(StoreError::NotFound(prefix.to_owned()));
    }
    Ok(wanted)
}
