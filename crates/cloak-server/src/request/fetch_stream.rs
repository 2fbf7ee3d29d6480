//! Delivering a queued message too large for one envelope: the stream file
//! the server sealed to itself is opened chunk by chunk and each chunk
//! re-sealed, as a new stream, to the client over the client's challenge.
//! The new stream's signed final chunk is sent only after the stored
//! stream's own signature verified, so a damaged or altered file never
//! reaches the client as a valid message. Memory stays at a few chunks.

use std::net::SocketAddr;
use std::sync::Arc;

use cloak_core::envelope::stream::StreamSealer;
use cloak_core::session::{Connection, ServerMessage};
use cloak_core::{FreshnessCheck, SealOptions};
use tokio::task::block_in_place;
use tracing::{error, warn};

use super::fetch::StreamDelivery;
use crate::at_rest::Place;
use crate::at_rest::stored::{StoredHead, StoredStream};
use crate::pool::Admitted;
use crate::refusal::Refusal;
use crate::report::Report;
use crate::state::State;

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
            let _ = conn
                .write_message(&ServerMessage::from(&Refusal::Damaged))
                .await;
            false
        }
        Err(Stop::Network(why)) => {
            warn!(%peer, "delivery of {} broke off: {why}", message.message_id);
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
    let stored = StoredHead::read(path).map_err(|e| damaged(&e))?;
    // The two private-key operations (unwrap here, sign at the end) take
    // a slot of the pool like any other, in this client's turn.
    let admitted = state.pool.admit(peer.ip()).map_err(|_| Stop::Busy)?;
    let slot = admitted.slot().await.map_err(|_| Stop::Busy)?;
    let mut stored = block_in_place(|| stored.unwrap(&state.key)).map_err(|e| damaged(&e))?;
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
    relay(conn, &mut stored, &mut sealer).await?;
    verify_stored(state, delivery, stored)?;
    finish(conn, &admitted, sealer).await
}

fn damaged(e: &dyn std::fmt::Display) -> Stop {
    Stop::Damaged(e.to_string())
}

fn network(e: cloak_core::session::ConnectionError) -> Stop {
    Stop::Network(e.to_string())
}

/// Re-seals and sends every stored chunk but the final one.
async fn relay(
    conn: &mut Connection,
    stored: &mut StoredStream,
    sealer: &mut StreamSealer<'_>,
) -> Result<(), Stop> {
    while let Some(plaintext) = stored.next_chunk().map_err(|e| damaged(&e))? {
        for data in sealer.push(plaintext).map_err(|e| damaged(&e))? {
            conn.write_message(&ServerMessage::StreamChunk { data })
                .await
                .map_err(network)?;
        }
    }
    Ok(())
}

/// Checks the stored stream's own signature, before the client gets a
/// signed end.
fn verify_stored(
    state: &State,
    delivery: &StreamDelivery,
    stored: StoredStream,
) -> Result<(), Stop> {
    let message = &delivery.message;
    // Bound to the mailbox being fetched, whatever the row says.
    let place = Place {
        recipient: delivery.awaiting.client.key.fingerprint(),
        message_id: message.message_id,
    };
    let stored = (stored.finish().map_err(|e| damaged(&e))?)
        .verify(
            state.key.public(),
            FreshnessCheck::Expect(&place.freshness()),
        )
        .map_err(|e| damaged(&e))?;
    if stored.message_id != message.message_id {
        return Err(damaged(&"sealed under another message id"));
    }
    Ok(())
}

/// Signs the new stream's end and sends it.
async fn finish(
    conn: &mut Connection,
    admitted: &Admitted,
    sealer: StreamSealer<'_>,
) -> Result<(), Stop> {
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
