//! Short descriptions, derived with `arbitrary`, of envelopes, streams and
//! session messages, each encoded exactly as the wire encoding of
//! docs/PROTOCOL.md §3 and §4.2 but with counts and lengths the fuzzer
//! picks freely. A few input bytes can then describe a hybrid envelope of
//! 700,000 chunks, which a byte-level fuzzer would have to write out in
//! full and would practically never find. cloak-core keeps its wire
//! structures private, so they are mirrored here field by field.
//!
//! Where a description leaves a choice open (`None`, or an enum's first
//! variant: what zero bytes decode to) it takes the well-formed value, so
//! that the fuzzer starts from messages that pass the early checks and
//! spends its mutations on what comes after them.

mod envelope;
mod session;

pub use envelope::{
    Blocks, BodyCase, ClaimsCase, EnvelopeCase, HeadCase, HeaderCase, InnerCase, KeyCase, Piece,
    Stream, StreamCase, TrailerCase,
};
pub use session::{ClientCase, ServerCase};

use arbitrary::Arbitrary;
use cloak_core::codec;
use cloak_core::limits::MAX_FRAME_LEN;
use rsa::traits::PublicKeyParts;

use crate::Party;
use crate::wire::Writer;

/// The freshness value the openers expect, and every description's
/// unless it says otherwise: a well-formed input then gets as far as the
/// signature check.
pub const FRESHNESS: &[u8] = b"fuzz";

/// Who a sealed value goes to, and who it claims to come from.
#[derive(Clone, Copy)]
pub struct Route<'a> {
    /// The recipient: envelopes are addressed and keys wrapped to it.
    pub to: &'a Party,
    /// The sender the recipient expects.
    pub from: &'a Party,
}

impl Route<'_> {
    fn modulus_len(&self) -> usize {
        self.to.public.size()
    }
}

/// A byte string.
#[derive(Arbitrary, Debug)]
pub enum Blob {
    /// These bytes.
    Bytes(Vec<u8>),
    /// As long as the recipient's RSA modulus, which a wrapped key and an
    /// asymmetric block must be, filled with this byte.
    KeySized(u8),
    /// `len` copies of `byte`, as many as fit.
    Run {
        /// The length asked for.
        len: u32,
        /// The filler.
        byte: u8,
    },
}

impl Blob {
    /// The bytes, if they fit in `room`.
    pub fn to_vec(&self, route: Route, room: usize) -> Option<Vec<u8>> {
        let (len, byte) = match self {
            Blob::Bytes(bytes) => return (bytes.len() <= room).then(|| bytes.clone()),
            Blob::KeySized(byte) => (route.modulus_len(), *byte),
            Blob::Run { len, byte } => ((*len as usize).min(room), *byte),
        };
        (len <= room).then(|| vec![byte; len])
    }

    /// Writes the bytes as a `Vec<u8>` field.
    pub fn write(&self, w: &mut Writer, route: Route) -> Option<()> {
        w.bytes(&self.to_vec(route, w.room())?)
    }
}

/// A sequence: `count` copies of one item, then a few items of its own,
/// under a length prefix that may lie.
#[derive(Arbitrary, Debug)]
pub struct List<T> {
    /// First, so that the fewest input bytes reach a huge count.
    pub count: u32,
    /// The item copied.
    pub repeat: T,
    /// Items after the copies (a stream's final chunk, say).
    pub tail: Vec<T>,
    /// The length prefix, if not the true count.
    pub declared: Option<u64>,
}

/// How many copies a raw count asks for. Half the values ask for up to
/// about a million, where the decoders' cost per item (24 bytes for each
/// `Vec`) meets their allocation limit; the other half for up to a frame
/// full of one-byte items.
fn copies(raw: u32) -> usize {
    let raw = raw as usize;
    if raw >> 31 == 0 {
        raw % ((1 << 20) + 1)
    } else {
        raw % (MAX_FRAME_LEN + 1)
    }
}

/// A list's items, encoded, with the copies not yet made.
#[derive(Debug)]
pub struct Items {
    first: Vec<u8>,
    copies: usize,
    tail: Vec<Vec<u8>>,
    declared: Option<u64>,
    as_bytes: bool,
}

impl<T> List<T> {
    /// Encodes the items with `item(value, position, room)`: the copied
    /// one once, with as many copies as the count asks for and `room`
    /// holds. Each item is a byte string if `as_bytes`, else as `item`
    /// encoded it.
    pub fn items(
        &self,
        room: usize,
        as_bytes: bool,
        mut item: impl FnMut(&T, u64, usize) -> Option<Vec<u8>>,
    ) -> Option<Items> {
        let size =
            |bytes: &Vec<u8>| bytes.len() + if as_bytes { prefix_len(bytes.len()) } else { 0 };
        let first = item(&self.repeat, 0, room)?;
        let wanted = copies(self.count);
        // The tail is placed after the copies asked for. When fewer fit,
        // its positions are off; that cannot matter, as only a stream of
        // at most one copy can still authenticate at the tail.
        let tail: Vec<Vec<u8>> = (self.tail.iter().zip(wanted as u64..))
            .map(|(value, position)| item(value, position, room))
            .collect::<Option<_>>()?;
        let tail_size: usize = tail.iter().map(size).sum();
        // The count's own varint takes at most 9 bytes.
        let copies = wanted.min(room.saturating_sub(9 + tail_size) / size(&first).max(1));
        Some(Items {
            first,
            copies,
            tail,
            declared: self.declared,
            as_bytes,
        })
    }
}

fn prefix_len(len: usize) -> usize {
    codec::encode(&(len as u64)).len()
}

impl Items {
    /// The items in order, without the length prefixes.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        std::iter::repeat_n(self.first.as_slice(), self.copies)
            .chain(self.tail.iter().map(Vec::as_slice))
    }

    /// Writes the sequence: its length (or the declared one), then the
    /// items.
    pub fn write(&self, w: &mut Writer) -> Option<()> {
        w.u64(
            self.declared
                .unwrap_or((self.copies + self.tail.len()) as u64),
        )?;
        let item = |bytes: &[u8]| {
            crate::wire::encoded(usize::MAX, |w| match self.as_bytes {
                true => w.bytes(bytes),
                false => w.raw(bytes),
            })
        };
        w.repeat(&item(&self.first)?, self.copies)?;
        self.tail.iter().try_for_each(|t| w.raw(&item(t)?))
    }
}

#[cfg(test)]
mod tests;
