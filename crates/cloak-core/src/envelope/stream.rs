//! Hybrid mode (Part 2) as a STREAM, so a message of any size passes through
//! both sides in bounded memory.
//!
//! A fresh AES-256-GCM key K per message is wrapped with RSA-OAEP-SHA256 to
//! the recipient. The plaintext is cut into 256 KiB chunks, each encrypted
//! under K with the nonce `u88be(counter) ‖ last-flag` (age's STREAM
//! construction) and the SHA-256 of the stream head as associated data; the
//! final chunk (flag 1) carries the [`Trailer`]: the sender's claims and
//! signature and the plaintext length. Reordered, dropped, duplicated or
//! truncated chunks fail authentication or leave the stream without its
//! final chunk, and the signature covers a digest of the whole plaintext, so
//! a stream counts only once its end has been verified.

use zeroize::{Zeroize, Zeroizing};

use super::options::{FreshnessCheck, OpenOptions, SealOptions};
use super::signed;
use super::wire::{Claims, Header, StreamHead, Trailer};
use super::wire::{MessageId, Mode};
use crate::backend::{self, Backend, Cipher};
use crate::codec;
use crate::error::{OpenError, SealError};
use crate::fingerprint::Fingerprint;
use crate::keys::{KeyPair, PublicKey};
use crate::limits::{
    AEAD_KEY_LEN, AEAD_NONCE_LEN, AEAD_TAG_LEN, ENVELOPE_VERSION, HASH_LEN, HYBRID_KEY_WRAP_LABEL,
    MAX_FRESHNESS_LEN, MAX_STREAM_HEAD_LEN, MAX_TRAILER_LEN, STREAM_CHUNK_LEN,
};
use crate::primitives;

type Digest = blake3::Hasher;

/// Largest sealed data chunk.
pub const MAX_SEALED_CHUNK: usize = STREAM_CHUNK_LEN + AEAD_TAG_LEN;

fn nonce(counter: u64, last: bool) -> [u8; AEAD_NONCE_LEN] {
    let mut nonce = [0u8; AEAD_NONCE_LEN];
    nonce[3..11].copy_from_slice(&counter.to_be_bytes());
    nonce[11] = u8::from(last);
    nonce
}

fn associated_data(head: &StreamHead) -> [u8; HASH_LEN] {
    backend::sha256(&codec::encode(head))
}

/// A fresh message key and the stream head that carries it, wrapped to
/// `recipient`.
fn fresh_head(
    recipient: &PublicKey,
) -> Result<(Zeroizing<[u8; AEAD_KEY_LEN]>, StreamHead), SealError> {
    let mut key = Zeroizing::new([0u8; AEAD_KEY_LEN]);
    backend::fill_random(key.as_mut());
    let wrapped_key = primitives::oaep_encrypt(recipient, HYBRID_KEY_WRAP_LABEL, key.as_ref())
        .map_err(SealError::from)?;
    let head = StreamHead {
        header: Header {
            version: ENVELOPE_VERSION,
            mode: Mode::Hybrid,
            recipient: recipient.fingerprint(),
        },
        wrapped_key,
    };
    Ok((key, head))
}

/// Seals a hybrid message incrementally.
pub struct StreamSealer<'k> {
    sender: &'k KeyPair,
    recipient: Fingerprint,
    key: Zeroizing<[u8; AEAD_KEY_LEN]>,
    derived: bool,
    backend: Backend,
    cipher: Cipher,
    aad: [u8; HASH_LEN],
    counter: u64,
    len: u64,
    digest: Digest,
    short_sealed: bool,
    buffer: Zeroizing<Vec<u8>>,
    wrapped_key: Vec<u8>,
    freshness: Vec<u8>,
    message_id: MessageId,
    timestamp: u64,
}

