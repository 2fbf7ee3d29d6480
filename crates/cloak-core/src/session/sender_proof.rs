//! The sender proof: the first frame of every sent message shows, before
//! the server spends more than the one private-key operation that reads
//! it or writes a byte of the message, that the sender holds a key, which
//! key, and that it signed for this server, this connection and this very
//! message.
//!
//! The proof is a PSS signature over [`ProofContext`] and the sender's
//! fingerprint, sealed with AES-256-GCM under a key only the server can
//! derive (so the sender's identity and signature never cross the wire in
//! clear): in hybrid mode the proof key is derived from the stream's own
//! message key, so the server's one unwrap serves both; in asymmetric mode
//! the sender wraps a fresh key for it. A proof that cannot be read still
//! costs the server the same signature check as one that can (against a
//! stand-in key), so nobody learns by timing where a forgery was caught or
//! which keys the server authorizes.
//!
//! The proof does not replace the signature inside the envelope: that one
//! covers the whole plaintext and is kept with the message, so the message
//! can be verified again at rest.

use bincode::{Decode, Encode};
use zeroize::Zeroizing;

use super::messages::{Challenge, ClientMessage};
use crate::backend::{self, Backend};
use crate::codec;
use crate::envelope::Mode;
use crate::envelope::stream::{StreamOpener, StreamSealer};
use crate::error::SealError;
use crate::fingerprint::Fingerprint;
use crate::keys::{KeyPair, PublicKey};
use crate::limits::{
    AEAD_KEY_LEN, AEAD_NONCE_LEN, HASH_LEN, MAX_SEALED_PROOF_LEN, PROOF_KEY_WRAP_LABEL,
    SENDER_PROOF_KEY_INFO, SENDER_PROOF_LABEL,
};
use crate::primitives;

/// The key a proof is sealed under, and the backend of the RSA key that
/// carried it. Used for one proof only, so its nonce is fixed.
pub struct ProofKey(Zeroizing<[u8; AEAD_KEY_LEN]>, Backend);

impl std::fmt::Debug for ProofKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProofKey(..)")
    }
}

/// The nonce of the one message a proof key seals.
const PROOF_NONCE: [u8; AEAD_NONCE_LEN] = [0; AEAD_NONCE_LEN];

impl ProofKey {
    /// Hybrid mode, sending: derived from the stream's message key, once
    /// per stream (a second proof under the same key and nonce would leak
    /// both plaintexts' XOR and the authentication key).
    pub fn of_sealer(sealer: &mut StreamSealer<'_>) -> Result<Self, SealError> {
        let backend = sealer.backend();
        Ok(ProofKey(
            sealer.derive_key_once(SENDER_PROOF_KEY_INFO)?,
            backend,
        ))
    }

    /// Hybrid mode, receiving: derived from the unwrapped message key (a
    /// random one if it did not unwrap, so the proof then fails to open).
    pub fn of_opener(opener: &StreamOpener) -> Self {
        ProofKey(opener.derive_key(SENDER_PROOF_KEY_INFO), opener.backend())
    }

    /// Asymmetric mode, sending: a fresh key, and its wrapping to
    /// `recipient` (RSA-OAEP-SHA256 with its own label), which travels
    /// beside the proof.
    pub fn wrap_fresh(recipient: &PublicKey) -> Result<(Self, Vec<u8>), SealError> {
        let mut key = Zeroizing::new([0u8; AEAD_KEY_LEN]);
        backend::fill_random(key.as_mut());
        let wrapped = primitives::oaep_encrypt(recipient, PROOF_KEY_WRAP_LABEL, key.as_ref())
            .map_err(SealError::from)?;
        Ok((
            ProofKey(
                crate::kdf::expand(&key, SENDER_PROOF_KEY_INFO),
                recipient.backend(),
            ),
            wrapped,
        ))
    }

