//! The one error of the crypto backends.

/// A primitive failed. Says which operation, never why: callers on the
/// open path must treat every failure alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PrimitiveError {
    /// RSA-OAEP encryption failed (a message too long for the key).
    #[error("RSA-OAEP encryption failed")]
    Encrypt,
    /// RSA-OAEP decryption failed, for whatever reason: one error for
    /// every cause, so no caller can become a padding oracle.
    #[error("decryption failed")]
    Decrypt,
    /// RSA-PSS signing failed.
    #[error("RSA-PSS signing failed")]
    Sign,
    /// AES-256-GCM encryption failed (a message beyond GCM's limit).
    #[error("AES-GCM encryption failed")]
    Seal,
}