impl<'k> StreamSealer<'k> {
    /// Starts a stream from `sender` to `recipient`; returns the sealer and
    /// the encoded stream head, which is sent first.
    pub fn new(
        sender: &'k KeyPair,
        recipient: &PublicKey,
        freshness: &[u8],
        options: &SealOptions,
    ) -> Result<(Self, Vec<u8>), SealError> {
        if freshness.len() > MAX_FRESHNESS_LEN {
            return Err(SealError::FreshnessTooLong {
                len: freshness.len(),
                max: MAX_FRESHNESS_LEN,
            });
        }
        let (key, head) = fresh_head(recipient)?;
        let sealer = StreamSealer {
            sender,
            recipient: recipient.fingerprint(),
            backend: recipient.backend(),
            cipher: backend::aead(recipient.backend(), &key),
            key,
            derived: false,
            aad: associated_data(&head),
            counter: 0,
            len: 0,
            digest: backend::hasher(),
            short_sealed: false,
            buffer: Zeroizing::new(Vec::new()),
            wrapped_key: head.wrapped_key.clone(),
            freshness: freshness.to_vec(),
            message_id: options.message_id.unwrap_or_else(MessageId::random),
            timestamp: options.timestamp.unwrap_or_else(crate::clock::now),
        };
        Ok((sealer, codec::encode(&head)))
    }

    pub(crate) fn wrapped_key(&self) -> &[u8] {
        &self.wrapped_key
    }

    /// The backend of the recipient's key, which runs this stream's cipher.
    pub(crate) fn backend(&self) -> Backend {
        self.backend
    }

    /// A key derived from the message key for another use named by
    /// `info` (HKDF-Expand): the recipient derives the same one. Given out
    /// once per stream: its one use (the sender proof) has a fixed nonce.
    pub(crate) fn derive_key_once(
        &mut self,
        info: &[u8],
    ) -> Result<Zeroizing<[u8; AEAD_KEY_LEN]>, SealError> {
        if std::mem::replace(&mut self.derived, true) {
            return Err(SealError::AlreadyProven);
        }
        Ok(crate::kdf::expand(&self.key, info))
    }

    /// Whether no chunk has been sealed yet.
    pub(crate) fn is_fresh(&self) -> bool {
        self.counter == 0 && self.buffer.is_empty()
    }

    /// The message id the stream will be signed with.
    pub fn message_id(&self) -> MessageId {
        self.message_id
    }

    /// Seals one data chunk in place and returns its tag, which follows
    /// the chunk on the wire: a sender reads plaintext straight into its
    /// outgoing frame and seals it there, with no copy or allocation. A
    /// chunk holds 1 to [`STREAM_CHUNK_LEN`] bytes, and only the last data
    /// chunk may be shorter than that.
    pub fn seal_chunk_in_place(
        &mut self,
        chunk: &mut [u8],
    ) -> Result<[u8; AEAD_TAG_LEN], SealError> {
        self.digest.update(chunk);
        self.seal_unhashed_in_place(chunk)
    }

    /// [`StreamSealer::seal_chunk_in_place`] without adding the chunk to
    /// the plaintext digest: for a relay whose opener digested the same
    /// bytes, which then signs that digest (see `reseal`).
    pub(crate) fn seal_unhashed_in_place(
        &mut self,
        chunk: &mut [u8],
    ) -> Result<[u8; AEAD_TAG_LEN], SealError> {
        if chunk.is_empty()
            || chunk.len() > STREAM_CHUNK_LEN
            || self.short_sealed
            || !self.buffer.is_empty()
        {
            return Err(SealError::ChunkOutOfPlace {
                len: chunk.len(),
                max: STREAM_CHUNK_LEN,
            });
        }
        let tag = self
            .cipher
            .seal_in_place(&nonce(self.counter, false), &self.aad, chunk)
            .map_err(SealError::from)?;
        self.len += chunk.len() as u64;
        self.counter += 1;
        self.short_sealed = chunk.len() < STREAM_CHUNK_LEN;
        Ok(tag)
    }

    fn seal_data(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut sealed = Vec::with_capacity(plaintext.len() + AEAD_TAG_LEN);
        sealed.extend_from_slice(plaintext);
        let tag = self.seal_chunk_in_place(&mut sealed)?;
        sealed.extend_from_slice(&tag);
        Ok(sealed)
    }

    /// Absorbs `data` of any length, buffering a partial chunk; returns the
    /// chunks completed by it, ready to send. (Convenient for data in
    /// memory; [`StreamSealer::seal_chunk_in_place`] avoids the copies.)
    pub fn push(&mut self, mut data: &[u8]) -> Result<Vec<Vec<u8>>, SealError> {
        let mut out = Vec::new();
        if !self.buffer.is_empty() {
            let take = (STREAM_CHUNK_LEN - self.buffer.len()).min(data.len());
            self.buffer.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buffer.len() == STREAM_CHUNK_LEN {
                let full = std::mem::take(&mut self.buffer);
                out.push(self.seal_data(&full)?);
                self.buffer = full;
                self.buffer.clear();
            }
        }
        while data.len() >= STREAM_CHUNK_LEN {
            out.push(self.seal_data(&data[..STREAM_CHUNK_LEN])?);
            data = &data[STREAM_CHUNK_LEN..];
        }
        self.buffer.extend_from_slice(data);
        Ok(out)
    }

