//! Delivering a queued message too large for one envelope: the stream file
//! the server sealed to itself is opened chunk by chunk and each chunk
//! re-sealed, as a new stream, to the client over the client's challenge.
//! The new stream's signed final chunk is sent only after the stored
//! stream's own signature verified, so a damaged or altered file never
//! reaches the client as a valid message. Each chunk is read from the file
//! into one of two reused frame buffers, decrypted and re-sealed where it
//! lies (`Reseal`) and written out with its prefix in front: no copy and no
//! allocation per chunk, and the plaintext is digested once.

use std::net::SocketAddr;
use std::sync::Arc;

use cloak_core::envelope::reseal::{Reseal, ResealEnd, Verified};
use cloak_core::envelope::stream::{MAX_SEALED_CHUNK, StreamSealer};
use cloak_core::session::messages::{MAX_CHUNK_FRAME_PREFIX, stream_chunk_frame_prefix};
use cloak_core::session::{Connection, ServerMessage};
use cloak_core::{FreshnessCheck, SealOptions};
use tokio::task::block_in_place;
use tracing::{error, warn};
use zeroize::Zeroizing;

use super::fetch::StreamDelivery;
use crate::at_rest::Place;
use crate::at_rest::stored::{StoredHead, StoredStreamError};
use crate::pool::Admitted;
use crate::refusal::Refusal;
use crate::report::Report;
use crate::state::State;
use crate::store::{FrameSource, StoreError};

/// Why a delivery stopped.
enum Stop {
    /// The stored stream is unreadable or does not verify.
    Damaged(String),
    /// The connection failed; the client will fetch again.
    Network(String),
    /// The pool had no room for the private-key work.
    Busy,
    /// The store could not be read now (PostgreSQL away, the stream
    /// removed by another instance's acknowledgement meanwhile): nothing
    /// is wrong with the message, which a later fetch delivers.
    Unavailable(String),
}

/// Sends `delivery` as a stream; whether it all went out (the caller then
/// waits for the acknowledgement).
pub(crate) async fn send(
    state: &Arc<State>,
    conn: &mut Connection,
    peer: SocketAddr,
    delivery: &StreamDelivery,
) -> bool {
    let message = &delivery.message;
    let client = &delivery.awaiting.client;
    match stream(state, conn, peer, delivery).await {
        Ok(()) => {
            let mut report = Report::default();
            report.line(format!(
                "Delivered message {} to {} as a stream ({} bytes, hybrid mode); {} more queued.",
                message.message_id, client.name, message.size, delivery.remaining
            ));
            report.print();
            true
        }
        Err(Stop::Damaged(why)) => {
            error!(%peer, "queued message {} is damaged: {why}; set aside", message.message_id);
            // Set aside, so that the next fetch delivers the rest.
            if let Err(e) = block_in_place(|| state.store.quarantine(message.message_id)) {
                error!("setting message {} aside: {e}", message.message_id);
            }
            let _ = conn
                .write_message(&ServerMessage::from(&Refusal::Damaged))
                .await;
            false
        }
        Err(Stop::Network(why)) => {
            warn!(%peer, "delivery of {} broke off: {why}", message.message_id);
            false
        }
        Err(Stop::Unavailable(why)) => {
            warn!(%peer, "delivery of {} stopped: {why}", message.message_id);
            let _ = conn
                .write_message(&ServerMessage::from(&Refusal::Busy))
                .await;
            false
        }
        Err(Stop::Busy) => {
            let _ = conn
                .write_message(&ServerMessage::from(&Refusal::Busy))
                .await;
            false
        }
    }
}

async fn stream(
    state: &Arc<State>,
    conn: &mut Connection,
    peer: SocketAddr,
    delivery: &StreamDelivery,
) -> Result<(), Stop> {
    let message = &delivery.message;
    let path = message
        .stream
        .as_ref()
        .expect("a stream delivery has a file");
    let stored = block_in_place(|| StoredHead::read(state.store.as_ref(), path))
        .map_err(|e| stored_error(&e))?;
    // The two private-key operations (unwrap here, sign at the end) take
    // a slot of the pool like any other, in this client's turn.
    let admitted = state.pool.admit(peer.ip()).map_err(|_| Stop::Busy)?;
    let slot = admitted.slot().await.map_err(|_| Stop::Busy)?;
    let (mut frames, opener) =
        block_in_place(|| stored.unwrap_for_relay(&state.key)).map_err(|e| stored_error(&e))?;
    drop(slot);
    let options = SealOptions {
        message_id: Some(message.message_id),
        timestamp: Some(message.created_at),
        ..SealOptions::default()
    };
    let client = &delivery.awaiting.client;
    let (sealer, head) = StreamSealer::new(
        &state.key,
        &client.key,
        &delivery.awaiting.client_challenge,
        &options,
    )
    .map_err(|e| damaged(&e))?;
    conn.write_message(&ServerMessage::DeliveryStream {
        head,
        size: message.size,
        remaining: delivery.remaining,
    })
    .await
    .map_err(network)?;
    let mut reseal = Reseal::new(opener, sealer);
    let last = relay(conn, frames.as_mut(), &mut reseal).await?;
    let end = reseal.finish(&last).map_err(|e| damaged(&e))?;
    let verified = verify_stored(state, delivery, end)?;
    finish(conn, &admitted, verified).await
}

