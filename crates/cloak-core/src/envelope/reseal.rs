//! Re-sealing a stream to another recipient, chunk by chunk, where each
//! chunk lies: what a server does to deliver a stream it stored sealed to
//! itself. Each stored chunk is decrypted in place and sealed again in the
//! same bytes (a chunk keeps its length), so delivery needs no copy and no
//! allocation per chunk, and the plaintext is digested once: the new
//! stream's signature covers the digest the stored stream's signature was
//! checked against, and is made only after that check.

use super::options::FreshnessCheck;
use super::stream::{StreamDecrypted, StreamEnd, StreamOpened, StreamOpener, StreamSealer};
use crate::error::{OpenError, SealError};
use crate::keys::PublicKey;
use crate::limits::AEAD_TAG_LEN;

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

/// The stored stream's end, decrypted but not verified; the new stream's
/// end cannot be signed before it is.
pub struct ResealEnd<'k> {
    stored: StreamDecrypted,
    sealer: StreamSealer<'k>,
}

/// The stored stream, verified: the new stream's end may now be signed.
pub struct Verified<'k> {
    opened: StreamOpened,
    sealer: StreamSealer<'k>,
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

    /// Decrypts the stored stream's final chunk.
    pub fn finish(self, last: &[u8]) -> Result<ResealEnd<'k>, OpenError> {
        Ok(ResealEnd {
            stored: self.opener.finish(last)?,
            sealer: self.sealer,
        })
    }
}

impl<'k> ResealEnd<'k> {
    /// Verifies the stored stream's signature by `signer` over
    /// `freshness`, as [`StreamDecrypted::verify`] does.
    pub fn verify(
        self,
        signer: &PublicKey,
        freshness: FreshnessCheck<'_>,
    ) -> Result<Verified<'k>, OpenError> {
        Ok(Verified {
            opened: self.stored.verify(signer, freshness)?,
            sealer: self.sealer,
        })
    }
}

impl Verified<'_> {
    /// What the stored stream's signature vouched for.
    pub fn opened(&self) -> &StreamOpened {
        &self.opened
    }

    /// Signs the new stream's end over the plaintext the stored stream's
    /// signature vouched for (its digest, which the opener computed over
    /// exactly the chunks re-sealed), and seals it.
    pub fn sign(self) -> Result<StreamEnd, SealError> {
        self.sealer.sign_end(self.opened.plaintext_digest)
    }
}