    /// Ends the stream: returns the last data chunk (if any) and the final
    /// chunk with the signed trailer, and the plaintext's digest.
    pub fn finish(mut self) -> Result<StreamEnd, SealError> {
        let last_data = if self.buffer.is_empty() {
            None
        } else {
            let rest = std::mem::take(&mut self.buffer);
            Some(self.seal_data(&rest)?)
        };
        let digest = self.digest.finalize().into();
        let mut end = self.sign_end(digest)?;
        end.last_data = last_data;
        Ok(end)
    }

    /// Signs `digest` as the plaintext's and seals the final chunk. The
    /// caller vouches that `digest` is of exactly the chunks sealed.
    pub(crate) fn sign_end(self, digest: [u8; HASH_LEN]) -> Result<StreamEnd, SealError> {
        debug_assert!(self.buffer.is_empty(), "a partial chunk left unsealed");
        let claims = signed::sign(
            self.sender,
            Mode::Hybrid,
            self.recipient,
            &self.freshness,
            self.message_id,
            self.timestamp,
            &self.wrapped_key,
            digest,
        )?;
        let trailer = Zeroizing::new(codec::encode(&Trailer {
            claims,
            plaintext_len: self.len,
        }));
        let final_chunk = self
            .cipher
            .seal(&nonce(self.counter, true), &self.aad, &trailer)
            .map_err(SealError::from)?;
        Ok(StreamEnd {
            last_data: None,
            final_chunk,
            plaintext_digest: digest,
        })
    }
}

/// The end of a sealed stream.
#[derive(Debug)]
pub struct StreamEnd {
    /// The last data chunk, if the plaintext left one buffered.
    pub last_data: Option<Vec<u8>>,
    /// The final chunk: the sealed, signed trailer.
    pub final_chunk: Vec<u8>,
    /// Digest (BLAKE3) of the whole plaintext, as signed.
    pub plaintext_digest: [u8; HASH_LEN],
}

