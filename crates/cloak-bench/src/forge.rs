//! Hostile requests, built the way a peer holding only the server's PUBLIC
//! key (which every client has) can build them: the most unauthenticated
//! work each mode lets it ask of a server, to measure what that work costs.
//!
//! cloak-core seals only honest envelopes and keeps its wire structures
//! private, so forged envelopes are encoded here on tuples that mirror
//! `crates/cloak-core/src/envelope/wire.rs` (as the hostile-input tests
//! do). The tests at the end check the mirror against what the library
//! seals and opens, so a change of layout or limit fails them instead of
//! quietly measuring garbage.

use anyhow::Context;
use clap::ValueEnum;
use cloak_core::codec;
use cloak_core::envelope::stream::{MAX_SEALED_CHUNK, StreamSealer};
use cloak_core::limits::{
    ASYMMETRIC_BLOCK_LABEL, DEFAULT_MAX_ASYMMETRIC_PLAINTEXT, ENVELOPE_VERSION, oaep_block_capacity,
};
use cloak_core::session::ClientMessage;
use cloak_core::session::messages::encode_frame_into;
use cloak_core::session::{proofs, sender_proof};
use cloak_core::{KeyPair, Mode, PublicKey, SealOptions};
use rand::RngExt;
use rsa::pkcs8::DecodePublicKey;

/// `Mode`'s variant indices in the encoding (asymmetric, hybrid); the body
/// enum uses the same ones.
const ASYMMETRIC: u32 = 0;
const HYBRID: u32 = 1;

/// An asymmetric envelope as it travels: version, mode, recipient, body
/// variant, blocks.
type AsymmetricWire = (u16, u32, [u8; 32], u32, Vec<Vec<u8>>);
/// A stream head: version, mode, recipient, wrapped key.
type HeadWire = (u16, u32, [u8; 32], Vec<u8>);

/// cloak-core's bound on an asymmetric inner encoding beyond its plaintext
/// (`INNER_OVERHEAD` in `envelope/asymmetric.rs`, private there).
const INNER_OVERHEAD: usize = 1024;

/// Freshness for forged signatures. The server checks a stranger's
/// signature (its sender proof's too) against a stand-in key, never its
/// freshness, so one value serves every connection and the requests can be
/// built once.
const ANY_FRESHNESS: [u8; 32] = [7; 32];

/// A sealed sender proof's length for a 2048-bit key: fingerprint, signature
/// with its length, tag (see `MAX_SEALED_PROOF_LEN`).
const JUNK_PROOF_LEN: usize = 32 + 3 + 256 + 16;

/// The request kinds, each the worst of its sort that the bench knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// Asymmetric `Send`, the most blocks the server accepts, each random
    /// bytes below the modulus (fails OAEP), behind a junk sender proof
    /// whose wrapped key is random bytes below the modulus.
    AsymRandom,
    /// The same count of blocks, each a valid OAEP encryption to the
    /// server of random bytes, behind a junk proof.
    AsymValid,
    /// A well-formed asymmetric envelope of the most blocks the server
    /// accepts, sealed and signed by a key the server does not authorize,
    /// with a well-formed sender proof by that key: the proof opens and
    /// names the stranger.
    AsymUnknown,
    /// A stream head whose wrapped key is random bytes below the modulus,
    /// a junk proof, then one full chunk of junk.
    HybridJunkKey,
    /// A stream head wrapping a real AES key to the server, a junk proof,
    /// valid chunks, and a junk final chunk.
    HybridRealKey,
    /// A whole valid stream sealed and signed by a key the server does
    /// not authorize, with that key's well-formed sender proof.
    HybridUnknown,
}

impl Kind {
    /// The name used on the command line and in the output.
    pub fn name(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default()
    }
}

/// The server, as a stranger knows it: its public key, in cloak-core's
/// form (fingerprint, sealing) and in the rsa crate's (raw OAEP).
pub struct Target {
    public: PublicKey,
    rsa: rsa::PublicKey,
}

