//! The session messages and their payload encoding: a 2-byte big-endian
//! protocol version, then the bincode message. Client and server messages
//! are separate types, so a message sent in the wrong direction does not
//! even decode.

use bincode::{Decode, Encode};

use crate::codec::{self, DecodeError};
use crate::envelope::{MessageId, Mode};
use crate::fingerprint::Fingerprint;
use crate::limits::{CHALLENGE_LEN, HASH_LEN, MAX_FRAME_LEN, PROTOCOL_VERSION};

/// A random challenge.
pub type Challenge = [u8; CHALLENGE_LEN];

/// The server's opening message on every connection.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct ServerHello {
    /// Fingerprint of the server's key; the client compares it with the key
    /// it pins and hangs up on a mismatch.
    pub server: Fingerprint,
    /// Fresh per connection; envelopes for this server must be signed over
    /// it, so a recorded session replayed later is rejected.
    pub challenge: Challenge,
    /// Modes the server accepts.
    pub modes: Vec<Mode>,
}

/// A request to fetch the client's messages.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct FetchRequest {
    /// The client's key fingerprint.
    pub client: Fingerprint,
    /// The client's own fresh challenge: the server's reply envelopes are
    /// signed over it, so an old reply cannot be replayed to the client.
    pub challenge: Challenge,
    /// The mode the client wants replies sealed in.
    pub mode: Mode,
    /// RSA-PSS signature by the client over the fetch proof (see
    /// `proofs::fetch_proof_bytes`), showing it holds its private key.
    pub proof: Vec<u8>,
}

/// What a client sends after the hello.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[non_exhaustive]
pub enum ClientMessage {
    /// Deliver one asymmetric-mode message: an envelope sealed to the
    /// server whose plaintext is a receipt key followed by the text, after
    /// the sender's proof (see `sender_proof`), which the server checks
    /// before it decrypts a block.
    Send {
        /// The key the proof is sealed under, wrapped to the server.
        wrapped_key: Vec<u8>,
        /// The sealed sender proof.
        proof: Vec<u8>,
        /// The encoded envelope (asymmetric mode only).
        envelope: Vec<u8>,
    },
    /// Fetch the messages waiting for this client.
    Fetch(FetchRequest),
    /// After a `Delivery`: the client verified and kept these messages;
    /// the server may remove them from its mailbox.
    Ack {
        /// Ids of the delivered messages.
        ids: Vec<MessageId>,
        /// RSA-PSS signature by the client over the acknowledgement (see
        /// `proofs::sign_ack`), so nobody else can empty its mailbox.
        proof: Vec<u8>,
    },
    /// Start a hybrid-mode message of any size: the stream head. Its data
    /// chunks follow as `Chunk`s, and its final chunk as `End`; the
    /// plaintext is a receipt key followed by the text.
    SendStream {
        /// The encoded stream head (header and wrapped key).
        head: Vec<u8>,
        /// The sealed sender proof, under a key derived from the stream's
        /// (see `sender_proof`): checked before any chunk is read.
        proof: Vec<u8>,
    },
    /// One sealed data chunk of the stream under way.
    Chunk {
        /// At most `STREAM_CHUNK_LEN` (256 KiB) of plaintext, sealed.
        data: Vec<u8>,
    },
    /// The sealed final chunk (the signed trailer) of the stream under way.
    End {
        /// The sealed trailer.
        data: Vec<u8>,
    },
}

/// Proof that the server opened, verified and accepted a message.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Receipt {
    /// The accepted message's id.
    pub message_id: MessageId,
    /// HMAC-SHA256 keyed with the receipt key from inside the envelope.
    pub mac: [u8; HASH_LEN],
}

/// Why the server refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The peer speaks another protocol version.
    UnsupportedVersion,
    /// The envelope or proof failed to decrypt or verify (deliberately
    /// undifferentiated).
    Rejected,
    /// The sender's key is not among the server's authorized keys.
    NotAuthorized,
    /// The server does not accept this mode.
    ModeNotAccepted,
    /// The request did not decode.
    Malformed,
    /// The server failed internally; the request may be retried.
    Internal,
    /// The server's store is full; nothing was stored.
    StorageFull,
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[non_exhaustive]
pub enum ServerMessage {
    /// The first message of every connection.
    Hello(ServerHello),
    /// The answer to a successful `Send`.
    Receipt(Receipt),
    /// The answer to a successful `Fetch`: envelopes sealed to the client.
    Delivery {
        /// Encoded envelopes, oldest first.
        envelopes: Vec<Vec<u8>>,
        /// Messages still queued beyond these.
        remaining: u32,
    },
    /// The answer to an `Ack`.
    Acked {
        /// How many messages left the mailbox.
        removed: u32,
    },
    /// A refusal; the connection closes after it.
    Error {
        /// The machine-readable reason.
        code: ErrorCode,
        /// A human-readable detail.
        detail: String,
    },
    /// The answer to a successful `Fetch` when the next queued message is
    /// too large for one frame: that message alone, as a hybrid stream
    /// sealed to the client over its challenge. Its data chunks follow as
    /// `StreamChunk`s and its final chunk as `StreamEnd`.
    DeliveryStream {
        /// The encoded stream head.
        head: Vec<u8>,
        /// The message's length in bytes, for a progress bar only: the
        /// length that counts is in the signed final chunk.
        size: u64,
        /// Messages still queued beyond this one.
        remaining: u32,
    },
    /// One sealed data chunk of the stream under way.
    StreamChunk {
        /// At most `STREAM_CHUNK_LEN` (256 KiB) of plaintext, sealed.
        data: Vec<u8>,
    },
    /// The sealed final chunk (the signed trailer) of the stream under way.
    StreamEnd {
        /// The sealed trailer.
        data: Vec<u8>,
    },
}

