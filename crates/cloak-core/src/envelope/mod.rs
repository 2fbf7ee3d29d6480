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
mod options;
pub mod reseal;
mod signed;
pub mod stream;
mod wire;

use zeroize::Zeroizing;

use crate::backend;
use crate::codec;
use crate::error::{OpenError, SealError};
use crate::fingerprint::Fingerprint;
use crate::keys::{KeyPair, PublicKey};
use crate::limits::{
    ENVELOPE_VERSION, HASH_LEN, MAX_ENVELOPE_LEN, MAX_FRESHNESS_LEN, MAX_HYBRID_PLAINTEXT,
};
pub use options::{FreshnessCheck, OpenOptions, SealOptions};
use wire::{Body, Claims, Envelope, Header, Inner};
pub use wire::{MessageId, Mode, ParseMessageIdError};

/// A sealed envelope ready to send.
#[derive(Debug, Clone)]
pub struct Sealed {
    /// The encoded envelope.
    pub bytes: Vec<u8>,
    /// The id the sender chose, to match receipts and retries.
    pub message_id: MessageId,
    /// Digest (BLAKE3, see `limits::PLAINTEXT_DIGEST_CONTEXT`) of the plaintext, as signed.
    pub plaintext_digest: [u8; HASH_LEN],
}

/// An envelope that decrypted under our key but is not yet verified.
pub struct Decrypted {
    mode: Mode,
    recipient: Fingerprint,
    wrapped_key: Vec<u8>,
    claims: Claims,
    plaintext: Zeroizing<Vec<u8>>,
    digest: [u8; HASH_LEN],
}

impl std::fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decrypted")
            .field("mode", &self.mode)
            .field("claimed_sender", &self.claims.sender)
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
    /// Digest (BLAKE3) of the message, as signed.
    pub plaintext_digest: [u8; HASH_LEN],
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
    check_lengths(mode, freshness, plaintext, options)?;
    let header = Header {
        version: ENVELOPE_VERSION,
        mode,
        recipient: recipient.fingerprint(),
    };
    let (body, message_id, plaintext_digest) = match mode {
        Mode::Asymmetric => {
            let plaintext_digest = backend::digest(plaintext);
            let message_id = options.message_id.unwrap_or_else(MessageId::random);
            let claims = signed::sign(
                sender,
                mode,
                recipient.fingerprint(),
                freshness,
                message_id,
                options.timestamp.unwrap_or_else(crate::clock::now),
                &[],
                plaintext_digest,
            )?;
            let inner = Inner {
                claims,
                plaintext: plaintext.to_vec(),
            };
            let inner_bytes = Zeroizing::new(codec::encode(&inner));
            let body = asymmetric::encrypt(recipient, &inner_bytes)?;
            (body, message_id, plaintext_digest)
        }
        Mode::Hybrid => {
            let (mut sealer, _head) =
                stream::StreamSealer::new(sender, recipient, freshness, options)?;
            let message_id = sealer.message_id();
            let wrapped_key = sealer.wrapped_key().to_vec();
            let mut chunks = sealer.push(plaintext)?;
            let end = sealer.finish()?;
            chunks.extend(end.last_data);
            chunks.push(end.final_chunk);
            let body = Body::Hybrid {
                wrapped_key,
                chunks,
            };
            (body, message_id, end.plaintext_digest)
        }
    };
    Ok(Sealed {
        bytes: Envelope { header, body }.to_bytes(),
        message_id,
        plaintext_digest,
    })
}

/// Refuses a plaintext or freshness value too long to seal.
fn check_lengths(
    mode: Mode,
    freshness: &[u8],
    plaintext: &[u8],
    options: &SealOptions,
) -> Result<(), SealError> {
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
    Ok(())
}

/// The mode an encoded envelope declares, read from its cleartext header
/// without any cryptography (so unauthenticated): lets a recipient refuse a
/// mode with a clear answer before spending a private-key operation.
pub fn peek_mode(bytes: &[u8]) -> Option<Mode> {
    // Only the header: the body is decoded (and checked) once, by `decrypt`.
    codec::decode_prefix::<Header, { crate::limits::MAX_STREAM_HEAD_LEN }>(bytes)
        .ok()
        .map(|header| header.mode)
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
    decrypt_paced(recipient, bytes, options, &mut || true)
}

/// The refusal of asymmetric blocks whose content does not decode. Blocks
/// are encrypted one by one, so a forger can splice its own around someone
/// else's: whether the result decodes may depend on their bytes. A refusal
/// here costs the signature check a decoded envelope would have cost (of
/// the signature it carries, when its claims decode), so the answer's
/// timing does not say which it was.
fn undecodable(recipient: &KeyPair, inner_bytes: &[u8]) -> OpenError {
    let claims = codec::decode_prefix::<Claims, MAX_ENVELOPE_LEN>(inner_bytes);
    let own = vec![0; recipient.public().modulus_len()];
    let signature = claims.as_ref().map_or(&own, |c| &c.signature);
    crate::standin::pss_verify(None, &[0; HASH_LEN], signature);
    OpenError::Rejected
}