fn damaged(e: &dyn std::fmt::Display) -> Stop {
    Stop::Damaged(e.to_string())
}

/// A store failure: damage only when the store read something wrong.
fn store(e: &StoreError) -> Stop {
    match e {
        StoreError::Damaged(_) => damaged(e),
        other => Stop::Unavailable(other.to_string()),
    }
}

/// A stored stream that does not open: damage, unless the store failed.
fn stored_error(e: &StoredStreamError) -> Stop {
    match e {
        StoredStreamError::Store(e) => store(e),
        other => damaged(other),
    }
}

fn network(e: cloak_core::session::ConnectionError) -> Stop {
    Stop::Network(e.to_string())
}

/// Where a chunk's sealed bytes start in a frame buffer: after room for
/// the longest frame prefix, which is written in front once the length is
/// known.
const DATA_AT: usize = MAX_CHUNK_FRAME_PREFIX;

/// Reads the next stored frame into `buf` after its prefix room.
/// Off the async worker: the store may read from a disk or a database.
fn read_into(frames: &mut dyn FrameSource, buf: &mut [u8]) -> Result<Option<usize>, Stop> {
    block_in_place(|| frames.next_frame_into(&mut buf[DATA_AT..])).map_err(|e| store(&e))
}

/// Re-seals and sends every stored chunk but the final one, which it
/// returns (still sealed to the server). One frame is read ahead, since
/// only the end of the file tells which frame is the final chunk.
async fn relay(
    conn: &mut Connection,
    frames: &mut dyn FrameSource,
    reseal: &mut Reseal<'_>,
) -> Result<Vec<u8>, Stop> {
    let frame_len = DATA_AT + MAX_SEALED_CHUNK;
    let (mut current, mut next) = (
        Zeroizing::new(vec![0u8; frame_len]),
        Zeroizing::new(vec![0u8; frame_len]),
    );
    let mut len = read_into(frames, &mut current)?.ok_or_else(|| damaged(&"no final chunk"))?;
    while let Some(next_len) = read_into(frames, &mut next)? {
        let end = DATA_AT + len;
        reseal
            .chunk(&mut current[DATA_AT..end])
            .map_err(|e| damaged(&e))?;
        let prefix = stream_chunk_frame_prefix(len);
        let start = DATA_AT - prefix.len();
        current[start..DATA_AT].copy_from_slice(&prefix);
        conn.write_frames(&current[start..end])
            .await
            .map_err(network)?;
        std::mem::swap(&mut current, &mut next);
        len = next_len;
    }
    Ok(current[DATA_AT..DATA_AT + len].to_vec())
}

/// Checks the stored stream's own signature, before the client gets a
/// signed end.
fn verify_stored<'k>(
    state: &State,
    delivery: &StreamDelivery,
    end: ResealEnd<'k>,
) -> Result<Verified<'k>, Stop> {
    let message = &delivery.message;
    // Bound to the mailbox being fetched, whatever the row says.
    let place = Place {
        recipient: delivery.awaiting.client.key.fingerprint(),
        message_id: message.message_id,
    };
    let verified = end
        .verify(
            state.key.public(),
            FreshnessCheck::Expect(&place.freshness()),
        )
        .map_err(|e| damaged(&e))?;
    if verified.opened().message_id != message.message_id {
        return Err(damaged(&"sealed under another message id"));
    }
    Ok(verified)
}

/// Signs the new stream's end and sends it.
async fn finish(
    conn: &mut Connection,
    admitted: &Admitted,
    verified: Verified<'_>,
) -> Result<(), Stop> {
    let slot = admitted.slot().await.map_err(|_| Stop::Busy)?;
    let end = block_in_place(|| verified.sign()).map_err(|e| damaged(&e))?;
    drop(slot);
    conn.write_message(&ServerMessage::StreamEnd {
        data: end.final_chunk,
    })
    .await
    .map_err(network)
}
