//! Sealed envelopes from a sender S to a recipient R, in asymmetric or
//! hybrid mode.
//!
//! Opening happens in two typed phases. [`decrypt`] proves confidentiality
//! held (the envelope was for R and decrypts under R's key) and yields a
//! [`Decrypted`] whose plaintext cannot be read; only
//! [`Decrypted::verify`], given S's public key and the expected freshness,
//! turns it into an [`Opened`] message. Unverified plaintext is therefore
//! never available to be shown or stored.

mod asymmetric;
mod hybrid;
mod signed;
mod wire;

use std::time::{SystemTime, UNIX_EPOCH};

use zeroize::Zeroizing;

use crate::backend::{Active, Backend};
use crate::codec;
use crate::error::{OpenError, SealError};
use crate::fingerprint::Fingerprint;
use crate::keys::{KeyPair, PublicKey};
use crate::limits::{
    DEFAULT_MAX_ASYMMETRIC_PLAINTEXT, ENVELOPE_VERSION, MAX_ENVELOPE_LEN, MAX_FRESHNESS_LEN,
    MAX_HYBRID_PLAINTEXT,
};
use wire::{Body, Envelope, Header, Inner};
pub use wire::{MessageId, Mode};

/// Options for [`seal`].
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

/// Options for [`decrypt`].
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

/// A sealed envelope ready to send.
#[derive(Debug, Clone)]
pub struct Sealed {
    /// The encoded envelope.
    pub bytes: Vec<u8>,
    /// The id the sender chose, to match receipts and retries.
    pub message_id: MessageId,
}

/// An envelope that decrypted under our key but is not yet verified.
pub struct Decrypted {
    mode: Mode,
    recipient: Fingerprint,
    wrapped_key: Vec<u8>,
    inner: Inner,
}

impl std::fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decrypted")
            .field("mode", &self.mode)
            .field("claimed_sender", &self.inner.sender)
            .finish_non_exhaustive()
    }
}

/// A verified message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// Fingerprint of the key whose signature was verified.
    pub sender: Fingerprint,
    /// The sender's message id.
    pub message_id: MessageId,
    /// The sender's timestamp (seconds since the Unix epoch).
    pub timestamp: u64,
    /// The mode it travelled in.
    pub mode: Mode,
    /// The freshness value it was signed with.
    pub freshness: Vec<u8>,
    /// The message.
    pub plaintext: Vec<u8>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn random_message_id() -> MessageId {
    let mut id = [0u8; 16];
    Active::fill_random(&mut id);
    MessageId(id)
}

/// Seals `plaintext` from `sender` to `recipient`, signed over `freshness`.
pub fn seal(
    sender: &KeyPair,
    recipient: &PublicKey,
    mode: Mode,
    freshness: &[u8],
    plaintext: &[u8],
    options: &SealOptions,
) -> Result<Sealed, SealError> {
    let max = match mode {
        Mode::Asymmetric => options.max_asymmetric_plaintext,
        Mode::Hybrid => MAX_HYBRID_PLAINTEXT,
    };
    if plaintext.len() > max {
        return Err(SealError::TooLarge {
            mode,
            len: plaintext.len(),
            max,
        });
    }
    if freshness.len() > MAX_FRESHNESS_LEN {
        return Err(SealError::FreshnessTooLong {
            len: freshness.len(),
            max: MAX_FRESHNESS_LEN,
        });
    }
    let header = Header {
        version: ENVELOPE_VERSION,
        mode,
        recipient: recipient.fingerprint(),
    };
    let message_key = match mode {
        Mode::Hybrid => Some(hybrid::MessageKey::generate(recipient)?),
        Mode::Asymmetric => None,
    };
    let wrapped_key = message_key.as_ref().map_or(&[][..], |k| &k.wrapped);
    let message_id = options.message_id.unwrap_or_else(random_message_id);
    let timestamp = options.timestamp.unwrap_or_else(now);
    let signed = signed::signed_bytes(
        mode,
        sender.fingerprint(),
        recipient.fingerprint(),
        freshness,
        message_id,
        timestamp,
        wrapped_key,
        plaintext,
    );
    let signature = Active::pss_sign(sender.rsa(), &signed).map_err(|e| SealError::Crypto(e.0))?;
    let inner = Inner {
        sender: sender.fingerprint(),
        message_id,
        timestamp,
        freshness: freshness.to_vec(),
        plaintext: plaintext.to_vec(),
        signature,
    };
    let envelope = encrypt_inner(header, recipient, message_key, &inner)?;
    Ok(Sealed {
        bytes: envelope.to_bytes(),
        message_id,
    })
}

