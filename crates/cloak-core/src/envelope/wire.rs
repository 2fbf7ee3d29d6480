//! The envelope's wire structures and their encoding. No cryptography here:
//! this module only says what the bytes are.

use bincode::{Decode, Encode};

use crate::backend;
use crate::codec;
use crate::fingerprint::Fingerprint;
use crate::limits::MAX_ENVELOPE_LEN;

/// How an envelope is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
#[non_exhaustive]
pub enum Mode {
    /// Part 1: plaintext and signature split into RSA-OAEP blocks.
    Asymmetric,
    /// Part 2: AES-256-GCM under a fresh key wrapped with RSA-OAEP.
    Hybrid,
}

impl Mode {
    /// The lower-case name used on the command line and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Asymmetric => "asymmetric",
            Mode::Hybrid => "hybrid",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad` honours width and alignment, for tables.
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "asymmetric" => Ok(Mode::Asymmetric),
            "hybrid" => Ok(Mode::Hybrid),
            other => Err(format!("unknown mode `{other}`: use asymmetric or hybrid")),
        }
    }
}

/// A random 128-bit message identifier, chosen by the sender and signed.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Encode, Decode)]
pub struct MessageId(pub [u8; 16]);

impl std::fmt::Display for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl std::fmt::Debug for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MessageId({self})")
    }
}

impl MessageId {
    /// A fresh random id, chosen before a message's first attempt so that
    /// retries reuse it.
    pub fn random() -> Self {
        let mut id = [0u8; 16];
        backend::fill_random(&mut id);
        MessageId(id)
    }
}

/// A message id that is not 32 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a message id (32 hex digits)")]
pub struct ParseMessageIdError(pub String);

/// Parses the 32 lowercase or uppercase hex digits [`MessageId`] displays.
impl std::str::FromStr for MessageId {
    type Err = ParseMessageIdError;

    fn from_str(hex: &str) -> Result<Self, Self::Err> {
        let invalid = || ParseMessageIdError(hex.to_owned());
        if hex.len() != 32 || !hex.is_ascii() {
            return Err(invalid());
        }
        let mut id = [0u8; 16];
        for (i, byte) in id.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| invalid())?;
        }
        Ok(MessageId(id))
    }
}

/// The cleartext header. Everything in it is also authenticated: the mode
/// and recipient by the signature, the whole header by AES-GCM's associated
/// data in hybrid mode.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub(crate) struct Header {
    pub version: u16,
    pub mode: Mode,
    /// Lets a recipient with several keys pick the right one, and reject an
    /// envelope meant for someone else before any private-key operation.
    pub recipient: Fingerprint,
}

/// The encrypted part.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub(crate) enum Body {
    Asymmetric {
        /// RSA-OAEP ciphertexts, each exactly the modulus length, of the
        /// encoded [`Inner`].
        blocks: Vec<Vec<u8>>,
    },
    Hybrid {
        /// The AES key, RSA-OAEP encrypted to the recipient.
        wrapped_key: Vec<u8>,
        /// The STREAM: AES-256-GCM data chunks, then the final chunk that
        /// holds the encoded [`Trailer`] (see `stream`).
        chunks: Vec<Vec<u8>>,
    },
}

/// A whole envelope as it travels.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub(crate) struct Envelope {
    pub header: Header,
    pub body: Body,
}

impl Envelope {
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        codec::decode::<Self, MAX_ENVELOPE_LEN>(bytes).ok()
    }
}

/// The start of a hybrid stream: everything needed to begin decrypting.
/// Its SHA-256 is the associated data of every chunk.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub(crate) struct StreamHead {
    pub header: Header,
    pub wrapped_key: Vec<u8>,
}

/// What the sender claims about a message, with its signature; always
/// encrypted. Keeping the sender's fingerprint and the signature inside hides
/// who wrote to whom from an eavesdropper and stops a guessed plaintext from
/// being confirmed against a cleartext signature.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub(crate) struct Claims {
    pub sender: Fingerprint,
    pub message_id: MessageId,
    pub timestamp: u64,
    pub freshness: Vec<u8>,
    pub signature: Vec<u8>,
}

/// Asymmetric mode's encrypted content: the claims and the plaintext.
#[derive(Clone, PartialEq, Eq, Encode, Decode)]
pub(crate) struct Inner {
    pub claims: Claims,
    pub plaintext: Vec<u8>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.plaintext);
    }
}

/// Hybrid mode's final chunk: the claims and the plaintext length (the
/// plaintext itself travels in the data chunks before it).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub(crate) struct Trailer {
    pub claims: Claims,
    pub plaintext_len: u64,
}
