//! Every domain-separation label and size limit of the envelope format, with
//! the reason for each. Changing a label is a protocol version change.

/// Protocol version carried in every envelope header. Bumped whenever the
/// encoding or the signed content changes, so old peers fail loudly.
pub const ENVELOPE_VERSION: u16 = 1;

/// First field of the signed content: a signature made for CloakRoom
/// envelopes can never be replayed as a signature in another protocol (or in
/// another version of this one), and vice versa.
pub const SIGNATURE_LABEL: &[u8] = b"CloakRoom envelope signature v1";

/// OAEP label for asymmetric-mode blocks. The block index and count are
/// appended, so a block cannot be moved to another position or envelope size
/// without failing OAEP decoding.
pub const ASYMMETRIC_BLOCK_LABEL: &[u8] = b"CloakRoom asymmetric block v1";

/// OAEP label for the wrapped AES key in hybrid mode: a wrapped key cannot be
/// passed off as an asymmetric block, nor the reverse.
pub const HYBRID_KEY_WRAP_LABEL: &[u8] = b"CloakRoom hybrid key wrap v1";

/// BLAKE3 derive-key context of the plaintext digest that signatures
/// cover. A fixed, unique string, as BLAKE3 requires for domain separation.
pub const PLAINTEXT_DIGEST_CONTEXT: &str = "CloakRoom 2026-11-28 plaintext digest v1";

/// Smallest RSA modulus we generate or load. 2048 bits is NIST's floor for
/// use beyond 2030; anything smaller is refused rather than silently weak.
pub const MIN_RSA_BITS: usize = 2048;

/// Largest RSA modulus we load: the backend's own upper bound, and a cap on
/// the CPU an attacker-supplied key can cost us.
pub const MAX_RSA_BITS: usize = 4096;

/// Key sizes `generate` accepts. 3072 bits gives ~128-bit security.
pub const SUPPORTED_RSA_BITS: [usize; 3] = [2048, 3072, 4096];

/// Default size of generated keys.
pub const DEFAULT_RSA_BITS: usize = 3072;

/// Default limit on an asymmetric-mode plaintext. Each 190-318 byte block
/// costs one RSA private-key operation to open, so a large asymmetric message
/// is a CPU cost for the recipient; hybrid mode has no such cost.
pub const DEFAULT_MAX_ASYMMETRIC_PLAINTEXT: usize = 64 * 1024;

/// Largest plaintext a single in-memory hybrid envelope may hold.
pub const MAX_HYBRID_PLAINTEXT: usize = 16 * 1024 * 1024;

/// Largest freshness value (a server challenge is 32 bytes). Bounded so the
/// signed content has a known maximum size.
pub const MAX_FRESHNESS_LEN: usize = 64;

/// Largest encoded envelope we decode. Passed to bincode as its allocation
/// limit, so a forged length prefix inside an envelope can never make the
/// decoder reserve more than this.
pub const MAX_ENVELOPE_LEN: usize = MAX_HYBRID_PLAINTEXT + 64 * 1024;

/// Length of an AES-256-GCM key.
pub const AEAD_KEY_LEN: usize = 32;

/// Length of an AES-GCM nonce.
pub const AEAD_NONCE_LEN: usize = 12;

/// Length of the AES-GCM authentication tag.
pub const AEAD_TAG_LEN: usize = 16;

/// Bytes of SHA-256 output (OAEP hash, PSS hash, fingerprints, digests).
pub const HASH_LEN: usize = 32;

/// Largest plaintext one OAEP-SHA256 block can carry for a modulus of
/// `modulus_len` bytes (RFC 8017 §7.1.1: k - 2·hLen - 2).
pub const fn oaep_block_capacity(modulus_len: usize) -> usize {
    modulus_len.saturating_sub(2 * HASH_LEN + 2)
}

