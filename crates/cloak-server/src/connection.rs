//! One connection, as a sequence of typed phases: hello; one request; for a
//! delivery of queued messages, the client's acknowledgement. The decisions
//! run on the fair pool (see `pool`), so RSA and database work never stall
//! the network tasks, and memory held for a request before it is decided
//! is reserved from the server's budget (see `budget`).

use std::net::SocketAddr;
use std::sync::Arc;

use cloak_core::session::messages::Challenge;
use cloak_core::session::proofs;
use cloak_core::session::{
    ClientMessage, Connection, ConnectionError, PayloadError, ServerHello, ServerMessage,
};
use tracing::{debug, info};

use crate::budget::Reserved;
use crate::pool::{Refused, Turn};
use crate::refusal::{Answer, Refusal};
use crate::report::Report;
use crate::request::ack::{Ack, Awaiting};
use crate::request::fetch::{self, Fetched, StreamDelivery};
use crate::request::fetch_stream;
use crate::request::send::Send;
use crate::request::send_stream::SendStream;
use crate::state::State;

/// Runs `work` for `peer` on the pool and prints its report; its answer,
/// or the refusal when the pool refused it. `None` when the peer closed
/// the connection first: the work is then withdrawn.
async fn decide<T: std::marker::Send + 'static>(
    state: &Arc<State>,
    conn: &mut Connection,
    peer: SocketAddr,
    work: impl FnOnce(&State, &mut Turn<'_>) -> (Report, Result<T, Refusal>)
    + std::marker::Send
    + 'static,
) -> Option<Result<T, Refusal>> {
    let worker = Arc::clone(state);
    let job = state.pool.run(peer.ip(), move |turn| {
        let (report, answer) = work(&worker, turn);
        worker.print(peer, report);
        answer
    });
    tokio::select! {
        result = job => Some(match result {
            Ok(answer) => answer,
            Err(Refused::Busy) => {
                state.log_refusal(peer, "refused: too many requests in progress");
                Err(Refusal::Busy)
            }
            Err(Refused::Failed) => Err(Refusal::Internal),
        }),
        // A client sends nothing more until it has its answer: anything,
        // even a byte, means it gave up (or is misbehaving).
        () = conn.interrupted() => {
            state.log_refusal(peer, "left or spoke out of turn before its request was decided; the work was dropped");
            None
        }
    }
}

/// Room in the budget for the frame the peer is sending: its declared
/// length, reserved before it is read. `None` (answered or logged) when
/// the peer closed, the frame is too large, or there is no room.
async fn reserve_frame(state: &State, conn: &mut Connection, peer: SocketAddr) -> Option<Reserved> {
    let len = match conn.next_frame_len().await {
        Ok(Some(len)) => len,
        Ok(None) => {
            debug!(%peer, "closed without a request");
            return None;
        }
        Err(e) => {
            state.log_refusal(peer, format!("dropped: {e}"));
            return None;
        }
    };
    let wait = state.config.io_timeout;
    let room = state.budget.reserve(peer.ip(), len + 4, wait).await;
    if room.is_none() {
        state.log_refusal(peer, "refused: no memory left for unauthenticated requests");
        let _ = conn
            .write_message(&ServerMessage::from(&Refusal::Busy))
            .await;
    }
    room
}

/// Reads the next client message, answering protocol-level faults itself.
async fn next_request(
    state: &State,
    conn: &mut Connection,
    peer: SocketAddr,
) -> Option<ClientMessage> {
    let refusal = match conn.read_message::<ClientMessage>().await {
        Ok(Some(request)) => return Some(request),
        Ok(None) => {
            debug!(%peer, "closed without a request");
            return None;
        }
        Err(ConnectionError::Payload(PayloadError::UnsupportedVersion { theirs, ours })) => {
            state.log_refusal(
                peer,
                format!("refused: client speaks protocol version {theirs}, we speak {ours}"),
            );
            Refusal::UnsupportedVersion { theirs, ours }
        }
        Err(ConnectionError::Payload(e)) => {
            state.log_refusal(peer, format!("refused: malformed request: {e}"));
            Refusal::MalformedRequest
        }
        Err(e) => {
            state.log_refusal(peer, format!("dropped: {e}"));
            return None;
        }
    };
    let _ = conn.write_message(&ServerMessage::from(&refusal)).await;
    None
}

/// Sends `answer` (logging a refusal); whether it went out.
async fn answer(state: &State, conn: &mut Connection, peer: SocketAddr, answer: Answer) -> bool {
    let reply = match answer {
        Ok(reply) => reply,
        Err(refusal) => {
            state.log_refusal(peer, &refusal);
            ServerMessage::from(&refusal)
        }
    };
    match conn.write_message(&reply).await {
        Ok(()) => true,
        Err(e) => {
            state.log_refusal(peer, format!("could not send the answer: {e}"));
            false
        }
    }
}

