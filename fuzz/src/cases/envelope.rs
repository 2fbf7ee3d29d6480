//! Envelopes, stream heads and stream chunks (docs/PROTOCOL.md §3), as
//! cloak-core's `wire` module lays them out: `Header { version: u16, mode,
//! recipient: [u8; 32] }`, then `Body::Asymmetric { blocks }` or
//! `Body::Hybrid { wrapped_key, chunks }`; a stream head is the header and
//! the wrapped key; a trailer is the claims and the plaintext length.

use arbitrary::Arbitrary;
use cloak_core::limits::{AEAD_KEY_LEN, AEAD_TAG_LEN, ENVELOPE_VERSION, oaep_block_capacity};

use super::{Blob, Items, List, Route};
use crate::seal::{self, StreamKey};
use crate::wire::{Writer, encoded};

/// `Mode`'s (and `Body`'s) variant indices.
const ASYMMETRIC: u32 = 0;
const HYBRID: u32 = 1;

/// Largest inner message sealed into asymmetric blocks: each block costs
/// the opener an RSA private-key operation, a millisecond, so this keeps a
/// run at a few hundred inputs a second. The block-count limit itself is
/// reached by `Blocks::Raw`, which costs nothing to build.
const MAX_SEALED_INNER: usize = 4096;

/// The cleartext header.
#[derive(Arbitrary, Debug)]
pub struct HeaderCase {
    /// The version, if not the current one.
    pub version: Option<u16>,
    /// The mode's variant index, if not the body's.
    pub mode: Option<u32>,
    /// The recipient's fingerprint, if not the route's.
    pub recipient: Option<[u8; 32]>,
}

impl HeaderCase {
    fn write(&self, w: &mut Writer, route: Route, mode: u32) -> Option<()> {
        w.u16(self.version.unwrap_or(ENVELOPE_VERSION))?;
        w.u32(self.mode.unwrap_or(mode))?;
        w.raw(&self.recipient.unwrap_or(route.to.keys.fingerprint().0))
    }
}

/// The sender's claims, sealed inside every envelope.
#[derive(Arbitrary, Debug)]
pub struct ClaimsCase {
    /// The sender's fingerprint, if not the route's.
    pub sender: Option<[u8; 32]>,
    /// The message id.
    pub message_id: [u8; 16],
    /// The timestamp.
    pub timestamp: u64,
    /// The freshness value, if not the expected one.
    pub freshness: Option<Blob>,
    /// The signature, which the fuzzer can never make valid.
    pub signature: Blob,
}

impl ClaimsCase {
    fn write(&self, w: &mut Writer, route: Route) -> Option<()> {
        w.raw(&self.sender.unwrap_or(route.from.keys.fingerprint().0))?;
        w.raw(&self.message_id)?;
        w.u64(self.timestamp)?;
        match &self.freshness {
            None => w.bytes(super::FRESHNESS)?,
            Some(freshness) => freshness.write(w, route)?,
        }
        self.signature.write(w, route)
    }
}

/// A hybrid stream's final chunk, before sealing.
#[derive(Arbitrary, Debug)]
pub struct TrailerCase {
    /// The claims.
    pub claims: ClaimsCase,
    /// The plaintext length, if not that of the data chunks sealed before.
    pub plaintext_len: Option<u64>,
}

/// The message key of a hybrid envelope or stream.
#[derive(Arbitrary, Debug)]
pub enum KeyCase {
    /// This key, wrapped to the recipient: it unwraps.
    Wrapped([u8; AEAD_KEY_LEN]),
    /// These bytes as the wrapped key: they unwrap to nothing.
    Raw(Blob),
}

/// One piece of a hybrid stream.
#[derive(Arbitrary, Debug)]
pub enum Piece {
    /// A data chunk sealed under the stream's key at its position.
    Data(Blob),
    /// A trailer sealed at its position as the final chunk.
    Final(TrailerCase),
    /// Other bytes sealed at their position as the final chunk.
    FinalBytes(Blob),
    /// Bytes as they are.
    Raw(Blob),
}

/// An encoded stream head with the key its chunks are sealed under.
struct Head {
    header: Vec<u8>,
    wrapped_key: Vec<u8>,
    key: StreamKey,
}

impl Head {
    fn new(header: &HeaderCase, key: &KeyCase, route: Route) -> Option<Head> {
        let header = encoded(usize::MAX, |w| header.write(w, route, HYBRID))?;
        let (message_key, wrapped_key) = match key {
            KeyCase::Wrapped(k) => (*k, seal::wrap_key(&route.to.public, k)),
            KeyCase::Raw(bytes) => ([0; AEAD_KEY_LEN], bytes.to_vec(route, usize::MAX)?),
        };
        let head = [
            header.as_slice(),
            &encoded(usize::MAX, |w| w.bytes(&wrapped_key))?,
        ]
        .concat();
        Some(Head {
            key: StreamKey::new(&message_key, &head),
            header,
            wrapped_key,
        })
    }

    fn encoded(&self) -> Vec<u8> {
        let key = encoded(usize::MAX, |w| w.bytes(&self.wrapped_key)).expect("no limit");
        [self.header.as_slice(), &key].concat()
    }

