//! `SendStream`: a hybrid message of any size, received as a stream. The
//! head's key is unwrapped and the sender's proof checked before any chunk
//! is read (one private-key operation for an unauthenticated peer, and not
//! a byte written for it); then every chunk is decrypted (to hash it) and
//! kept still sealed (see `held_stream`); the plaintext is not kept beyond
//! the receipt key and a short preview. Only when the final chunk has
//! decrypted and the sender's signature over the whole stream has verified
//! is the message printed, committed and receipted. Memory stays at a few
//! chunks whatever the message size.

use std::net::SocketAddr;
use std::sync::Arc;

use cloak_core::envelope::stream::StreamOpener;
use cloak_core::session::messages::Challenge;
use cloak_core::session::proofs::{self, RECEIPT_KEY_LEN};
use cloak_core::session::sender_proof;
use cloak_core::session::{ClientMessage, Connection, ConnectionError, ServerMessage, messages};
use cloak_core::verdict::{CONFIDENTIALITY_FAILED, CONFIDENTIALITY_PASSED, INTEGRITY_FAILED};
use cloak_core::{Fingerprint, FreshnessCheck, Mode, OpenOptions};
use tokio::task::block_in_place;
use tracing::error;
use zeroize::Zeroizing;

use super::accept::{PREVIEW_LEN, Verified};
use super::held_stream::{HeldStream, INLINE_MAX};
use super::sender::{
    UNDECRYPTABLE, check_proof, mode_refused, no_receipt_key, signed_as_proven, verify_sender,
};
use crate::pool::Refused;
use crate::refusal::{Answer, Refusal};
use crate::report::Report;
use crate::state::State;

/// A stream's start as sent: its head and the sender's proof.
pub(crate) struct SendStream {
    pub head: Vec<u8>,
    pub proof: Vec<u8>,
}

/// How long a refused stream's remaining bytes are read and discarded so
/// the client can see the refusal.
const REFUSAL_LINGER: std::time::Duration = std::time::Duration::from_secs(2);

/// What a stream holds in memory before it verifies, reserved from the
/// budget for its whole length: a chunk frame in the read buffer, the
/// chunk's plaintext, the sealed bytes kept in memory while the stream is
/// short, and the spool file's buffer.
const STREAM_WORKING_SET: usize =
    2 * cloak_core::envelope::stream::MAX_SEALED_CHUNK + INLINE_MAX + 16 * 1024;

/// One stream being received.
struct Receiving<'a> {
    state: &'a Arc<State>,
    peer: SocketAddr,
    challenge: &'a Challenge,
    report: Report,
}

impl SendStream {
    /// Receives the stream; returns the answer to send. A refusal is sent
    /// here already, before the rest of the stream is drained.
    pub(crate) async fn apply(
        self,
        state: &Arc<State>,
        conn: &mut Connection,
        peer: SocketAddr,
        challenge: &Challenge,
    ) -> Answer {
        let mut receiving = Receiving {
            state,
            peer,
            challenge,
            report: Report::default(),
        };
        let answer = receiving.receive(conn, self).await;
        block_in_place(|| state.print(peer, receiving.report));
        if let Err(refusal) = &answer {
            // The client may still be sending chunks: answer, then let it
            // read the answer before the connection closes.
            if conn
                .write_message(&ServerMessage::from(refusal))
                .await
                .is_ok()
            {
                conn.drain(REFUSAL_LINGER).await;
            }
        }
        answer
    }
}

/// The plaintext a stream keeps while it arrives: the digest of its text,
/// and its receipt key and text's start, for the report.
struct Kept {
    start: Zeroizing<Vec<u8>>,
    text: blake3::Hasher,
}

