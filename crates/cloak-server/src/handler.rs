//! One connection, as a sequence of typed phases: hello; one request; for a
//! delivery of queued messages, the client's acknowledgement. The decisions
//! run on the blocking pool (see `process`), so RSA and database work never
//! stall the network tasks.

use std::net::SocketAddr;
use std::sync::Arc;

use cloak_core::KeyPair;
use cloak_core::session::messages::Challenge;
use cloak_core::session::proofs;
use cloak_core::session::{
    ClientMessage, Connection, ConnectionError, ErrorCode, PayloadError, ServerHello, ServerMessage,
};
use tracing::{debug, info, warn};

use crate::authorized::Authorized;
use crate::config::ServerConfig;
use crate::process::{self, AwaitingAck, Fetched, StreamDelivery, error};
use crate::report::Report;
use crate::store::MessageStore;

/// What every connection shares.
pub(crate) struct State {
    pub key: KeyPair,
    pub authorized: Authorized,
    pub config: ServerConfig,
    pub store: Arc<dyn MessageStore>,
}

/// Runs `work` on the blocking pool, prints its report, returns its answer.
async fn decide<T: Send + 'static>(
    peer: SocketAddr,
    work: impl FnOnce() -> (Report, T) + Send + 'static,
    on_panic: impl FnOnce() -> T,
) -> T {
    match tokio::task::spawn_blocking(move || {
        let (report, answer) = work();
        report.print();
        answer
    })
    .await
    {
        Ok(answer) => answer,
        Err(e) => {
            warn!(%peer, "request processing failed: {e}");
            on_panic()
        }
    }
}

fn internal() -> ServerMessage {
    error(ErrorCode::Internal, "internal server error")
}

/// Reads the next client message, answering protocol-level faults itself.
async fn next_request(conn: &mut Connection, peer: SocketAddr) -> Option<ClientMessage> {
    match conn.read_message::<ClientMessage>().await {
        Ok(Some(request)) => Some(request),
        Ok(None) => {
            debug!(%peer, "closed without a request");
            None
        }
        Err(ConnectionError::Payload(PayloadError::UnsupportedVersion { theirs, ours })) => {
            warn!(%peer, "refused: client speaks protocol version {theirs}, we speak {ours}");
            let detail = format!("server speaks protocol version {ours}, client sent {theirs}");
            let _ = conn
                .write_message(&error(ErrorCode::UnsupportedVersion, detail))
                .await;
            None
        }
        Err(ConnectionError::Payload(e)) => {
            warn!(%peer, "refused: malformed request: {e}");
            let _ = conn
                .write_message(&error(ErrorCode::Malformed, "malformed request"))
                .await;
            None
        }
        Err(e) => {
            warn!(%peer, "dropped: {e}");
            None
        }
    }
}

async fn answer(conn: &mut Connection, peer: SocketAddr, reply: &ServerMessage) -> bool {
    if let ServerMessage::Error { code, detail } = reply {
        info!(%peer, ?code, "refused: {detail}");
    }
    match conn.write_message(reply).await {
        Ok(()) => true,
        Err(e) => {
            warn!(%peer, "could not send the answer: {e}");
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
    match tokio::time::timeout_at(deadline, converse(&state, &mut conn, peer)).await {
        Err(_) => {
            warn!(%peer, "connection exceeded its {:?} deadline; closed", state.config.deadline);
        }
        Ok(Some(Streaming::Deliver(challenge, delivery))) => {
            // Like a received stream, a delivered one may take as long as
            // it needs, each frame within the I/O timeout.
            if crate::delivery::send(&state, &mut conn, peer, &delivery).await {
                await_ack(&state, &mut conn, peer, challenge, delivery.awaiting).await;
            }
        }
        Ok(Some(Streaming::Receive(challenge, head))) => {
            // Not bounded by the connection deadline either.
            let reply = crate::intake::receive(&state, &mut conn, peer, &challenge, head).await;
            match &reply {
                // A refusal was already sent, before draining.
                ServerMessage::Error { code, detail } => {
                    info!(%peer, ?code, "refused: {detail}");
                }
                _ => {
                    answer(&mut conn, peer, &reply).await;
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
    /// The client started sending one: its head.
    Receive(Challenge, Vec<u8>),
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
    let request = next_request(conn, peer).await?;
    let worker = Arc::clone(state);
    match request {
        ClientMessage::SendStream { head } => return Some(Streaming::Receive(challenge, head)),
        ClientMessage::Send { envelope } => {
            let reply = decide(
                peer,
                move || process::send(&worker, &challenge, &envelope),
                internal,
            )
            .await;
            answer(conn, peer, &reply).await;
        }
        ClientMessage::Fetch(request) => {
            let fetched = decide(
                peer,
                move || process::fetch(&worker, &challenge, &request),
                || Fetched::Answer(internal(), None),
            )
            .await;
            match fetched {
                Fetched::Stream(delivery) => {
                    return Some(Streaming::Deliver(challenge, Box::new(delivery)));
                }
                Fetched::Answer(reply, awaiting) => {
                    if answer(conn, peer, &reply).await
                        && let Some(awaiting) = awaiting
                    {
                        await_ack(state, conn, peer, challenge, awaiting).await;
                    }
                }
            }
        }
        _ => {
            let reply = error(ErrorCode::Malformed, "expected a send or fetch request");
            answer(conn, peer, &reply).await;
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
    awaiting: AwaitingAck,
) {
    let Some(message) = next_request(conn, peer).await else {
        info!(%peer, "no acknowledgement from `{}`: messages stay queued", awaiting.client.name);
        return;
    };
    let ClientMessage::Ack { ids, proof } = message else {
        let reply = error(ErrorCode::Malformed, "expected an acknowledgement");
        answer(conn, peer, &reply).await;
        return;
    };
    let worker = Arc::clone(state);
    let reply = decide(
        peer,
        move || process::ack(&worker, &challenge, &awaiting, &ids, &proof),
        internal,
    )
    .await;
    answer(conn, peer, &reply).await;
}