/// Version of the session protocol, the first two bytes of every frame's
/// payload, so a peer of another version is recognised before anything else
/// is decoded. Version 2 put the sender's proof in the first frame of every
/// send (version 1 had none).
pub const PROTOCOL_VERSION: u16 = 2;

/// Largest frame payload: one envelope of the largest size plus room for
/// the message around it. Checked on the 4-byte prefix before allocating.
pub const MAX_FRAME_LEN: usize = MAX_ENVELOPE_LEN + 4096;

/// Largest frame a server reads from a client: a stream chunk (256 KiB of
/// plaintext, its tag and a few bytes of framing), or a whole asymmetric
/// envelope (at most about 92 KB, at 2048 bits). Nothing a client sends
/// needs more, since a larger hybrid message travels as a stream; and what
/// a server holds for a connection before knowing who it is follows from
/// this, not from [`MAX_FRAME_LEN`].
pub const MAX_CLIENT_FRAME_LEN: usize = STREAM_CHUNK_LEN + 1024;

/// Length of the random challenges each side issues for freshness.
pub const CHALLENGE_LEN: usize = 32;

/// Label of the HMAC a server returns as a receipt, keyed by a secret that
/// travelled inside the client's envelope.
pub const RECEIPT_LABEL: &[u8] = b"CloakRoom receipt v1";

/// Label of the signature by which a client proves it holds its key when
/// fetching its messages.
pub const FETCH_PROOF_LABEL: &[u8] = b"CloakRoom fetch proof v1";

/// Label of the signature by which a sender proves, in a message's first
/// frame, that it holds its key (see `session::sender_proof`).
pub const SENDER_PROOF_LABEL: &[u8] = b"CloakRoom sender proof v2";

/// HKDF info of the key a sender proof is sealed under, derived from a
/// hybrid stream's message key or from a key wrapped for the proof alone.
pub const SENDER_PROOF_KEY_INFO: &[u8] = b"CloakRoom sender proof key v2";

/// RSA-OAEP label of the key wrapped for an asymmetric message's proof.
pub const PROOF_KEY_WRAP_LABEL: &[u8] = b"CloakRoom proof key wrap v2";

/// Largest sealed sender proof: a fingerprint and a 4096-bit signature
/// with their encoding (3 bytes of length) and the AES-GCM tag.
pub const MAX_SEALED_PROOF_LEN: usize = HASH_LEN + 3 + 512 + AEAD_TAG_LEN;

/// Label of the signature by which a client acknowledges delivered
/// messages, so that only it can remove them from its mailbox.
pub const ACK_PROOF_LABEL: &[u8] = b"CloakRoom ack proof v1";

/// Largest number of envelopes in one delivery (and ids in one ack).
pub const MAX_DELIVERY_ENVELOPES: usize = 64;

/// Most envelope bytes in one delivery: with their lengths (at most 9 bytes
/// each) and the message around them, within [`MAX_FRAME_LEN`], the largest
/// frame a client reads. A server sends what fits and leaves the rest
/// queued for the next fetch.
pub const MAX_DELIVERY_BYTES: usize = MAX_ENVELOPE_LEN;

/// Largest human-readable error detail a peer may send.
pub const MAX_ERROR_DETAIL: usize = 1024;

/// Plaintext bytes per hybrid data chunk. Memory on each side is a few
/// chunks; the per-chunk costs (a tag, a frame, system calls, task wake-ups)
/// fall with size: 1 GiB over loopback went from 364–398 MB/s with 64 KiB
/// chunks to 469–573 MB/s with 256 KiB (interleaved runs), while 1 MiB
/// chunks gained nothing more and cost 3 MiB more server memory.
pub const STREAM_CHUNK_LEN: usize = 256 * 1024;

/// Largest encoded stream head (header and wrapped key of a 4096-bit key).
pub const MAX_STREAM_HEAD_LEN: usize = 1024;

/// Largest encoded trailer (claims with a 4096-bit signature).
pub const MAX_TRAILER_LEN: usize = 2048;