/// Why a payload could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// The payload is shorter than the version prefix.
    #[error("payload too short to hold a protocol version")]
    Truncated,
    /// The peer speaks another version.
    #[error("peer speaks protocol version {theirs}; this program speaks version {ours}")]
    UnsupportedVersion {
        /// The peer's version.
        theirs: u16,
        /// Ours.
        ours: u16,
    },
    /// The message did not decode.
    #[error(transparent)]
    Malformed(#[from] DecodeError),
}

/// Encodes `message` as a payload with the version prefix.
pub fn encode_payload<T: Encode>(message: &T) -> Vec<u8> {
    let mut out = PROTOCOL_VERSION.to_be_bytes().to_vec();
    out.extend_from_slice(&codec::encode(message));
    out
}

/// Encodes `message` as a whole frame (length prefix, version, message)
/// with a single copy of its contents.
pub fn encode_frame<T: Encode>(message: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    encode_frame_into(message, &mut out);
    out
}

/// Appends `message` as a whole frame to `out`, so several frames can go
/// out in one write.
pub fn encode_frame_into<T: Encode>(message: &T, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    bincode::encode_into_std_write(message, out, codec::config::<MAX_FRAME_LEN>())
        .expect("encoding into a Vec does not fail");
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

/// `ClientMessage::Chunk`'s variant index in the encoding (a test checks it
/// against the derived encoding).
const CHUNK_VARIANT: u32 = 4;

/// Longest [`chunk_frame_prefix`]: length prefix, version, variant, and the
/// data length as a varint of at most 9 bytes.
pub const MAX_CHUNK_FRAME_PREFIX: usize = 4 + 2 + 1 + 9;

/// `ServerMessage::StreamChunk`'s variant index in the encoding (a test
/// checks it against the derived encoding).
const STREAM_CHUNK_VARIANT: u32 = 6;

/// The bytes that precede `len` bytes of data in a `Chunk` frame: prefix
/// and data together are what [`encode_frame_into`] writes for
/// `ClientMessage::Chunk`, so a sender can seal the data where it lies and
/// put this in front, without a copy of the data.
pub fn chunk_frame_prefix(len: usize) -> Vec<u8> {
    data_frame_prefix(CHUNK_VARIANT, len)
}

/// [`chunk_frame_prefix`] for `ServerMessage::StreamChunk`, the server's
/// side of a delivered stream.
pub fn stream_chunk_frame_prefix(len: usize) -> Vec<u8> {
    data_frame_prefix(STREAM_CHUNK_VARIANT, len)
}

fn data_frame_prefix(variant: u32, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAX_CHUNK_FRAME_PREFIX);
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    // A `Vec<u8>` field encodes as its length (u64), then its bytes.
    bincode::encode_into_std_write(
        (variant, len as u64),
        &mut out,
        codec::config::<MAX_FRAME_LEN>(),
    )
    .expect("encoding into a Vec does not fail");
    let frame_len = (out.len() - 4 + len) as u32;
    out[..4].copy_from_slice(&frame_len.to_be_bytes());
    out
}

/// The data of a `Chunk` payload, borrowed from it, so a receiver need not
/// copy every chunk out of its read buffer; `None` for any other payload,
/// which [`decode_payload`] then decodes (or refuses) as usual.
pub fn chunk_data(payload: &[u8]) -> Option<&[u8]> {
    data_range(CHUNK_VARIANT, payload).map(|range| &payload[range])
}

/// Where the data of a `ServerMessage::StreamChunk` payload lies in it, so
/// a receiver can decrypt it in place; `None` for any other payload.
pub fn stream_chunk_range(payload: &[u8]) -> Option<std::ops::Range<usize>> {
    data_range(STREAM_CHUNK_VARIANT, payload)
}

fn data_range(variant: u32, payload: &[u8]) -> Option<std::ops::Range<usize>> {
    let (version, body) = payload.split_first_chunk::<2>()?;
    if u16::from_be_bytes(*version) != PROTOCOL_VERSION {
        return None;
    }
    let ((found, len), used): ((u32, u64), usize) =
        bincode::decode_from_slice(body, codec::config::<MAX_FRAME_LEN>()).ok()?;
    let start = 2 + used;
    (found == variant && (payload.len() - start) as u64 == len).then_some(start..payload.len())
}

