//! Messages queued for clients wait sealed by the server to itself, so the
//! store never holds plaintext; delivery opens them and re-seals each to the
//! client, bound to that client's fresh challenge. A message too large for
//! one envelope waits as a stream file of the same construction.
//!
//! The seal is bound to the message's place: its freshness value names the
//! mailbox (the recipient's fingerprint) and the message id, and the id is
//! signed besides. A row moved to another mailbox, or re-queued under
//! another id, by someone who can write the database (but does not hold the
//! server's key) no longer opens.

use std::io::Read;

use cloak_core::envelope::stream::StreamSealer;
use cloak_core::limits::{AEAD_TAG_LEN, STREAM_CHUNK_LEN};
use cloak_core::{
    Fingerprint, FreshnessCheck, KeyPair, MessageId, Mode, OpenOptions, Opened, SealOptions, Sealed,
};
use zeroize::Zeroizing;

use crate::store::MessageStore;
use crate::store::{StreamRef, StreamSink};
use stored::{StoredStream, StoredStreamError};

/// Freshness value of the first at-rest envelopes, bound to nothing:
/// still opened once, to upgrade them (see [`Place`]).
pub const LEGACY_FRESHNESS: &[u8] = b"CloakRoom at rest v1";

/// Label of the at-rest freshness value. It marks the envelope as the
/// server's own storage, never valid as live traffic (live freshness is a
/// random 32-byte challenge).
pub const AT_REST_LABEL: &[u8] = b"CloakRoom@rest2";

/// Where a queued message belongs: the mailbox and the id its seal is
/// bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    /// The recipient's fingerprint.
    pub recipient: Fingerprint,
    /// The message id.
    pub message_id: MessageId,
}

impl Place {
    /// The freshness value that binds a seal to this place: the label (15
    /// bytes), the fingerprint (32) and the id (16), concatenated: 63
    /// bytes, within the envelope's 64-byte limit on freshness values, and
    /// readable as what it binds.
    pub fn freshness(&self) -> Vec<u8> {
        [
            AT_REST_LABEL,
            self.recipient.as_bytes().as_slice(),
            &self.message_id.0,
        ]
        .concat()
    }

    fn options(&self) -> SealOptions {
        SealOptions {
            message_id: Some(self.message_id),
            ..SealOptions::default()
        }
    }
}

/// Seals `text` from the server to itself for storage at `place`.
pub fn seal(key: &KeyPair, place: Place, text: &[u8]) -> Result<Sealed, cloak_core::SealError> {
    cloak_core::seal(
        key,
        key.public(),
        Mode::Hybrid,
        &place.freshness(),
        text,
        &place.options(),
    )
}

/// Opens a stored envelope the server sealed to itself for `place`.
pub fn open(key: &KeyPair, place: Place, envelope: &[u8]) -> Result<Opened, cloak_core::OpenError> {
    let opened = cloak_core::open(
        key,
        key.public(),
        envelope,
        FreshnessCheck::Expect(&place.freshness()),
        &OpenOptions::default(),
    )?;
    if opened.message_id != place.message_id {
        return Err(cloak_core::OpenError::Rejected);
    }
    Ok(opened)
}

/// Opens an envelope sealed before seals were bound to their place.
pub fn open_legacy(key: &KeyPair, envelope: &[u8]) -> Result<Opened, cloak_core::OpenError> {
    cloak_core::open(
        key,
        key.public(),
        envelope,
        FreshnessCheck::Expect(LEGACY_FRESHNESS),
        &OpenOptions::default(),
    )
}

