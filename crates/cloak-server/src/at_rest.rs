//! Messages queued for clients wait sealed by the server to itself, so the
//! store never holds plaintext; delivery opens them and re-seals each to the
//! client, bound to that client's fresh challenge.

use cloak_core::{FreshnessCheck, KeyPair, Mode, OpenOptions, Opened, SealOptions, Sealed};

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
