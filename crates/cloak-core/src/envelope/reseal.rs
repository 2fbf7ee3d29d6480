//! Re-sealing a stream to another recipient, chunk by chunk, where each
//! chunk lies: what a server does to deliver a stream it stored sealed to
//! itself. Each stored chunk is decrypted in place and sealed again in the
//! same bytes (a chunk keeps its length), so delivery needs no copy and no
//! allocation per chunk, and the plaintext is digested once: the new
//! stream's signature covers the digest the stored stream's signature was
//! checked against, and is made only after that check.

use super::stream::{StreamDecrypted, StreamEnd, StreamOpened, StreamOpener, StreamSealer};
use crate::error::{OpenError, SealError};
use crate::limits::{AEAD_TAG_LEN, HASH_LEN};

/// A stream being re-sealed: the stored stream's opener and the new
/// stream's sealer, in step.
pub struct Reseal<'k> {
    opener: StreamOpener,
    sealer: StreamSealer<'k>,
}

impl std::fmt::Debug for Reseal<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reseal").finish_non_exhaustive()
    }
}

/// The new stream's end, signable once the stored stream verified.
pub struct ResealEnd<'k> {
    sealer: StreamSealer<'k>,
    digest: [u8; HASH_LEN],
}

impl<'k> Reseal<'k> {
    /// Pairs an opener and a sealer that have not yet handled a chunk.
    pub fn new(opener: StreamOpener, sealer: StreamSealer<'k>) -> Self {
        assert!(
            opener.is_empty() && sealer.is_fresh(),
            "a relay starts at the first chunk"
        );
        Reseal { opener, sealer }
    }

    /// Turns `chunk`, a sealed data chunk of the stored stream (ciphertext
    /// then tag), into the same chunk of the new stream, in place.
    pub fn chunk(&mut self, chunk: &mut [u8]) -> Result<(), OpenError> {
        let len = self.opener.chunk_in_place(chunk)?;
        let (plaintext, tag) = chunk.split_at_mut(len);
        // The opener took the same chunk rules, so this cannot refuse.
        let sealed = self
            .sealer
            .seal_unhashed_in_place(plaintext)
            .map_err(|_| OpenError::Rejected)?;
        tag[..AEAD_TAG_LEN].copy_from_slice(&sealed);
        Ok(())
    }

    /// Decrypts the stored stream's final chunk: its signature is for the
    /// caller to verify, then to pass to [`ResealEnd::sign`].
    pub fn finish(self, last: &[u8]) -> Result<(StreamDecrypted, ResealEnd<'k>), OpenError> {
        let digest = self.opener.digest_so_far();
        let decrypted = self.opener.finish(last)?;
        Ok((
            decrypted,
            ResealEnd {
                sealer: self.sealer,
                digest,
            },
        ))
    }
}

impl ResealEnd<'_> {
    /// Signs the new stream's end over the plaintext `verified` vouches
    /// for: the stored stream, verified by the caller.
    pub fn sign(self, verified: &StreamOpened) -> Result<StreamEnd, SealError> {
        if verified.plaintext_digest != self.digest {
            return Err(SealError::Crypto(
                "the verified stream is not the one re-sealed".into(),
            ));
        }
        self.sealer.sign_end(self.digest)
    }
}