    /// Asymmetric mode, receiving: the server's one private-key operation
    /// before the sender is known. A key that does not unwrap becomes a
    /// random one, so the failure shows only as the proof not opening,
    /// like a forged proof (no padding oracle).
    pub fn unwrap(recipient: &KeyPair, wrapped: &[u8]) -> Self {
        let mut key = Zeroizing::new([0u8; AEAD_KEY_LEN]);
        backend::fill_random(key.as_mut());
        if wrapped.len() == recipient.public().modulus_len()
            && let Ok(unwrapped) =
                primitives::oaep_decrypt(recipient, PROOF_KEY_WRAP_LABEL, wrapped)
            && unwrapped.len() == AEAD_KEY_LEN
        {
            key.copy_from_slice(&unwrapped);
        }
        ProofKey(
            crate::kdf::expand(&key, SENDER_PROOF_KEY_INFO),
            recipient.backend(),
        )
    }
}

/// What a proof is bound to: the mode, the server, the connection (its
/// challenge) and the message (a digest of the bytes the proof travels
/// with). A proof made for anything else does not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofContext {
    /// The mode of the message.
    pub mode: Mode,
    /// The server's fingerprint.
    pub server: Fingerprint,
    /// The challenge in the server's hello on this connection.
    pub challenge: Challenge,
    /// SHA-256 of the message's first bytes (see the constructors).
    pub subject: [u8; HASH_LEN],
}

impl ProofContext {
    /// A hybrid stream: the subject is SHA-256 of its encoded head, which
    /// holds the wrapped message key, and so commits to every chunk.
    pub fn stream(server: Fingerprint, challenge: &Challenge, head: &[u8]) -> Self {
        ProofContext {
            mode: Mode::Hybrid,
            server,
            challenge: *challenge,
            subject: backend::sha256(head),
        }
    }

    /// An asymmetric envelope: the subject is SHA-256 of the wrapped proof
    /// key followed by the encoded envelope (the wrapped key's length is
    /// the server's modulus length, so the split is unambiguous).
    pub fn envelope(
        server: Fingerprint,
        challenge: &Challenge,
        wrapped_key: &[u8],
        envelope: &[u8],
    ) -> Self {
        ProofContext {
            mode: Mode::Asymmetric,
            server,
            challenge: *challenge,
            subject: backend::sha256_parts(&[wrapped_key, envelope]),
        }
    }

    /// The bytes the sender signs.
    fn signed_bytes(&self, sender: Fingerprint) -> Vec<u8> {
        codec::encode(&(
            SENDER_PROOF_LABEL,
            self.mode,
            self.server,
            self.challenge,
            sender,
            self.subject,
        ))
    }
}

/// The sealed contents of a proof.
#[derive(Debug, Encode, Decode)]
struct ProofInner {
    sender: Fingerprint,
    signature: Vec<u8>,
}

/// Signs `context` as `sender` and seals the proof under `key`.
pub fn seal(
    key: &ProofKey,
    sender: &KeyPair,
    context: &ProofContext,
) -> Result<Vec<u8>, SealError> {
    let signature = primitives::pss_sign(sender, &context.signed_bytes(sender.fingerprint()))
        .map_err(SealError::from)?;
    let inner = codec::encode(&ProofInner {
        sender: sender.fingerprint(),
        signature,
    });
    backend::aead(key.1, &key.0)
        .seal(&PROOF_NONCE, &context.subject, &inner)
        .map_err(SealError::from)
}

/// A proof as opened: who it claims signed, not yet verified.
#[derive(Debug)]
pub struct ClaimedSender {
    sender: Fingerprint,
    signature: Vec<u8>,
    signed: Vec<u8>,
    readable: bool,
}

