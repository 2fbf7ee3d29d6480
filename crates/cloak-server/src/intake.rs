//! Receiving a hybrid message of any size as a stream: the head's key is
//! unwrapped and the sender's proof checked before any chunk is read (one
//! private-key operation for an unauthenticated peer, and not a byte
//! written for it); then every chunk is
//! decrypted (to hash it) and kept still sealed (in memory while the stream
//! is short, then in a spool file: see `incoming`); the plaintext is not
//! kept beyond the receipt key and a short preview. Only when the final
//! chunk has decrypted and the sender's signature over the whole stream has
//! verified is the message printed, committed and receipted. Memory stays
//! at a few chunks whatever the message size.

use std::net::SocketAddr;
use std::sync::Arc;

use cloak_core::envelope::stream::StreamOpener;
use cloak_core::session::messages::Challenge;
use cloak_core::session::proofs::RECEIPT_KEY_LEN;
use cloak_core::session::sender_proof;
use cloak_core::session::{ClientMessage, Connection, ConnectionError, ServerMessage, messages};
use cloak_core::{FreshnessCheck, Mode, OpenOptions};
use tokio::task::block_in_place;
use tracing::error;
use zeroize::Zeroizing;

use crate::handler::{State, busy};
use crate::incoming::{INLINE_MAX, Incoming};
use crate::pool::Refused;
use crate::process::{
    PREVIEW_LEN, UNDECRYPTABLE, check_proof, malformed_payload, message_line, mode_refused,
    no_receipt_key, now, preview, rejected, signed_as_proven, store_and_receipt, store_failure,
    verify_sender,
};
use crate::report::{
    CONFIDENTIALITY_FAILED, CONFIDENTIALITY_PASSED, INTEGRITY_FAILED, INTEGRITY_PASSED, Report,
};
use crate::store::Inbound;

/// Receives the stream that `head` starts; returns the answer to send.
pub(crate) async fn receive(
    state: &Arc<State>,
    conn: &mut Connection,
    peer: SocketAddr,
    challenge: &Challenge,
    head: Vec<u8>,
    proof: Vec<u8>,
) -> ServerMessage {
    let mut report = Report::default();
    let reply = receive_into(state, conn, peer, challenge, (head, proof), &mut report).await;
    block_in_place(|| state.print(peer, report));
    if matches!(reply, ServerMessage::Error { .. }) {
        // The client may still be sending chunks: answer, then let it read
        // the answer before the connection closes.
        if conn.write_message(&reply).await.is_ok() {
            conn.drain(REFUSAL_LINGER).await;
        }
    }
    reply
}

