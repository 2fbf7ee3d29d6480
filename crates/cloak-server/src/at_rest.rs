//! Messages queued for clients wait sealed by the server to itself, so the
//! store never holds plaintext; delivery opens them and re-seals each to the
//! client, bound to that client's fresh challenge. A message too large for
//! one envelope waits as a stream file of the same construction.

use std::io::Read;

use cloak_core::envelope::stream::StreamSealer;
use cloak_core::limits::{AEAD_TAG_LEN, STREAM_CHUNK_LEN};
use cloak_core::{
    FreshnessCheck, KeyPair, MessageId, Mode, OpenOptions, Opened, SealOptions, Sealed,
};
use zeroize::Zeroizing;

use crate::store::spool::Spool;

/// Freshness value of at-rest envelopes: marks them as the server's own
/// storage, never valid as live traffic (live freshness is a random
/// challenge).
pub const AT_REST_FRESHNESS: &[u8] = b"CloakRoom at rest v1";

/// Seals `text` from the server to itself for storage.
pub fn seal(key: &KeyPair, text: &[u8]) -> Result<Sealed, cloak_core::SealError> {
    cloak_core::seal(
        key,
        key.public(),
        Mode::Hybrid,
        AT_REST_FRESHNESS,
        text,
        &SealOptions::default(),
    )
}

/// Opens a stored envelope the server sealed to itself.
pub fn open(key: &KeyPair, envelope: &[u8]) -> Result<Opened, cloak_core::OpenError> {
    cloak_core::open(
        key,
        key.public(),
        envelope,
        FreshnessCheck::Expect(AT_REST_FRESHNESS),
        &OpenOptions::default(),
    )
}

/// Seals everything `source` yields from the server to itself as a stream
/// into `spool` (head, chunks, final chunk), chunk by chunk in bounded
/// memory; returns the message id and the plaintext length. The caller
/// commits the spool.
pub fn seal_stream(
    key: &KeyPair,
    source: &mut dyn Read,
    spool: &mut Spool,
) -> anyhow::Result<(MessageId, u64)> {
    let (mut sealer, head) = StreamSealer::new(
        key,
        key.public(),
        AT_REST_FRESHNESS,
        &SealOptions::default(),
    )?;
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
    let message_id = sealer.message_id();
    let end = sealer.finish()?;
    spool.write_frame(&end.final_chunk)?;
    Ok((message_id, len))
}