impl Receiving<'_> {
    async fn receive(&mut self, conn: &mut Connection, sent: SendStream) -> Answer {
        let state = self.state;
        if let Some(only) = state.config.only_mode
            && only != Mode::Hybrid
        {
            return Err(mode_refused(&mut self.report, Mode::Hybrid, only));
        }
        if sent.head.len() > cloak_core::limits::MAX_STREAM_HEAD_LEN
            || sent.proof.len() > cloak_core::limits::MAX_SEALED_PROOF_LEN
        {
            // Not worth a copy, a reservation or a private-key operation.
            self.report.failed(CONFIDENTIALITY_FAILED, UNDECRYPTABLE);
            return Err(Refusal::Rejected);
        }
        let wait = state.config.io_timeout;
        let Some(_room) = (state.budget)
            .reserve(self.peer.ip(), STREAM_WORKING_SET, wait)
            .await
        else {
            self.report
                .log("refused: no memory left for unauthenticated streams");
            return Err(Refusal::Busy);
        };
        // The working set stays reserved until the stream is decided,
        // proven or not: an authorized key (or a stolen one) holding many
        // streams open is held to the same per-address share.
        let peer = Some(crate::pool::fairness_key(self.peer.ip()));
        let mut held = HeldStream::new(&sent.head, peer);
        let (mut opener, proven) = self.open_head(conn, sent).await?;
        let mut kept = Kept {
            start: Zeroizing::new(Vec::with_capacity(RECEIPT_KEY_LEN + PREVIEW_LEN)),
            text: crate::store::text_digest(),
        };
        let end = self.chunks(conn, &mut opener, &mut held, &mut kept).await?;
        self.finish(opener, proven, held, &kept, end)
    }

    /// The stream's one private-key operation and the proof's signature
    /// check, on the pool like any other work: the opener, and the key
    /// that proved itself.
    async fn open_head(
        &mut self,
        conn: &mut Connection,
        SendStream { head, proof }: SendStream,
    ) -> Result<(StreamOpener, Fingerprint), Refusal> {
        let options = OpenOptions {
            only_mode: self.state.config.only_mode,
            ..OpenOptions::default()
        };
        let worker = Arc::clone(self.state);
        let challenge = *self.challenge;
        let unwrap = self.state.pool.run(self.peer.ip(), move |_| {
            let opener = StreamOpener::new(&worker.key, &head, &options)?;
            let claim = sender_proof::claim_stream(&worker.key, &opener, &challenge, &head, &proof);
            let proven =
                check_proof(&worker.authorized, &claim).map(|client| client.key.fingerprint());
            Ok::<_, cloak_core::OpenError>((opener, proven))
        });
        let opened = tokio::select! {
            opened = unwrap => opened,
            () = conn.closed() => {
                self.report.log("left before its stream head was decided; the work was dropped");
                return Err(Refusal::Rejected);
            }
        };
        match opened {
            Ok(Ok((opener, Ok(proven)))) => Ok((opener, proven)),
            Ok(Ok((_, Err(reason)))) => {
                self.report.failed(INTEGRITY_FAILED, reason);
                Err(Refusal::Rejected)
            }
            Ok(Err(_)) => {
                self.report.failed(CONFIDENTIALITY_FAILED, UNDECRYPTABLE);
                Err(Refusal::Rejected)
            }
            Err(Refused::Busy) => {
                self.report.log("refused: too many requests in progress");
                Err(Refusal::Busy)
            }
            Err(Refused::Failed) => Err(Refusal::Busy),
        }
    }

    /// Reads, decrypts and holds the data chunks; returns the final one.
    async fn chunks(
        &mut self,
        conn: &mut Connection,
        opener: &mut StreamOpener,
        held: &mut HeldStream,
        kept: &mut Kept,
    ) -> Result<Vec<u8>, Refusal> {
        loop {
            let payload = match conn.read_frame().await {
                Ok(Some(payload)) => payload,
                Ok(None) => {
                    let report = &mut self.report;
                    report.log(format!("stream abandoned after {} bytes", opener.len()));
                    report.failed(
                        CONFIDENTIALITY_FAILED,
                        "the client left before the end of the stream; nothing stored",
                    );
                    return Err(Refusal::Rejected);
                }
                Err(e) => return Err(self.broken(opener, &e)),
            };
            // Chunks are read in place from the connection's buffer;
            // anything else is decoded in full.
            let data = match messages::chunk_data(&payload) {
                Some(data) => data,
                None => match messages::decode_payload::<ClientMessage>(&payload) {
                    Ok(ClientMessage::End { data }) => return Ok(data),
                    Ok(_) => {
                        self.report.failed(
                            CONFIDENTIALITY_FAILED,
                            "the stream was interrupted by another request",
                        );
                        return Err(Refusal::MalformedPayload);
                    }
                    Err(e) => return Err(self.broken(opener, &e.into())),
                },
            };
            self.chunk(opener, held, kept, data)?;
        }
    }

    /// One data chunk: its length and tag are checked (by decrypting it)
    /// before a byte of it is kept. The decryption runs inline: one chunk
    /// is a fraction of a millisecond of work (decrypt, digest), short
    /// enough for an async task. Keeping it is not: it may wait on a disk
    /// or a database.
    fn chunk(
        &mut self,
        opener: &mut StreamOpener,
        held: &mut HeldStream,
        kept: &mut Kept,
        data: &[u8],
    ) -> Result<(), Refusal> {
        let seen = opener.len();
        let Ok(plaintext) = opener.chunk(data) else {
            self.report.failed(CONFIDENTIALITY_FAILED, UNDECRYPTABLE);
            return Err(Refusal::Rejected);
        };
        // The text's digest skips the receipt key, which comes first.
        let skip = (RECEIPT_KEY_LEN as u64).saturating_sub(seen) as usize;
        kept.text.update(&plaintext[skip.min(plaintext.len())..]);
        let wanted = (RECEIPT_KEY_LEN + PREVIEW_LEN).saturating_sub(kept.start.len());
        kept.start
            .extend_from_slice(&plaintext[..wanted.min(plaintext.len())]);
        // Off the async worker when it goes to the store, which may wait on
        // a disk or a database; kept in memory, it is only a copy.
        let store = &self.state.store;
        let kept = if held.keeps_in_memory(data.len()) {
            held.push(store, data)
        } else {
            block_in_place(|| held.push(store, data))
        };
        kept.map_err(|e| {
            // Refused as any other stream would be (a full store is the
            // common case): rate-limited with the report.
            self.report.log(format!("spooling failed: {e}"));
            self.report
                .line(format!("Not stored: {e}. No receipt sent."));
            Refusal::not_stored(&e)
        })
    }

    /// The answer to a stream whose connection broke off: nothing is
    /// stored.
    fn broken(&mut self, opener: &StreamOpener, e: &ConnectionError) -> Refusal {
        let report = &mut self.report;
        report.log(format!("stream broken after {} bytes: {e}", opener.len()));
        report.failed(
            CONFIDENTIALITY_FAILED,
            format!("the stream broke off ({e}); nothing stored"),
        );
        Refusal::Rejected
    }

    /// The final chunk, the sender's signature over the whole stream, and
    /// then the message is reported, committed and receipted.
    fn finish(
        &mut self,
        opener: StreamOpener,
        proven: Fingerprint,
        held: HeldStream,
        kept: &Kept,
        end: Vec<u8>,
    ) -> Answer {
        let (state, report) = (self.state, &mut self.report);
        let Ok(decrypted) = block_in_place(|| opener.finish(&end)) else {
            report.failed(CONFIDENTIALITY_FAILED, UNDECRYPTABLE);
            return Err(Refusal::Rejected);
        };
        report.line(CONFIDENTIALITY_PASSED);
        let claimed = decrypted.claimed_sender();
        if !signed_as_proven(state, report, proven, claimed) {
            return Err(Refusal::Rejected);
        }
        let (client, opened) = block_in_place(|| {
            verify_sender(state, report, claimed, |key| {
                decrypted.verify_known(key, FreshnessCheck::Expect(self.challenge))
            })
        })
        .ok_or(Refusal::Rejected)?;
        let Some((receipt_key, text_start)) = proofs::split_payload(&kept.start) else {
            report.failed(INTEGRITY_FAILED, no_receipt_key(client));
            return Err(Refusal::MalformedPayload);
        };
        let verified = Verified {
            client,
            sender: opened.sender,
            mode: Mode::Hybrid,
            message_id: opened.message_id,
            size: opened.len - RECEIPT_KEY_LEN as u64,
            text_digest: kept.text.finalize().into(),
            plaintext_digest: opened.plaintext_digest,
        };
        verified.announce(report, text_start);
        block_in_place(|| {
            let content = held.commit(end).map_err(|e| {
                let id = opened.message_id;
                error!(peer = %self.peer, "committing stream {id} failed: {e}");
                report.line(format!("Not stored: {e}. No receipt sent."));
                Refusal::not_stored(&e)
            });
            verified.keep(state, report, content, receipt_key, self.challenge)
        })
    }
}