/// The answer to a stream whose connection broke off: nothing is stored.
fn broken(report: &mut Report, opener: &StreamOpener, e: &ConnectionError) -> ServerMessage {
    report.log(format!("stream broken after {} bytes: {e}", opener.len()));
    report.failed(
        CONFIDENTIALITY_FAILED,
        format!("the stream broke off ({e}); nothing stored"),
    );
    rejected()
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

async fn receive_into(
    state: &Arc<State>,
    conn: &mut Connection,
    peer: SocketAddr,
    challenge: &Challenge,
    (head, proof): (Vec<u8>, Vec<u8>),
    report: &mut Report,
) -> ServerMessage {
    if let Some(only) = state.config.only_mode
        && only != Mode::Hybrid
    {
        let (refusal, reply) = mode_refused(Report::default(), Mode::Hybrid, only);
        *report = refusal;
        return reply;
    }
    let options = OpenOptions {
        only_mode: state.config.only_mode,
        ..OpenOptions::default()
    };
    if head.len() > cloak_core::limits::MAX_STREAM_HEAD_LEN
        || proof.len() > cloak_core::limits::MAX_SEALED_PROOF_LEN
    {
        // Not worth a copy, a reservation or a private-key operation.
        report.failed(CONFIDENTIALITY_FAILED, UNDECRYPTABLE);
        return rejected();
    }
    let wait = state.config.io_timeout;
    let Some(_room) = state
        .budget
        .reserve(peer.ip(), STREAM_WORKING_SET, wait)
        .await
    else {
        report.log("refused: no memory left for unauthenticated streams");
        return busy();
    };
    let mut incoming = Incoming::new(&head, Some(crate::pool::fairness_key(peer.ip())));
    // The stream's one private-key operation and the proof's signature
    // check, on the pool like any other work.
    let worker = Arc::clone(state);
    let challenge_copy = *challenge;
    let unwrap = state.pool.run(peer.ip(), move |_| {
        let opener = StreamOpener::new(&worker.key, &head, &options)?;
        let claim =
            sender_proof::claim_stream(&worker.key, &opener, &challenge_copy, &head, &proof);
        let proven = check_proof(&worker.authorized, &claim).map(|client| client.key.fingerprint());
        Ok::<_, cloak_core::OpenError>((opener, proven))
    });
    let opened = tokio::select! {
        opened = unwrap => opened,
        () = conn.closed() => {
            report.log("left before its stream head was decided; the work was dropped");
            return rejected();
        }
    };
    let (mut opener, proven) = match opened {
        Ok(Ok((opener, Ok(proven)))) => (opener, proven),
        Ok(Ok((_, Err(reason)))) => {
            report.failed(INTEGRITY_FAILED, reason);
            return rejected();
        }
        Ok(Err(_)) => {
            report.failed(CONFIDENTIALITY_FAILED, UNDECRYPTABLE);
            return rejected();
        }
        Err(Refused::Busy) => {
            report.log("refused: too many requests in progress");
            return busy();
        }
        Err(Refused::Failed) => return busy(),
    };
    // The working set stays reserved until the stream is decided, proven
    // or not: an authorized key (or a stolen one) holding many streams open
    // is held to the same per-address share.
    // The receipt key and the start of the text, for the report.
    let mut start = Zeroizing::new(Vec::with_capacity(RECEIPT_KEY_LEN + PREVIEW_LEN));
    let mut text = crate::store::text_digest();
    let end = loop {
        let payload = match conn.read_frame().await {
            Ok(Some(payload)) => payload,
            Ok(None) => {
                report.log(format!("stream abandoned after {} bytes", opener.len()));
                report.failed(
                    CONFIDENTIALITY_FAILED,
                    "the client left before the end of the stream; nothing stored",
                );
                return rejected();
            }
            Err(e) => return broken(report, &opener, &e),
        };
        // Chunks are read in place from the connection's buffer; anything
        // else is decoded in full.
        let data = match messages::chunk_data(&payload) {
            Some(data) => data,
            None => match messages::decode_payload::<ClientMessage>(&payload) {
                Ok(ClientMessage::End { data }) => break data,
                Ok(_) => {
                    report.failed(
                        CONFIDENTIALITY_FAILED,
                        "the stream was interrupted by another request",
                    );
                    return malformed_payload();
                }
                Err(e) => return broken(report, &opener, &e.into()),
            },
        };
        // Inline rather than `block_in_place`: one chunk is a fraction of a
        // millisecond of work (decrypt, digest, append), short enough for an
        // async task, and it spares handing the worker thread over and back
        // for every chunk.
        // The chunk's length and tag are checked (by decrypting it) before
        // a byte of it is kept.
        let step = (|| {
            let seen = opener.len();
            let plaintext = opener.chunk(data).map_err(|_| None)?;
            // The text's digest skips the receipt key, which comes first.
            let skip = (RECEIPT_KEY_LEN as u64).saturating_sub(seen) as usize;
            text.update(&plaintext[skip.min(plaintext.len())..]);
            let wanted = (RECEIPT_KEY_LEN + PREVIEW_LEN).saturating_sub(start.len());
            start.extend_from_slice(&plaintext[..wanted.min(plaintext.len())]);
            incoming.push(&state.store, data).map_err(Some)
        })();
        match step {
            Ok(()) => {}
            Err(None) => {
                report.failed(CONFIDENTIALITY_FAILED, UNDECRYPTABLE);
                return rejected();
            }
            Err(Some(e)) => {
                // Refused as any other stream would be (a full store is
                // the common case): rate-limited with the report.
                report.log(format!("spooling failed: {e}"));
                report.line(format!("Not stored: {e}. No receipt sent."));
                return store_failure(&e);
            }
        }
    };
    let Ok(decrypted) = block_in_place(|| opener.finish(&end)) else {
        report.failed(CONFIDENTIALITY_FAILED, UNDECRYPTABLE);
        return rejected();
    };
    report.line(CONFIDENTIALITY_PASSED);
    let claimed = decrypted.claimed_sender();
    if !signed_as_proven(state, report, proven, claimed) {
        return rejected();
    }
    let Some((client, opened)) = block_in_place(|| {
        verify_sender(state, report, claimed, |key| {
            decrypted.verify_known(key, FreshnessCheck::Expect(challenge))
        })
    }) else {
        return rejected();
    };
    let Some((receipt_key, text_start)) = cloak_core::session::proofs::split_payload(&start) else {
        report.failed(INTEGRITY_FAILED, no_receipt_key(client));
        return malformed_payload();
    };
    let size = opened.len - RECEIPT_KEY_LEN as u64;
    report.line(INTEGRITY_PASSED);
    report.line(message_line(
        client,
        opened.sender,
        Mode::Hybrid,
        opened.message_id,
    ));
    report.line(preview(text_start, size));
    block_in_place(|| {
        let content = match incoming.commit(end) {
            Ok(content) => content,
            Err(e) => {
                error!(%peer, "committing stream {} failed: {e}", opened.message_id);
                report.line(format!("Not stored: {e}. No receipt sent."));
                return store_failure(&e);
            }
        };
        let record = Inbound {
            message_id: opened.message_id,
            sender: opened.sender,
            sender_name: client.name.clone(),
            received_at: now(),
            mode: Mode::Hybrid,
            size,
            text_digest: Some(text.finalize().into()),
            content,
        };
        store_and_receipt(
            state,
            report,
            &record,
            receipt_key,
            challenge,
            &opened.plaintext_digest,
        )
    })
}