impl Target {
    pub fn new(public: PublicKey) -> anyhow::Result<Self> {
        let pem = public.to_pem()?;
        let rsa = rsa::PublicKey::from_public_key_pem(&pem).context("server public key")?;
        Ok(Target { public, rsa })
    }

    fn modulus_len(&self) -> usize {
        self.public.bits() / 8
    }

    fn fingerprint(&self) -> [u8; 32] {
        self.public.fingerprint().0
    }
}

/// The most blocks a server with the default asymmetric limit decrypts
/// (cloak-core's `max_blocks`): 210 at 3072 bits.
pub fn max_blocks(modulus_len: usize) -> usize {
    (DEFAULT_MAX_ASYMMETRIC_PLAINTEXT + INNER_OVERHEAD).div_ceil(oaep_block_capacity(modulus_len))
}

/// The bytes of one request of `kind` after the hello: whole frames, ready
/// to write. `size` is the text length of the hybrid kinds' streams.
/// `stranger` is a key the server does not authorize.
pub fn request(
    kind: Kind,
    target: &Target,
    stranger: &KeyPair,
    size: usize,
) -> anyhow::Result<Vec<u8>> {
    let blocks = max_blocks(target.modulus_len());
    let mut frames = Vec::new();
    match kind {
        Kind::AsymRandom => send(&mut frames, target, random_blocks(target, blocks)),
        Kind::AsymValid => send(&mut frames, target, valid_blocks(target, blocks)?),
        Kind::AsymUnknown => {
            let envelope = sealed_with_blocks(stranger, target, blocks)?;
            let first =
                sender_proof::prove_envelope(stranger, &target.public, &ANY_FRESHNESS, envelope)?;
            push(&mut frames, first);
        }
        Kind::HybridJunkKey => {
            let head = codec::encode(&junk_head(target));
            let proof = random_bytes(JUNK_PROOF_LEN);
            push(&mut frames, ClientMessage::SendStream { head, proof });
            let data = random_bytes(MAX_SEALED_CHUNK);
            push(&mut frames, ClientMessage::Chunk { data });
        }
        Kind::HybridRealKey => stream(&mut frames, stranger, target, size, false)?,
        Kind::HybridUnknown => stream(&mut frames, stranger, target, size, true)?,
    }
    Ok(frames)
}

fn push(frames: &mut Vec<u8>, message: ClientMessage) {
    encode_frame_into(&message, frames);
}

/// An asymmetric `Send` of `blocks` behind a junk sender proof.
fn send(frames: &mut Vec<u8>, target: &Target, (recipient, blocks): ([u8; 32], Vec<Vec<u8>>)) {
    let wire: AsymmetricWire = (ENVELOPE_VERSION, ASYMMETRIC, recipient, ASYMMETRIC, blocks);
    let envelope = codec::encode(&wire);
    push(
        frames,
        ClientMessage::Send {
            wrapped_key: below_modulus(target.modulus_len()),
            proof: random_bytes(JUNK_PROOF_LEN),
            envelope,
        },
    );
}

fn random_bytes(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    rand::rng().fill(&mut bytes[..]);
    bytes
}

/// Random bytes of the modulus length below the modulus (a leading zero
/// byte), so that the server's private-key operation runs on them before
/// OAEP decoding fails.
fn below_modulus(modulus_len: usize) -> Vec<u8> {
    let mut bytes = random_bytes(modulus_len);
    bytes[0] = 0;
    bytes
}

fn random_blocks(target: &Target, count: usize) -> ([u8; 32], Vec<Vec<u8>>) {
    let k = target.modulus_len();
    let blocks = (0..count).map(|_| below_modulus(k)).collect();
    (target.fingerprint(), blocks)
}

/// Block `index` of `count`'s OAEP label, as `envelope/asymmetric.rs`
/// makes it.
fn block_label(index: usize, count: usize) -> Vec<u8> {
    let mut label = ASYMMETRIC_BLOCK_LABEL.to_vec();
    label.extend_from_slice(&(index as u32).to_be_bytes());
    label.extend_from_slice(&(count as u32).to_be_bytes());
    label
}