/// [`decrypt`], calling `pace` before every private-key operation after the
/// first (an asymmetric envelope costs one per block): a server lets other
/// peers' work go first there, and stops (`false`, which rejects the
/// envelope) once nobody waits for the answer.
pub fn decrypt_paced(
    recipient: &KeyPair,
    bytes: &[u8],
    options: &OpenOptions,
    pace: &mut dyn FnMut() -> bool,
) -> Result<Decrypted, OpenError> {
    let envelope = Envelope::from_bytes(bytes).ok_or(OpenError::Rejected)?;
    let Envelope { header, body } = envelope;
    if header.version != ENVELOPE_VERSION
        || header.recipient != recipient.fingerprint()
        || options.only_mode.is_some_and(|m| m != header.mode)
    {
        return Err(OpenError::Rejected);
    }
    match (header.mode, body) {
        (Mode::Asymmetric, Body::Asymmetric { blocks }) => {
            let inner_bytes =
                asymmetric::decrypt(recipient, &blocks, options.max_asymmetric_plaintext, pace)
                    .ok_or(OpenError::Rejected)?;
            let inner = codec::decode::<Inner, MAX_ENVELOPE_LEN>(&inner_bytes)
                .ok()
                .filter(|inner| inner.claims.freshness.len() <= MAX_FRESHNESS_LEN);
            let Some(mut inner) = inner else {
                return Err(undecodable(recipient, &inner_bytes));
            };
            let plaintext = Zeroizing::new(std::mem::take(&mut inner.plaintext));
            Ok(Decrypted {
                mode: Mode::Asymmetric,
                recipient: header.recipient,
                wrapped_key: Vec::new(),
                claims: inner.claims.clone(),
                digest: backend::digest(&plaintext),
                plaintext,
            })
        }
        (
            Mode::Hybrid,
            Body::Hybrid {
                wrapped_key,
                chunks,
            },
        ) => {
            let head = codec::encode(&wire::StreamHead {
                header,
                wrapped_key,
            });
            let mut opener = stream::StreamOpener::new(recipient, &head, options)?;
            let (last, data) = chunks.split_last().ok_or(OpenError::Rejected)?;
            // Sized by the sealed bytes present, never by the chunk count:
            // a list of empty chunks declares nothing about the plaintext.
            let sealed: usize = data.iter().map(Vec::len).sum();
            let mut plaintext =
                Zeroizing::new(Vec::with_capacity(sealed.min(MAX_HYBRID_PLAINTEXT)));
            for chunk in data {
                plaintext.extend_from_slice(opener.chunk(chunk)?);
            }
            let (recipient, wrapped_key, claims, digest) = opener.finish(last)?.into_parts();
            Ok(Decrypted {
                mode: Mode::Hybrid,
                recipient,
                wrapped_key,
                claims,
                plaintext,
                digest,
            })
        }
        // A header that names one mode over a body of the other: a rewrite.
        _ => Err(OpenError::Rejected),
    }
}

impl Decrypted {
    /// The fingerprint the sender claims; look up its public key with it.
    /// Unauthenticated until [`Decrypted::verify`] succeeds.
    pub fn claimed_sender(&self) -> Fingerprint {
        self.claims.sender
    }

    /// The mode the envelope travelled in.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Phase two: verifies the signature by `sender` over the full context
    /// (recipient = us, mode, freshness, id, time, wrapped key, plaintext).
    pub fn verify(
        self,
        sender: &PublicKey,
        freshness: FreshnessCheck<'_>,
    ) -> Result<Opened, OpenError> {
        self.verify_known(Some(sender), freshness)
    }

    /// [`Decrypted::verify`] for a recipient that may not know the claimed
    /// sender: with `None` it fails, after the same work as a signature
    /// that does not verify, so that nobody can tell by timing which
    /// senders it knows.
    pub fn verify_known(
        mut self,
        sender: Option<&PublicKey>,
        freshness: FreshnessCheck<'_>,
    ) -> Result<Opened, OpenError> {
        signed::verify(
            &self.claims,
            sender,
            self.mode,
            self.recipient,
            &self.wrapped_key,
            self.digest,
            freshness,
        )?;
        Ok(Opened {
            sender: self.claims.sender,
            message_id: self.claims.message_id,
            timestamp: self.claims.timestamp,
            mode: self.mode,
            freshness: std::mem::take(&mut self.claims.freshness),
            plaintext: std::mem::take(&mut *self.plaintext),
            plaintext_digest: self.digest,
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