/// Serves one connection to its end. Never panics on peer input; every
/// failure is logged with the peer's address and a reason.
///
/// The connection deadline bounds every phase except a stream's chunks,
/// which may take as long as the message needs but must keep arriving: each
/// frame within the I/O timeout.
pub(crate) async fn serve(state: Arc<State>, stream: tokio::net::TcpStream, peer: SocketAddr) {
    let deadline = tokio::time::Instant::now() + state.config.deadline;
    let mut conn = Connection::new(stream, state.config.io_timeout);
    conn.set_max_frame(cloak_core::limits::MAX_CLIENT_FRAME_LEN);
    match tokio::time::timeout_at(deadline, converse(&state, &mut conn, peer)).await {
        Err(_) => {
            let deadline = state.config.deadline;
            state.log_refusal(
                peer,
                format!("connection exceeded its {deadline:?} deadline; closed"),
            );
        }
        Ok(Some(Streaming::Deliver(challenge, delivery))) => {
            // Like a received stream, a delivered one may take as long as
            // it needs, each frame within the I/O timeout.
            if fetch_stream::send(&state, &mut conn, peer, &delivery).await {
                await_ack(&state, &mut conn, peer, challenge, delivery.awaiting).await;
            }
        }
        Ok(Some(Streaming::Receive(challenge, sent))) => {
            // Not bounded by the connection deadline either.
            match sent.apply(&state, &mut conn, peer, &challenge).await {
                // A refusal was already sent, before draining.
                Err(refusal) => state.log_refusal(peer, &refusal),
                reply => {
                    answer(&state, &mut conn, peer, reply).await;
                }
            }
        }
        Ok(None) => {}
    }
    conn.shutdown().await;
}

/// A stream the connection goes on with after its request, outside the
/// connection deadline, with the session's challenge.
enum Streaming {
    /// The client started sending one.
    Receive(Challenge, SendStream),
    /// A queued message to deliver as one.
    Deliver(Challenge, Box<StreamDelivery>),
}

/// Everything but a stream's chunks.
async fn converse(
    state: &Arc<State>,
    conn: &mut Connection,
    peer: SocketAddr,
) -> Option<Streaming> {
    let challenge = proofs::new_challenge();
    let hello = ServerMessage::Hello(ServerHello {
        server: state.key.fingerprint(),
        challenge,
        modes: state.config.modes(),
    });
    if let Err(e) = conn.write_message(&hello).await {
        debug!(%peer, "could not send hello: {e}");
        return None;
    }
    // Held until the request is decided: its bytes are in memory until
    // then. (A stream reserves its own working set instead.)
    let room = reserve_frame(state, conn, peer).await?;
    let request = next_request(state, conn, peer).await?;
    // The request is decoded into its own buffers, which `room` covers;
    // the frame's allocation must not outlive it (a refused stream is
    // still read, and thrown away, for a while).
    conn.shed_buffer();
    dispatch(state, conn, peer, challenge, room, request).await
}

/// Applies the first request of a connection.
async fn dispatch(
    state: &Arc<State>,
    conn: &mut Connection,
    peer: SocketAddr,
    challenge: Challenge,
    room: Reserved,
    request: ClientMessage,
) -> Option<Streaming> {
    match request {
        ClientMessage::SendStream { head, proof } => {
            return Some(Streaming::Receive(challenge, SendStream { head, proof }));
        }
        ClientMessage::Send {
            wrapped_key,
            proof,
            envelope,
        } => {
            let sent = Send {
                wrapped_key,
                proof,
                envelope,
            };
            let work =
                move |state: &State, turn: &mut Turn<'_>| sent.apply(state, &challenge, turn);
            let reply = decide(state, conn, peer, work).await?;
            drop(room);
            answer(state, conn, peer, reply).await;
        }
        ClientMessage::Fetch(request) => {
            let work = move |state: &State, turn: &mut Turn<'_>| {
                fetch::apply(state, &challenge, &request, turn)
            };
            let fetched = decide(state, conn, peer, work).await?;
            drop(room);
            match fetched {
                Ok(Fetched::Stream(delivery)) => {
                    return Some(Streaming::Deliver(challenge, Box::new(delivery)));
                }
                Ok(Fetched::Answer(reply, awaiting)) => {
                    if answer(state, conn, peer, Ok(reply)).await {
                        await_ack(state, conn, peer, challenge, awaiting).await;
                    }
                }
                Err(refusal) => {
                    answer(state, conn, peer, Err(refusal)).await;
                }
            }
        }
        _ => {
            answer(state, conn, peer, Err(Refusal::NotARequest)).await;
        }
    }
    None
}

/// The acknowledgement phase after a delivery. A client that goes away
/// instead simply gets the same messages next time.
async fn await_ack(
    state: &Arc<State>,
    conn: &mut Connection,
    peer: SocketAddr,
    challenge: Challenge,
    awaiting: Awaiting,
) {
    let Some(message) = next_request(state, conn, peer).await else {
        info!(%peer, "no acknowledgement from `{}`: messages stay queued", awaiting.client.name);
        return;
    };
    let ClientMessage::Ack { ids, proof } = message else {
        answer(state, conn, peer, Err(Refusal::NotAnAck)).await;
        return;
    };
    let ack = Ack { ids, proof };
    let work = move |state: &State, _: &mut Turn<'_>| ack.apply(state, &challenge, &awaiting);
    if let Some(reply) = decide(state, conn, peer, work).await {
        answer(state, conn, peer, reply).await;
    }
}
