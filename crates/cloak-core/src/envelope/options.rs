//! What a caller chooses when sealing and opening envelopes; apart from
//! the sealing and opening code, so that each mode's module depends on
//! these terms and not on its parent.

use super::wire::{MessageId, Mode};
use crate::limits::DEFAULT_MAX_ASYMMETRIC_PLAINTEXT;

/// Options for [`seal`](super::seal).
#[derive(Debug, Clone)]
pub struct SealOptions {
    /// Message id to use; a fresh random one when `None`. A retry of the
    /// same message reuses its id so the recipient can deduplicate.
    pub message_id: Option<MessageId>,
    /// Seconds since the Unix epoch; the current time when `None`.
    pub timestamp: Option<u64>,
    /// Largest plaintext accepted in asymmetric mode.
    pub max_asymmetric_plaintext: usize,
}

impl Default for SealOptions {
    fn default() -> Self {
        SealOptions {
            message_id: None,
            timestamp: None,
            max_asymmetric_plaintext: DEFAULT_MAX_ASYMMETRIC_PLAINTEXT,
        }
    }
}

/// Options for [`decrypt`](super::decrypt).
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Accept only this mode; both when `None`.
    pub only_mode: Option<Mode>,
    /// Largest asymmetric plaintext we agree to decrypt: bounds the number of
    /// RSA private-key operations an envelope can cost us.
    pub max_asymmetric_plaintext: usize,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            only_mode: None,
            max_asymmetric_plaintext: DEFAULT_MAX_ASYMMETRIC_PLAINTEXT,
        }
    }
}

/// What freshness value the opener requires.
#[derive(Debug, Clone, Copy)]
pub enum FreshnessCheck<'a> {
    /// The signed freshness value must equal this (e.g. the challenge this
    /// recipient issued for the current session).
    Expect(&'a [u8]),
    /// Re-verifying an envelope whose freshness was checked when it arrived
    /// (e.g. one read back from storage). Never use for live traffic.
    Archived,
}