/// Opens a hybrid stream incrementally. Plaintext from [`StreamOpener::chunk`]
/// is decrypted but **not yet authenticated as the sender's**: it may be
/// hashed or spooled, never shown or stored as trusted, until
/// [`StreamDecrypted::verify`] succeeds on the final chunk.
pub struct StreamOpener {
    header: Header,
    wrapped_key: Vec<u8>,
    key: Zeroizing<[u8; AEAD_KEY_LEN]>,
    backend: Backend,
    cipher: Cipher,
    aad: [u8; HASH_LEN],
    counter: u64,
    len: u64,
    short_seen: bool,
    digest: Digest,
    plaintext: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for StreamOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamOpener")
            .field("chunks", &self.counter)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl StreamOpener {
    /// Starts opening the stream whose encoded head is `head`.
    ///
    /// A key that fails to unwrap is replaced by a random one, so the
    /// failure shows only as the first chunk failing authentication, exactly
    /// like a forged chunk (no padding oracle).
    pub fn new(recipient: &KeyPair, head: &[u8], options: &OpenOptions) -> Result<Self, OpenError> {
        let head: StreamHead =
            codec::decode::<_, MAX_STREAM_HEAD_LEN>(head).map_err(|_| OpenError::Rejected)?;
        let header = &head.header;
        if header.version != ENVELOPE_VERSION
            || header.mode != Mode::Hybrid
            || header.recipient != recipient.fingerprint()
            || options.only_mode.is_some_and(|m| m != Mode::Hybrid)
            || head.wrapped_key.len() != recipient.public().modulus_len()
        {
            return Err(OpenError::Rejected);
        }
        let mut key = Zeroizing::new([0u8; AEAD_KEY_LEN]);
        backend::fill_random(key.as_mut());
        if let Ok(unwrapped) =
            primitives::oaep_decrypt(recipient, HYBRID_KEY_WRAP_LABEL, &head.wrapped_key)
            && unwrapped.len() == AEAD_KEY_LEN
        {
            key.copy_from_slice(&unwrapped);
        }
        Ok(StreamOpener {
            aad: associated_data(&head),
            backend: recipient.backend(),
            cipher: backend::aead(recipient.backend(), &key),
            key,
            header: head.header,
            wrapped_key: head.wrapped_key,
            counter: 0,
            len: 0,
            short_seen: false,
            digest: backend::hasher(),
            plaintext: Zeroizing::new(Vec::new()),
        })
    }

    /// A key derived from the message key for another use named by
    /// `info`, as [`StreamSealer`] derives it (from a random key if the
    /// message key did not unwrap).
    pub(crate) fn derive_key(&self, info: &[u8]) -> Zeroizing<[u8; AEAD_KEY_LEN]> {
        crate::kdf::expand(&self.key, info)
    }

    /// The backend of the recipient's key, which runs this stream's cipher.
    pub(crate) fn backend(&self) -> Backend {
        self.backend
    }

    /// Decrypts the next data chunk, leaving `sealed` untouched (a server
    /// stores it as received). Chunks must come in order; only the last
    /// data chunk may be shorter than a full chunk. The plaintext lives in
    /// one buffer reused for every chunk and zeroized once, when the opener
    /// is dropped.
    pub fn chunk(&mut self, sealed: &[u8]) -> Result<&[u8], OpenError> {
        if self.short_seen || sealed.len() > MAX_SEALED_CHUNK {
            return Err(OpenError::Rejected);
        }
        if !self.cipher.open_into(
            &nonce(self.counter, false),
            &self.aad,
            sealed,
            &mut self.plaintext,
        ) || self.plaintext.is_empty()
        {
            self.plaintext.zeroize();
            return Err(OpenError::Rejected);
        }
        self.digest.update(&self.plaintext);
        self.counted(self.plaintext.len());
        Ok(&self.plaintext)
    }

    /// Counts a data chunk of `len` bytes that authenticated (and was
    /// digested): only the last data chunk may be short.
    fn counted(&mut self, len: usize) {
        self.short_seen = len < STREAM_CHUNK_LEN;
        self.len += len as u64;
        self.counter += 1;
    }

    /// [`StreamOpener::chunk`] where the chunk lies: `sealed` (ciphertext
    /// then tag) is decrypted in place and the plaintext's length returned
    /// (the plaintext is `sealed[..len]`), so a receiver writes it out, or
    /// re-seals it, with no copy. On failure `sealed` holds nothing
    /// decrypted.
    pub fn chunk_in_place(&mut self, sealed: &mut [u8]) -> Result<usize, OpenError> {
        if self.short_seen || sealed.len() > MAX_SEALED_CHUNK {
            return Err(OpenError::Rejected);
        }
        let len = self
            .cipher
            .open_in_place(&nonce(self.counter, false), &self.aad, sealed)
            .filter(|&len| len > 0)
            .ok_or(OpenError::Rejected)?;
        self.digest.update(&sealed[..len]);
        self.counted(len);
        Ok(len)
    }

    /// Bytes of plaintext decrypted so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether no plaintext has been decrypted yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Decrypts the final chunk and checks it closes this stream.
    pub fn finish(self, sealed: &[u8]) -> Result<StreamDecrypted, OpenError> {
        if sealed.len() > MAX_TRAILER_LEN + AEAD_TAG_LEN {
            return Err(OpenError::Rejected);
        }
        let bytes = self
            .cipher
            .open(&nonce(self.counter, true), &self.aad, sealed)
            .ok_or(OpenError::Rejected)?;
        let trailer: Trailer =
            codec::decode::<_, MAX_TRAILER_LEN>(&bytes).map_err(|_| OpenError::Rejected)?;
        if trailer.plaintext_len != self.len || trailer.claims.freshness.len() > MAX_FRESHNESS_LEN {
            return Err(OpenError::Rejected);
        }
        Ok(StreamDecrypted {
            recipient: self.header.recipient,
            wrapped_key: self.wrapped_key,
            claims: trailer.claims,
            digest: self.digest.finalize().into(),
            len: self.len,
        })
    }
}

/// A whole stream decrypted under our key, not yet verified.
#[derive(Debug)]
pub struct StreamDecrypted {
    recipient: Fingerprint,
    wrapped_key: Vec<u8>,
    claims: Claims,
    digest: [u8; HASH_LEN],
    len: u64,
}

/// A verified stream's metadata (its plaintext went by in the chunks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamOpened {
    /// Fingerprint of the key whose signature was verified.
    pub sender: Fingerprint,
    /// The sender's message id.
    pub message_id: MessageId,
    /// The sender's timestamp (seconds since the Unix epoch).
    pub timestamp: u64,
    /// The freshness value it was signed with.
    pub freshness: Vec<u8>,
    /// Plaintext length in bytes.
    pub len: u64,
    /// Digest (BLAKE3) of the plaintext.
    pub plaintext_digest: [u8; HASH_LEN],
}