/// Full blocks of random plaintext, each valid OAEP under its label: a
/// public-key operation each for us, a private-key one each for the server.
fn valid_blocks(target: &Target, count: usize) -> anyhow::Result<([u8; 32], Vec<Vec<u8>>)> {
    let capacity = oaep_block_capacity(target.modulus_len());
    let blocks = (0..count)
        .map(|i| {
            let padding = rsa::Oaep::<sha2::Sha256>::new_with_label(block_label(i, count));
            target
                .rsa
                .encrypt(&mut rand::rng(), padding, &random_bytes(capacity))
                .context("OAEP encryption")
        })
        .collect::<anyhow::Result<_>>()?;
    Ok((target.fingerprint(), blocks))
}

fn block_count(envelope: &[u8]) -> anyhow::Result<usize> {
    let (.., blocks): AsymmetricWire =
        codec::decode::<_, { cloak_core::limits::MAX_ENVELOPE_LEN }>(envelope)
            .context("decoding our own asymmetric envelope")?;
    Ok(blocks.len())
}

/// A stranger's sealed asymmetric envelope of a receipt key and a text,
/// of exactly `blocks` blocks: the plaintext length is searched for, since
/// the inner encoding's overhead depends on the key and the lengths.
fn sealed_with_blocks(
    stranger: &KeyPair,
    target: &Target,
    blocks: usize,
) -> anyhow::Result<Vec<u8>> {
    let options = SealOptions {
        max_asymmetric_plaintext: usize::MAX,
        ..SealOptions::default()
    };
    let seal = |len: usize| -> anyhow::Result<Vec<u8>> {
        let mut plaintext = proofs::new_receipt_key().to_vec();
        plaintext.resize(len.max(plaintext.len()), b'x');
        let sealed = cloak_core::seal(
            stranger,
            &target.public,
            Mode::Asymmetric,
            &ANY_FRESHNESS,
            &plaintext,
            &options,
        )?;
        Ok(sealed.bytes)
    };
    // The smallest plaintext that needs `blocks` blocks.
    let (mut low, mut high) = (0, blocks * oaep_block_capacity(target.modulus_len()));
    while low < high {
        let mid = (low + high) / 2;
        if block_count(&seal(mid)?)? < blocks {
            low = mid + 1;
        } else {
            high = mid;
        }
    }
    let envelope = seal(low)?;
    anyhow::ensure!(
        block_count(&envelope)? == blocks,
        "no plaintext seals to {blocks} blocks"
    );
    Ok(envelope)
}

fn junk_head(target: &Target) -> HeadWire {
    let wrapped_key = below_modulus(target.modulus_len());
    (ENVELOPE_VERSION, HYBRID, target.fingerprint(), wrapped_key)
}

/// A stream of a receipt key and `size` bytes of text sealed by `stranger`
/// (a real AES key, wrapped to the server), with the stranger's proof and
/// ending with its signed final chunk when `signed`, else with a junk
/// proof and junk final chunk.
fn stream(
    frames: &mut Vec<u8>,
    stranger: &KeyPair,
    target: &Target,
    size: usize,
    signed: bool,
) -> anyhow::Result<()> {
    let (mut sealer, head) = StreamSealer::new(
        stranger,
        &target.public,
        &ANY_FRESHNESS,
        &SealOptions::default(),
    )?;
    let first = if signed {
        sender_proof::prove_stream(
            &mut sealer,
            stranger,
            target.public.fingerprint(),
            &ANY_FRESHNESS,
            head,
        )?
    } else {
        ClientMessage::SendStream {
            head,
            proof: random_bytes(JUNK_PROOF_LEN),
        }
    };
    push(frames, first);
    let mut plaintext = proofs::new_receipt_key().to_vec();
    plaintext.resize(plaintext.len() + size, b'x');
    let chunks = sealer.push(&plaintext)?;
    let end = sealer.finish()?;
    for data in chunks.into_iter().chain(end.last_data) {
        push(frames, ClientMessage::Chunk { data });
    }
    let data = if signed {
        end.final_chunk
    } else {
        random_bytes(end.final_chunk.len())
    };
    push(frames, ClientMessage::End { data });
    Ok(())
}