/// Decodes a payload, checking the version first.
pub fn decode_payload<T: Decode<()>>(payload: &[u8]) -> Result<T, PayloadError> {
    let (version, body) = payload
        .split_first_chunk::<2>()
        .ok_or(PayloadError::Truncated)?;
    let theirs = u16::from_be_bytes(*version);
    if theirs != PROTOCOL_VERSION {
        return Err(PayloadError::UnsupportedVersion {
            theirs,
            ours: PROTOCOL_VERSION,
        });
    }
    // Lenient: sealed contents inside are decoded canonically on their own.
    Ok(codec::decode_lenient::<T, MAX_FRAME_LEN>(body)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_version_check() {
        let hello = ServerMessage::Hello(ServerHello {
            server: Fingerprint([1; 32]),
            challenge: [2; 32],
            modes: vec![Mode::Asymmetric, Mode::Hybrid],
        });
        let payload = encode_payload(&hello);
        assert_eq!(&payload[..2], &PROTOCOL_VERSION.to_be_bytes());
        assert_eq!(decode_payload::<ServerMessage>(&payload).unwrap(), hello);

        let mut other = payload.clone();
        other[1] = 9;
        assert!(matches!(
            decode_payload::<ServerMessage>(&other),
            Err(PayloadError::UnsupportedVersion { theirs: 9, .. })
        ));
        assert!(matches!(
            decode_payload::<ServerMessage>(&payload[..1]),
            Err(PayloadError::Truncated)
        ));
        // A server message is not a client message.
        assert!(decode_payload::<ClientMessage>(&payload).is_err());
    }

    /// Lengths on each side of every varint width, and the chunk sizes.
    const CHUNK_LENS: [usize; 9] = [
        0,
        1,
        250,
        251,
        65535,
        65536,
        256 * 1024,
        256 * 1024 + 16,
        1 << 20,
    ];

    #[test]
    fn a_chunk_frame_prefix_and_its_data_are_the_encoded_chunk() {
        for len in CHUNK_LENS {
            let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut frame = chunk_frame_prefix(len);
            assert!(frame.len() <= MAX_CHUNK_FRAME_PREFIX);
            frame.extend_from_slice(&data);
            assert_eq!(
                frame,
                encode_frame(&ClientMessage::Chunk { data }),
                "chunk of {len} bytes"
            );
        }
    }

    #[test]
    fn a_stream_chunk_frame_prefix_and_its_data_are_the_encoded_stream_chunk() {
        for len in CHUNK_LENS {
            let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut frame = stream_chunk_frame_prefix(len);
            assert!(frame.len() <= MAX_CHUNK_FRAME_PREFIX);
            frame.extend_from_slice(&data);
            let encoded = encode_frame(&ServerMessage::StreamChunk { data: data.clone() });
            assert_eq!(frame, encoded, "stream chunk of {len} bytes");
            let range = stream_chunk_range(&encoded[4..]).unwrap();
            assert_eq!(&encoded[4..][range], &data[..]);
        }
        // Any other server message, and a client chunk, is not one.
        for other in [
            encode_frame(&ServerMessage::StreamEnd { data: vec![3; 40] }),
            encode_frame(&ClientMessage::Chunk { data: vec![3; 40] }),
        ] {
            assert_eq!(stream_chunk_range(&other[4..]), None);
        }
    }

    #[test]
    fn borrowed_chunk_data_agrees_with_the_full_decoder() {
        let messages = CHUNK_LENS
            .iter()
            .map(|&len| ClientMessage::Chunk { data: vec![7; len] })
            .chain([
                ClientMessage::End { data: vec![1; 300] },
                ClientMessage::SendStream {
                    head: vec![2; 9],
                    proof: vec![3; 5],
                },
                ClientMessage::Send {
                    wrapped_key: vec![4; 3],
                    proof: vec![],
                    envelope: vec![],
                },
            ]);
        for message in messages {
            let payload = encode_payload(&message);
            let mut variants = vec![payload.clone()];
            // Cut short, lengthened, other version, other variant, every
            // single-byte change of the prefix.
            variants.push(payload[..payload.len() - 1].to_vec());
            variants.push([&payload[..], &[0]].concat());
            for i in 0..payload.len().min(12) {
                for mask in [0x01, 0x80, 0xff] {
                    let mut changed = payload.clone();
                    changed[i] ^= mask;
                    variants.push(changed);
                }
            }
            for bytes in variants {
                let full = decode_payload::<ClientMessage>(&bytes).ok();
                match chunk_data(&bytes) {
                    Some(data) => assert_eq!(
                        full,
                        Some(ClientMessage::Chunk {
                            data: data.to_vec()
                        })
                    ),
                    None => assert!(!matches!(full, Some(ClientMessage::Chunk { .. }))),
                }
            }
        }
    }

    #[test]
    fn forged_lengths_do_not_allocate() {
        // A Send whose envelope claims 2^60 bytes must fail on the limit.
        let mut payload = PROTOCOL_VERSION.to_be_bytes().to_vec();
        payload.push(0); // variant Send
        payload.push(253); // varint marker: u64 follows
        payload.extend_from_slice(&(1u64 << 60).to_be_bytes());
        assert!(decode_payload::<ClientMessage>(&payload).is_err());
    }
}