impl StreamDecrypted {
    /// The fingerprint the sender claims; unauthenticated until verified.
    pub fn claimed_sender(&self) -> Fingerprint {
        self.claims.sender
    }

    /// Verifies the sender's signature over the whole stream.
    pub fn verify(
        self,
        sender: &PublicKey,
        freshness: FreshnessCheck<'_>,
    ) -> Result<StreamOpened, OpenError> {
        self.verify_known(Some(sender), freshness)
    }

    /// [`StreamDecrypted::verify`] for a recipient that may not know the
    /// claimed sender: with `None` it fails after the same work.
    pub fn verify_known(
        self,
        sender: Option<&PublicKey>,
        freshness: FreshnessCheck<'_>,
    ) -> Result<StreamOpened, OpenError> {
        signed::verify(
            &self.claims,
            sender,
            Mode::Hybrid,
            self.recipient,
            &self.wrapped_key,
            self.digest,
            freshness,
        )?;
        Ok(StreamOpened {
            sender: self.claims.sender,
            message_id: self.claims.message_id,
            timestamp: self.claims.timestamp,
            freshness: self.claims.freshness,
            len: self.len,
            plaintext_digest: self.digest,
        })
    }

    pub(crate) fn into_parts(self) -> (Fingerprint, Vec<u8>, Claims, [u8; HASH_LEN]) {
        (self.recipient, self.wrapped_key, self.claims, self.digest)
    }
}

/// Joins a received stream (its encoded head, sealed data chunks and sealed
/// final chunk, as they arrived) into the one hybrid envelope that
/// [`crate::seal`] makes: a short stream can then be kept like any other
/// envelope instead of as a file of its own. Nothing is decrypted or
/// re-sealed; [`crate::decrypt`] checks the result exactly as it would have
/// checked the stream. Fails only if `head` does not decode.
pub fn join(
    head: &[u8],
    data_chunks: Vec<Vec<u8>>,
    final_chunk: Vec<u8>,
) -> Result<Vec<u8>, OpenError> {
    let head: StreamHead =
        codec::decode::<_, MAX_STREAM_HEAD_LEN>(head).map_err(|_| OpenError::Rejected)?;
    let mut chunks = data_chunks;
    chunks.push(final_chunk);
    Ok(super::wire::Envelope {
        header: head.header,
        body: super::wire::Body::Hybrid {
            wrapped_key: head.wrapped_key,
            chunks,
        },
    }
    .to_bytes())
}

/// Builds a hybrid body to `recipient` that carries someone else's `claims`
/// unchanged: what a dishonest recipient could do with a message it received.
#[cfg(test)]
pub(crate) fn forge_body(
    recipient: &PublicKey,
    plaintext: &[u8],
    claims: Claims,
) -> super::wire::Body {
    let (key, head) = fresh_head(recipient).unwrap();
    let (cipher, aad) = (
        backend::aead(recipient.backend(), &key),
        associated_data(&head),
    );
    let mut chunks: Vec<Vec<u8>> = plaintext
        .chunks(STREAM_CHUNK_LEN)
        .enumerate()
        .map(|(i, c)| cipher.seal(&nonce(i as u64, false), &aad, c).unwrap())
        .collect();
    let trailer = codec::encode(&Trailer {
        claims,
        plaintext_len: plaintext.len() as u64,
    });
    chunks.push(
        cipher
            .seal(&nonce(chunks.len() as u64, true), &aad, &trailer)
            .unwrap(),
    );
    super::wire::Body::Hybrid {
        wrapped_key: head.wrapped_key,
        chunks,
    }
}

#[cfg(test)]
mod tests;
