//! Typed errors of the core crate. Opening an envelope has exactly one
//! failure value, so no caller can leak where a forgery was caught.

use std::path::PathBuf;

/// Failure to generate, load or save a key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A key size outside the supported set was requested or found.
    #[error("unsupported RSA key size {bits} bits: use 2048, 3072 or 4096 (3072 is the default)")]
    UnsupportedSize {
        /// The rejected size in bits.
        bits: usize,
    },
    /// A private key file is readable by group or others.
    #[error(
        "private key {} is accessible by others (mode {mode:03o}); run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    InsecurePermissions {
        /// The offending file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A private key path is a symbolic link. Refused rather than followed,
    /// so that the file checked is the file the folder names.
    #[error(
        "private key {} is a symbolic link; put the key file itself there (mode 600)",
        path.display()
    )]
    Symlink {
        /// The link.
        path: PathBuf,
    },
    /// A key path is a FIFO, a device, a folder or a socket.
    #[error("{} is not a regular file; a key must be a plain file", path.display())]
    NotRegularFile {
        /// The offending path.
        path: PathBuf,
    },
    /// A private key file belongs to another user, who could read or
    /// replace it whatever its mode.
    #[error(
        "private key {} belongs to user {owner}, not to user {user} running this program; run `chown {user} {}`",
        path.display(),
        path.display()
    )]
    WrongOwner {
        /// The offending file.
        path: PathBuf,
        /// Its owner's user id.
        owner: u32,
        /// The effective user id of this process.
        user: u32,
    },
    /// Writing would replace an existing key file.
    #[error("{} already exists; refusing to overwrite it (pass --force to replace it)", path.display())]
    AlreadyExists {
        /// The existing file.
        path: PathBuf,
    },
    /// The file holds a public key where a private key is needed.
    #[error("{} holds a public key, but a private key is needed here", path.display())]
    PublicWherePrivateExpected {
        /// The file that was read.
        path: PathBuf,
    },
    /// The file holds a private key where a public key is needed.
    #[error("{} holds a private key, but a public key is expected here; never share private keys", path.display())]
    PrivateWherePublicExpected {
        /// The file that was read.
        path: PathBuf,
    },
    /// The private key file is passphrase-protected and no passphrase
    /// was available.
    #[error(
        "private key {} is passphrase-protected: run on a terminal to be asked for the passphrase, \
         or name a file holding it (mode 600) in CLOAK_PASSPHRASE_FILE",
        path.display()
    )]
    PassphraseRequired {
        /// The encrypted key file.
        path: PathBuf,
    },
    /// The file named to hold a passphrase cannot be used: missing,
    /// unreadable, or not private to this user (the checks a private key
    /// file gets).
    #[error("passphrase file {} (CLOAK_PASSPHRASE_FILE): {reason}", path.display())]
    PassphraseFile {
        /// The passphrase file.
        path: PathBuf,
        /// What is wrong with it, and how to fix it.
        reason: String,
    },
    /// The passphrase did not decrypt the key (or the file is damaged: the
    /// two cannot be told apart).
    #[error("wrong passphrase for private key {}", path.display())]
    WrongPassphrase {
        /// The encrypted key file.
        path: PathBuf,
    },
    /// The encrypted key file asks for more passphrase-hashing work or
    /// memory than a key file may, or for an encryption scheme we refuse.
    #[error("private key {} cannot be decrypted here: {reason}", path.display())]
    UnsupportedEncryption {
        /// The encrypted key file.
        path: PathBuf,
        /// What it asks for, and the limit.
        reason: String,
    },
    /// The file is not a PEM RSA key we understand.
    #[error("{} is not a valid RSA key file: {reason}", path.display())]
    Malformed {
        /// The file that was read.
        path: PathBuf,
        /// What was wrong, for a human.
        reason: String,
    },
    /// Reading or writing the file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A key file that must exist does not.
    #[error("{} not found: {hint}", path.display())]
    Missing {
        /// The file looked for.
        path: PathBuf,
        /// How to create or obtain it.
        hint: String,
    },
    /// The key's public exponent is not 65537.
    #[error("unsupported RSA public exponent: only 65537 is accepted")]
    UnsupportedExponent,
    /// The RSA backend failed to generate or encode a key.
    #[error("RSA key operation failed: {0}")]
    Backend(String),
}

/// Failure to seal an envelope. These depend only on the caller's own
/// inputs, never on secret data, so they may be detailed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The plaintext exceeds the limit of the chosen mode.
    #[error(
        "message of {len} bytes exceeds the {mode} mode limit of {max} bytes{}",
        if *mode == crate::Mode::Asymmetric { "; use hybrid mode for large messages" } else { "" }
    )]
    TooLarge {
        /// The mode that was asked for.
        mode: crate::Mode,
        /// Plaintext length.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// The freshness value is longer than [`crate::limits::MAX_FRESHNESS_LEN`].
    #[error("freshness value of {len} bytes exceeds the limit of {max} bytes")]
    FreshnessTooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A stream data chunk was empty, longer than a chunk, or followed a
    /// shorter (hence final) one: a caller's mistake, caught before sealing.
    #[error(
        "stream data chunk of {len} bytes out of place: chunks hold 1 to {max} bytes and only the last may be shorter"
    )]
    ChunkOutOfPlace {
        /// The chunk's length.
        len: usize,
        /// The chunk size.
        max: usize,
    },
    /// A stream's sender proof was asked for twice: its key and nonce are
    /// fixed by the stream, so a second proof would reuse them.
    #[error("this stream's sender proof was already made; start a new stream")]
    AlreadyProven,
    /// An RSA or AEAD primitive failed (e.g. the RNG).
    #[error("cryptographic operation failed: {0}")]
    Crypto(String),
}

/// Failure to open an envelope.
///
/// Deliberately carries no detail: whether a byte was flipped in a padding
/// block, a tag, a length or a signature, the answer is the same value,
/// returned after the same work, so a remote party cannot use the recipient as
/// a decryption or padding oracle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The envelope was not accepted: not for us, not decryptable, malformed,
    /// stale, of a refused mode, or not signed by the claimed sender.
    #[error("envelope rejected")]
    Rejected,
}

impl From<crate::backend::PrimitiveError> for SealError {
    fn from(e: crate::backend::PrimitiveError) -> Self {
        SealError::Crypto(e.to_string())
    }
}