fn encrypt_inner(
    header: Header,
    recipient: &PublicKey,
    message_key: Option<hybrid::MessageKey>,
    inner: &Inner,
) -> Result<Envelope, SealError> {
    let inner_bytes = Zeroizing::new(codec::encode(inner));
    let body = match message_key {
        None => asymmetric::encrypt(recipient, &inner_bytes)?,
        Some(key) => hybrid::encrypt(&header, key, &inner_bytes)?,
    };
    Ok(Envelope { header, body })
}

/// The mode an encoded envelope declares, read from its cleartext header
/// without any cryptography (so unauthenticated): lets a recipient refuse a
/// mode with a clear answer before spending a private-key operation.
pub fn peek_mode(bytes: &[u8]) -> Option<Mode> {
    Envelope::from_bytes(bytes).map(|e| e.header.mode)
}

/// Phase one of opening: decodes `bytes` and decrypts it with `recipient`.
///
/// Fails with [`OpenError::Rejected`] if the envelope is malformed, of
/// another version, for another key, of a mode `options` refuses, or does not
/// decrypt.
pub fn decrypt(
    recipient: &KeyPair,
    bytes: &[u8],
    options: &OpenOptions,
) -> Result<Decrypted, OpenError> {
    let envelope = Envelope::from_bytes(bytes).ok_or(OpenError::Rejected)?;
    let Envelope { header, body } = envelope;
    if header.version != ENVELOPE_VERSION
        || header.recipient != recipient.fingerprint()
        || options.only_mode.is_some_and(|m| m != header.mode)
    {
        return Err(OpenError::Rejected);
    }
    let (inner_bytes, wrapped_key) = match (header.mode, body) {
        (Mode::Asymmetric, Body::Asymmetric { blocks }) => (
            asymmetric::decrypt(recipient, &blocks, options.max_asymmetric_plaintext),
            Vec::new(),
        ),
        (
            Mode::Hybrid,
            Body::Hybrid {
                wrapped_key,
                nonce,
                ciphertext,
            },
        ) => (
            hybrid::decrypt(recipient, &header, &wrapped_key, &nonce, &ciphertext),
            wrapped_key,
        ),
        // A header that names one mode over a body of the other: a rewrite.
        _ => return Err(OpenError::Rejected),
    };
    let inner_bytes = inner_bytes.ok_or(OpenError::Rejected)?;
    let inner: Inner =
        codec::decode::<Inner, MAX_ENVELOPE_LEN>(&inner_bytes).map_err(|_| OpenError::Rejected)?;
    if inner.freshness.len() > MAX_FRESHNESS_LEN {
        return Err(OpenError::Rejected);
    }
    Ok(Decrypted {
        mode: header.mode,
        recipient: header.recipient,
        wrapped_key,
        inner,
    })
}

impl Decrypted {
    /// The fingerprint the sender claims; look up its public key with it.
    /// Unauthenticated until [`Decrypted::verify`] succeeds.
    pub fn claimed_sender(&self) -> Fingerprint {
        self.inner.sender
    }

    /// The mode the envelope travelled in.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Phase two: verifies the signature by `sender` over the full context
    /// (recipient = us, mode, freshness, id, time, wrapped key, plaintext).
    pub fn verify(
        mut self,
        sender: &PublicKey,
        freshness: FreshnessCheck<'_>,
    ) -> Result<Opened, OpenError> {
        let fresh = match freshness {
            FreshnessCheck::Expect(expected) => self.inner.freshness == expected,
            FreshnessCheck::Archived => true,
        };
        let signed = signed::signed_bytes(
            self.mode,
            sender.fingerprint(),
            self.recipient,
            &self.inner.freshness,
            self.inner.message_id,
            self.inner.timestamp,
            &self.wrapped_key,
            &self.inner.plaintext,
        );
        let signature_ok = Active::pss_verify(sender.rsa(), &signed, &self.inner.signature);
        if !(fresh && signature_ok && sender.fingerprint() == self.inner.sender) {
            return Err(OpenError::Rejected);
        }
        Ok(Opened {
            sender: self.inner.sender,
            message_id: self.inner.message_id,
            timestamp: self.inner.timestamp,
            mode: self.mode,
            freshness: std::mem::take(&mut self.inner.freshness),
            plaintext: std::mem::take(&mut self.inner.plaintext),
        })
    }
}

/// Both phases at once, for callers that know the sender in advance.
pub fn open(
    recipient: &KeyPair,
    sender: &PublicKey,
    bytes: &[u8],
    freshness: FreshnessCheck<'_>,
    options: &OpenOptions,
) -> Result<Opened, OpenError> {
    decrypt(recipient, bytes, options)?.verify(sender, freshness)
}

#[cfg(test)]
mod tests;