/// Opens a proof sealed under `key` for `context`. A proof that does not
/// open (altered, sealed under another key, or not a proof) gives a claim
/// that fails [`ClaimedSender::verify`] after the same work as one that
/// opened; `signature_len` (the server's own modulus length is a fair
/// guess) sets the size of that work.
pub fn open(
    key: &ProofKey,
    sealed: &[u8],
    context: &ProofContext,
    signature_len: usize,
) -> ClaimedSender {
    let inner = (sealed.len() <= MAX_SEALED_PROOF_LEN)
        .then(|| backend::aead(key.1, &key.0).open(&PROOF_NONCE, &context.subject, sealed))
        .flatten()
        .and_then(|plain| codec::decode::<ProofInner, MAX_SEALED_PROOF_LEN>(&plain).ok());
    let (sender, signature, readable) = match inner {
        Some(inner) => (inner.sender, inner.signature, true),
        None => (Fingerprint([0; HASH_LEN]), vec![0; signature_len], false),
    };
    ClaimedSender {
        sender,
        signature,
        signed: context.signed_bytes(sender),
        readable,
    }
}

impl ClaimedSender {
    /// The fingerprint the proof names (all zeros if it did not open).
    pub fn sender(&self) -> Fingerprint {
        self.sender
    }

    /// Whether the proof opened at all (for the server's log only).
    pub fn opened(&self) -> bool {
        self.readable
    }

    /// Whether the proof was signed, for the context it was opened with,
    /// by `key`, which must be the key of the fingerprint it names. With
    /// no key (the sender is unknown) or an unopened proof it is `false`,
    /// after the same work (see `standin`).
    pub fn verify(&self, key: Option<&PublicKey>) -> bool {
        let key = key.filter(|_| self.readable);
        let named = key.is_some_and(|key| key.fingerprint() == self.sender);
        crate::standin::pss_verify(key, &self.signed, &self.signature) & named
    }
}

/// The first frame of an asymmetric send: `envelope` (sealed to `server`
/// over `challenge`) with a proof by `sender`, under a fresh key wrapped
/// to the server.
pub fn prove_envelope(
    sender: &KeyPair,
    server: &PublicKey,
    challenge: &Challenge,
    envelope: Vec<u8>,
) -> Result<ClientMessage, SealError> {
    let (key, wrapped_key) = ProofKey::wrap_fresh(server)?;
    let context = ProofContext::envelope(server.fingerprint(), challenge, &wrapped_key, &envelope);
    Ok(ClientMessage::Send {
        proof: seal(&key, sender, &context)?,
        wrapped_key,
        envelope,
    })
}

/// The first frame of a hybrid stream: its `head` (as the sealer made it)
/// with a proof by `sender` under a key derived from the stream's key.
pub fn prove_stream(
    sealer: &mut StreamSealer<'_>,
    sender: &KeyPair,
    server: Fingerprint,
    challenge: &Challenge,
    head: Vec<u8>,
) -> Result<ClientMessage, SealError> {
    let context = ProofContext::stream(server, challenge, &head);
    Ok(ClientMessage::SendStream {
        proof: seal(&ProofKey::of_sealer(sealer)?, sender, &context)?,
        head,
    })
}

/// The server's side of [`prove_envelope`]: unwraps the proof key (its
/// one private-key operation before it knows the sender) and opens the
/// proof. Verify the claim before decrypting a single block.
pub fn claim_envelope(
    server: &KeyPair,
    challenge: &Challenge,
    wrapped_key: &[u8],
    proof: &[u8],
    envelope: &[u8],
) -> ClaimedSender {
    let key = ProofKey::unwrap(server, wrapped_key);
    let context = ProofContext::envelope(server.fingerprint(), challenge, wrapped_key, envelope);
    open(&key, proof, &context, server_signature_len(server))
}

/// The server's side of [`prove_stream`], once `opener` has unwrapped the
/// stream's key. Verify the claim before reading a single chunk.
pub fn claim_stream(
    server: &KeyPair,
    opener: &StreamOpener,
    challenge: &Challenge,
    head: &[u8],
    proof: &[u8],
) -> ClaimedSender {
    let context = ProofContext::stream(server.fingerprint(), challenge, head);
    open(
        &ProofKey::of_opener(opener),
        proof,
        &context,
        server_signature_len(server),
    )
}

/// The size of the stand-in work for a proof that does not open: the
/// server's own modulus length, the most likely size of a client's key.
fn server_signature_len(server: &KeyPair) -> usize {
    server.public().modulus_len()
}

#[cfg(test)]
mod tests;