/// Seals everything `source` yields from the server to itself as a stream
/// for `place` into `spool` (head, chunks, final chunk), chunk by chunk in
/// bounded memory; returns the plaintext length. The caller commits the
/// spool.
pub fn seal_stream(
    key: &KeyPair,
    place: Place,
    source: &mut dyn Read,
    spool: &mut dyn StreamSink,
) -> anyhow::Result<u64> {
    let (mut sealer, head) =
        StreamSealer::new(key, key.public(), &place.freshness(), &place.options())?;
    spool.write_frame(&head)?;
    let mut chunk = Zeroizing::new(Vec::with_capacity(STREAM_CHUNK_LEN + AEAD_TAG_LEN));
    let mut len = 0u64;
    loop {
        chunk.clear();
        let read = (&mut *source)
            .take(STREAM_CHUNK_LEN as u64)
            .read_to_end(&mut chunk)?;
        if read == 0 {
            break;
        }
        len += read as u64;
        let tag = sealer.seal_chunk_in_place(&mut chunk)?;
        chunk.extend_from_slice(&tag);
        spool.write_frame(&chunk)?;
        if read < STREAM_CHUNK_LEN {
            break;
        }
    }
    let end = sealer.finish()?;
    spool.write_frame(&end.final_chunk)?;
    Ok(len)
}

/// Re-seals, at server start, the queued messages sealed before seals were
/// bound to their place: envelopes in place, streams chunk by chunk into a
/// new stream that replaces the old one only once the old one verified.
/// Returns how many were upgraded. One that does not open is set aside
/// (quarantined); one that cannot be rewritten now (a full store) is left
/// as it is, logged, and set aside when a fetch finds it unopenable.
pub fn upgrade(store: &dyn MessageStore, key: &KeyPair) -> anyhow::Result<usize> {
    let mut upgraded = 0;
    for mut message in store.legacy_sealed()? {
        let place = Place {
            recipient: message.recipient,
            message_id: message.message_id,
        };
        let resealed = match &message.stream {
            None => open_legacy(key, &message.envelope)
                .map_err(anyhow::Error::from)
                .and_then(|opened| Ok(seal(key, place, &opened.plaintext)?))
                .map(|sealed| message.envelope = sealed.bytes),
            Some(stream) => reseal_stream(store, key, place, stream).map(|new| {
                message.stream = Some(new);
            }),
        };
        match resealed {
            Ok(()) => {
                store.resealed(&message)?;
                upgraded += 1;
            }
            Err(e) if e.is::<crate::store::StoreError>() => {
                tracing::warn!(
                    "queued message {} not upgraded now: {e:#}",
                    message.message_id
                );
            }
            Err(e) => {
                tracing::error!(
                    "queued message {} does not open ({e:#}): set aside",
                    message.message_id
                );
                store.quarantine(message.message_id)?;
            }
        }
    }
    Ok(upgraded)
}

/// A stream sealed the old way, re-sealed for `place` into a new committed
/// stream.
fn reseal_stream(
    store: &dyn MessageStore,
    key: &KeyPair,
    place: Place,
    stream: &StreamRef,
) -> anyhow::Result<StreamRef> {
    let mut stored =
        StoredStream::open(key, store, stream).map_err(StoredStreamError::into_anyhow)?;
    let mut spool = store.begin_stream()?;
    let (mut sealer, new_head) =
        StreamSealer::new(key, key.public(), &place.freshness(), &place.options())?;
    spool.write_frame(&new_head)?;
    while let Some(plaintext) = stored
        .next_chunk()
        .map_err(StoredStreamError::into_anyhow)?
    {
        for chunk in sealer.push(plaintext)? {
            spool.write_frame(&chunk)?;
        }
    }
    let opened = (stored.finish().map_err(StoredStreamError::into_anyhow)?)
        .verify(key.public(), FreshnessCheck::Expect(LEGACY_FRESHNESS))?;
    anyhow::ensure!(
        opened.message_id == place.message_id,
        "sealed under another message id"
    );
    let end = sealer.finish()?;
    if let Some(data) = end.last_data {
        spool.write_frame(&data)?;
    }
    spool.write_frame(&end.final_chunk)?;
    Ok(spool.commit()?)
}

pub mod stored;

#[cfg(test)]
mod tests;