    /// The stream's pieces, sealed at their positions.
    fn pieces(
        &self,
        list: &List<Piece>,
        route: Route,
        room: usize,
        as_bytes: bool,
    ) -> Option<Items> {
        // Sealed data so far, counting a copied chunk once: past the first
        // copy every one is out of place and fails anyway.
        let mut data_len = 0u64;
        list.items(room, as_bytes, |piece, position, room| {
            let room = room.saturating_sub(AEAD_TAG_LEN);
            Some(match piece {
                Piece::Data(bytes) => {
                    let plaintext = bytes.to_vec(route, room)?;
                    data_len += plaintext.len() as u64;
                    self.key.seal(position, false, &plaintext)
                }
                Piece::Final(trailer) => {
                    let bytes = encoded(room, |w| {
                        trailer.claims.write(w, route)?;
                        w.u64(trailer.plaintext_len.unwrap_or(data_len))
                    })?;
                    self.key.seal(position, true, &bytes)
                }
                Piece::FinalBytes(bytes) => {
                    self.key.seal(position, true, &bytes.to_vec(route, room)?)
                }
                Piece::Raw(bytes) => bytes.to_vec(route, room)?,
            })
        })
    }
}

/// A stream head alone (as `SendStream` and `DeliveryStream` carry it).
#[derive(Arbitrary, Debug)]
pub struct HeadCase {
    /// The header.
    pub header: HeaderCase,
    /// The key.
    pub key: KeyCase,
}

impl HeadCase {
    /// The encoded head.
    pub fn build(&self, route: Route) -> Option<Vec<u8>> {
        Some(Head::new(&self.header, &self.key, route)?.encoded())
    }
}

/// A hybrid stream as it travels: a head, then chunks, the last one final.
#[derive(Arbitrary, Debug)]
pub struct StreamCase {
    /// The chunks, data and final.
    pub chunks: List<Piece>,
    /// The head.
    pub head: HeadCase,
}

/// A built stream.
#[derive(Debug)]
pub struct Stream {
    /// The encoded head.
    pub head: Vec<u8>,
    /// The sealed chunks, the final one last.
    pub chunks: Items,
}

impl StreamCase {
    /// The stream, at most a frame's worth of chunks.
    pub fn build(&self, route: Route) -> Option<Stream> {
        let head = Head::new(&self.head.header, &self.head.key, route)?;
        let room = Writer::new().room();
        Some(Stream {
            chunks: head.pieces(&self.chunks, route, room, false)?,
            head: head.encoded(),
        })
    }
}

/// What an asymmetric envelope encrypts.
#[derive(Arbitrary, Debug)]
pub enum InnerCase {
    /// `Inner { claims, plaintext }`.
    Inner {
        /// The claims.
        claims: ClaimsCase,
        /// The plaintext.
        plaintext: Blob,
    },
    /// Other bytes.
    Bytes(Blob),
}

/// An asymmetric envelope's blocks.
#[derive(Arbitrary, Debug)]
pub enum Blocks {
    /// The inner message cut into blocks and each encrypted to the
    /// recipient, under the label of its position among `count` (if not
    /// the true number of blocks).
    Sealed {
        /// What is encrypted.
        inner: InnerCase,
        /// The block count bound into the labels.
        count: Option<u32>,
    },
    /// Blocks as they are.
    Raw(List<Blob>),
}

impl Blocks {
    fn write(&self, w: &mut Writer, route: Route) -> Option<()> {
        let (inner, count) = match self {
            Blocks::Raw(list) => {
                return list
                    .items(w.room(), true, |blob, _, room| blob.to_vec(route, room))?
                    .write(w);
            }
            Blocks::Sealed { inner, count } => (inner, count),
        };
        let bytes = encoded(MAX_SEALED_INNER, |w| match inner {
            InnerCase::Inner { claims, plaintext } => {
                claims.write(w, route)?;
                plaintext.write(w, route)
            }
            InnerCase::Bytes(bytes) => w.raw(&bytes.to_vec(route, w.room())?),
        })?;
        let pieces: Vec<&[u8]> = bytes
            .chunks(oaep_block_capacity(route.modulus_len()))
            .collect();
        let count = count.unwrap_or(pieces.len() as u32);
        w.u64(pieces.len() as u64)?;
        pieces.iter().zip(0..).try_for_each(|(piece, index)| {
            let label = seal::block_label(index, count);
            w.bytes(&seal::oaep_encrypt(&route.to.public, &label, piece)?)
        })
    }
}

/// An envelope's body.
#[derive(Arbitrary, Debug)]
pub enum BodyCase {
    /// `Body::Hybrid`.
    Hybrid {
        /// The stream's chunks: data chunks, then the final one.
        chunks: List<Piece>,
        /// The message key.
        key: KeyCase,
    },
    /// `Body::Asymmetric`.
    Asymmetric(Blocks),
    /// Another variant index, and any bytes after it.
    Other {
        /// The variant index.
        variant: u32,
        /// What follows.
        rest: Blob,
    },
}

/// A whole envelope.
#[derive(Arbitrary, Debug)]
pub struct EnvelopeCase {
    /// First, so that the fewest input bytes reach a huge hybrid body.
    pub body: BodyCase,
    /// The header.
    pub header: HeaderCase,
}

impl EnvelopeCase {
    /// The encoded envelope, at most a frame.
    pub fn build(&self, route: Route) -> Option<Vec<u8>> {
        let mut w = Writer::new();
        match &self.body {
            BodyCase::Hybrid { chunks, key } => {
                let head = Head::new(&self.header, key, route)?;
                w.raw(&head.header)?;
                w.u32(HYBRID)?;
                w.bytes(&head.wrapped_key)?;
                head.pieces(chunks, route, w.room(), true)?.write(&mut w)?;
            }
            BodyCase::Asymmetric(blocks) => {
                self.header.write(&mut w, route, ASYMMETRIC)?;
                w.u32(ASYMMETRIC)?;
                blocks.write(&mut w, route)?;
            }
            BodyCase::Other { variant, rest } => {
                self.header.write(&mut w, route, *variant)?;
                w.u32(*variant)?;
                w.raw(&rest.to_vec(route, w.room())?)?;
            }
        }
        Some(w.into_bytes())
    }
}
