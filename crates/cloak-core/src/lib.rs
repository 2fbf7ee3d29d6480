//! CloakRoom's core: RSA key files, fingerprints and sealed envelopes.
//!
//! An envelope carries one message from a sender S to a recipient R and gives
//! confidentiality (only R can open it), sender authentication and integrity
//! (a RSA-PSS signature by S over a context that names S, R, the mode, a
//! freshness value, a message id and a digest of the plaintext), and sound key
//! distribution in hybrid mode (a fresh AES-256-GCM key wrapped with R's key
//! and covered by the signature).
//!
//! Opening is split into two typed phases, [`envelope::decrypt`] and
//! [`envelope::Decrypted::verify`], so that callers can report which property
//! failed without ever seeing unverified plaintext. Every failure inside a
//! phase collapses into the single opaque [`OpenError::Rejected`].
//!
//! The wire format is documented in `docs/PROTOCOL.md`.
#![forbid(unsafe_code)]

pub mod backend;
pub mod clock;
pub mod codec;
pub mod envelope;
mod error;
mod fingerprint;
mod kdf;
pub mod keydir;
pub mod keys;
pub mod limits;
pub mod primitives;
pub mod session;
mod standin;
#[cfg(test)]
mod test_keys;
#[cfg(test)]
mod testkit;
pub mod text;
pub mod verdict;

pub use backend::Backend;
pub use envelope::{
    Decrypted, FreshnessCheck, MessageId, Mode, OpenOptions, Opened, ParseMessageIdError,
    SealOptions, Sealed, decrypt, decrypt_paced, open, peek_mode, seal,
};
pub use error::{KeyError, OpenError, SealError};
pub use fingerprint::{Fingerprint, ParseFingerprintError};
pub use keys::{KeyPair, PublicKey};
