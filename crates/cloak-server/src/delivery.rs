//! Delivering a queued message too large for one envelope: the stream file
//! the server sealed to itself is opened chunk by chunk and each chunk
//! re-sealed, as a new stream, to the client over the client's challenge.
//! The new stream's signed final chunk is sent only after the stored
//! stream's own signature verified, so a damaged or altered file never
//! reaches the client as a valid message. Memory stays at a few chunks.

use std::net::SocketAddr;
use std::sync::Arc;

use cloak_core::envelope::stream::{StreamOpener, StreamSealer};
use cloak_core::session::{Connection, ErrorCode, ServerMessage};
use cloak_core::{FreshnessCheck, OpenOptions, SealOptions};
use tokio::task::block_in_place;
use tracing::{error, warn};

use crate::at_rest::Place;
use crate::handler::State;
use crate::process::{StreamDelivery, error};
use crate::report::Report;
use crate::store::spool::FrameReader;

/// Why a delivery stopped.
enum Stop {
    /// The stored stream is unreadable or does not verify.
    Damaged(String),
    /// The connection failed; the client will fetch again.
    Network(String),
    /// The pool had no room for the private-key work.
    Busy,
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
            let refusal = error(ErrorCode::Internal, "a queued message is damaged");
            let _ = conn.write_message(&refusal).await;
            false
        }
        Err(Stop::Network(why)) => {
            warn!(%peer, "delivery of {} broke off: {why}", message.message_id);
            false
        }
        Err(Stop::Busy) => {
            let _ = conn.write_message(&crate::handler::busy()).await;
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
    let damaged = |e: &dyn std::fmt::Display| Stop::Damaged(e.to_string());
    let network = |e: cloak_core::session::ConnectionError| Stop::Network(e.to_string());
    let path = message
        .stream
        .as_ref()
        .expect("a stream delivery has a file");
    let mut frames = FrameReader::open(path).map_err(|e| damaged(&e))?;
    let stored_head = frames
        .next_frame()
        .map_err(|e| damaged(&e))?
        .ok_or_else(|| damaged(&"empty file"))?;
    // The two private-key operations (unwrap here, sign at the end) take
    // a slot of the pool like any other, in this client's turn.
    let admitted = state.pool.admit(peer.ip()).map_err(|_| Stop::Busy)?;
    let slot = admitted.slot().await.map_err(|_| Stop::Busy)?;
    let mut opener =
        block_in_place(|| StreamOpener::new(&state.key, &stored_head, &OpenOptions::default()))
            .map_err(|e| damaged(&e))?;
    drop(slot);
    let options = SealOptions {
        message_id: Some(message.message_id),
        timestamp: Some(message.created_at),
        ..SealOptions::default()
    };
    let client = &delivery.awaiting.client;
    let (mut sealer, head) = StreamSealer::new(
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
    let mut pending = frames
        .next_frame()
        .map_err(|e| damaged(&e))?
        .ok_or_else(|| damaged(&"no final chunk"))?;
    while let Some(next) = frames.next_frame().map_err(|e| damaged(&e))? {
        let plaintext = opener.chunk(&pending).map_err(|e| damaged(&e))?;
        for data in sealer.push(plaintext).map_err(|e| damaged(&e))? {
            conn.write_message(&ServerMessage::StreamChunk { data })
                .await
                .map_err(network)?;
        }
        pending = next;
    }
    // Bound to the mailbox being fetched, whatever the row says.
    let place = Place {
        recipient: client.key.fingerprint(),
        message_id: message.message_id,
    };
    let stored = opener
        .finish(&pending)
        .and_then(|d| {
            d.verify(
                state.key.public(),
                FreshnessCheck::Expect(&place.freshness()),
            )
        })
        .map_err(|e| damaged(&e))?;
    if stored.message_id != message.message_id {
        return Err(damaged(&"sealed under another message id"));
    }
    let slot = admitted.slot().await.map_err(|_| Stop::Busy)?;
    let end = block_in_place(|| sealer.finish()).map_err(|e| damaged(&e))?;
    drop(slot);
    if let Some(data) = end.last_data {
        conn.write_message(&ServerMessage::StreamChunk { data })
            .await
            .map_err(network)?;
    }
    conn.write_message(&ServerMessage::StreamEnd {
        data: end.final_chunk,
    })
    .await
    .map_err(network)
}