#[cfg(test)]
mod tests {
    use cloak_core::{OpenError, OpenOptions};

    use super::*;

    fn keys() -> (KeyPair, Target, KeyPair) {
        let server = KeyPair::generate(2048).unwrap();
        let target = Target::new(server.public().clone()).unwrap();
        (server, target, KeyPair::generate(2048).unwrap())
    }

    fn envelope_of(frames: &[u8]) -> Vec<u8> {
        let payload = &frames[4 + 2..];
        let (variant, _, _, envelope): (u32, Vec<u8>, Vec<u8>, Vec<u8>) =
            codec::decode::<_, { cloak_core::limits::MAX_FRAME_LEN }>(payload).unwrap();
        assert_eq!(variant, 0, "a Send");
        envelope
    }

    #[test]
    fn the_asymmetric_mirror_matches_sealed_envelopes() {
        let (server, target, stranger) = keys();
        let sealed = cloak_core::seal(
            &stranger,
            server.public(),
            Mode::Asymmetric,
            &ANY_FRESHNESS,
            b"mirror",
            &SealOptions::default(),
        )
        .unwrap();
        let (version, mode, recipient, body, blocks): AsymmetricWire =
            codec::decode::<_, { cloak_core::limits::MAX_ENVELOPE_LEN }>(&sealed.bytes).unwrap();
        assert_eq!(
            (version, mode, body),
            (ENVELOPE_VERSION, ASYMMETRIC, ASYMMETRIC)
        );
        assert_eq!(recipient, target.fingerprint());
        let mut frames = Vec::new();
        send(&mut frames, &target, (recipient, blocks));
        assert_eq!(envelope_of(&frames), sealed.bytes);
    }

    #[test]
    fn the_head_mirror_matches_sealed_heads() {
        let (server, target, stranger) = keys();
        let (_, head) =
            StreamSealer::new(&stranger, server.public(), &[], &SealOptions::default()).unwrap();
        let (version, mode, recipient, wrapped_key): HeadWire =
            codec::decode::<_, { cloak_core::limits::MAX_STREAM_HEAD_LEN }>(&head).unwrap();
        assert_eq!((version, mode), (ENVELOPE_VERSION, HYBRID));
        assert_eq!(recipient, target.fingerprint());
        assert_eq!(wrapped_key.len(), target.modulus_len());
    }

    /// `max_blocks` blocks decrypt and verify as the stranger's; one more
    /// is refused before any work.
    #[test]
    fn the_server_takes_max_blocks_and_no_more() {
        let (server, target, stranger) = keys();
        let most = max_blocks(target.modulus_len());
        let envelope = envelope_of(&request(Kind::AsymUnknown, &target, &stranger, 0).unwrap());
        assert_eq!(block_count(&envelope).unwrap(), most);
        let decrypted = cloak_core::decrypt(&server, &envelope, &OpenOptions::default()).unwrap();
        assert_eq!(decrypted.claimed_sender(), stranger.fingerprint());
        let one_more = sealed_with_blocks(&stranger, &target, most + 1).unwrap();
        let refused = cloak_core::decrypt(&server, &one_more, &OpenOptions::default());
        assert_eq!(refused.unwrap_err(), OpenError::Rejected);
    }

    #[test]
    fn valid_blocks_decrypt_under_their_labels() {
        use rsa::pkcs8::{EncodePrivateKey, LineEnding};
        let private = rsa::PrivateKey::new(&mut rand::rng(), 2048).unwrap();
        let pem = private.to_pkcs8_pem(LineEnding::LF).unwrap();
        let server = KeyPair::from_pem(&pem, std::path::Path::new("test key")).unwrap();
        let target = Target::new(server.public().clone()).unwrap();
        let (_, blocks) = valid_blocks(&target, 3).unwrap();
        for (i, block) in blocks.iter().enumerate() {
            let padding = rsa::Oaep::<sha2::Sha256>::new_with_label(block_label(i, 3));
            let opened = private.decrypt_blinded(&mut rand::rng(), padding, block);
            assert!(opened.is_ok(), "block {i} does not open");
        }
    }
}
