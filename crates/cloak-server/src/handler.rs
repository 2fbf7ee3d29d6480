//! One connection, as a sequence of typed phases: hello; one request; for a
//! delivery of queued messages, the client's acknowledgement. The decisions
//! run on the fair pool (see `pool`), so RSA and database work never stall
//! the network tasks, and memory held for a request before it is decided
//! is reserved from the server's budget (see `budget`).

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;

use cloak_core::KeyPair;
use cloak_core::session::messages::Challenge;
use cloak_core::session::proofs;
use cloak_core::session::{
    ClientMessage, Connection, ConnectionError, ErrorCode, PayloadError, ServerHello, ServerMessage,
};
use tracing::{debug, info, warn};

use crate::authorized::Authorized;
use crate::budget::{Budget, Reserved};
use crate::config::ServerConfig;
use crate::pool::{Pool, Refused, Turn};
use crate::process::{self, AwaitingAck, Fetched, StreamDelivery, error};
use crate::refusals::{RefusalLog, left_out_note};
use crate::report::Report;
use crate::store::MessageStore;

/// What every connection shares.
pub(crate) struct Shared {
    pub key: KeyPair,
    pub config: ServerConfig,
    pub store: Arc<dyn MessageStore>,
    pub pool: Pool,
    pub budget: Budget,
    pub refusals: RefusalLog,
}

/// One connection's state: what every connection shares (through `Deref`,
/// so the request code reads both alike), and the authorized clients as
/// they were when it was accepted. A key file removed meanwhile revokes
/// the connections that come after, not this one: each of its phases sees
/// the same clients.
pub(crate) struct State {
    pub shared: Arc<Shared>,
    pub authorized: Arc<Authorized>,
}

impl Deref for State {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.shared
    }
}

impl Shared {
    /// Logs a refusal of `peer`'s request, unless that address has had its
    /// share of log lines (see `refusals`).
    pub(crate) fn log_refusal(&self, peer: SocketAddr, what: impl std::fmt::Display) {
        if let Some(left_out) = self.refusals.admit(peer.ip()) {
            warn!(%peer, "{what}{}", left_out_note(left_out));
        }
    }

    /// Prints a request's report (and logs its reasons for the log); a
    /// refusal's only within the log limit.
    pub(crate) fn print(&self, peer: SocketAddr, mut report: Report) {
        if report.is_refusal() {
            match self.refusals.admit(peer.ip()) {
                None => return,
                Some(0) => {}
                Some(left_out) => report.line(format!(
                    "  ({left_out} earlier refusals from {peer} not shown)"
                )),
            }
        }
        for reason in report.logged() {
            warn!(%peer, "{reason}");
        }
        report.print();
    }
}

/// The answer when the pool or the budget has no room for a request.
pub(crate) fn busy() -> ServerMessage {
    error(ErrorCode::Internal, "the server is busy; try again later")
}

fn internal() -> ServerMessage {
    error(ErrorCode::Internal, "internal server error")
}

/// Runs `work` for `peer` on the pool and prints its report; its answer,
/// or `refused(reply)` when the pool refused it. `None` when the peer
/// closed the connection first: the work is then withdrawn.
pub(crate) async fn decide<T: Send + 'static>(
    state: &Arc<State>,
    conn: &mut Connection,
    peer: SocketAddr,
    work: impl FnOnce(&State, &mut Turn<'_>) -> (Report, T) + Send + 'static,
    refused: impl FnOnce(ServerMessage) -> T,
) -> Option<T> {
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
                refused(busy())
            }
            Err(Refused::Failed) => refused(internal()),
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
        let _ = conn.write_message(&busy()).await;
    }
    room
}

/// Reads the next client message, answering protocol-level faults itself.
async fn next_request(
    state: &State,
    conn: &mut Connection,
    peer: SocketAddr,
) -> Option<ClientMessage> {
    match conn.read_message::<ClientMessage>().await {
        Ok(Some(request)) => Some(request),
        Ok(None) => {
            debug!(%peer, "closed without a request");
            None
        }
        Err(ConnectionError::Payload(PayloadError::UnsupportedVersion { theirs, ours })) => {
            state.log_refusal(
                peer,
                format!("refused: client speaks protocol version {theirs}, we speak {ours}"),
            );
            let detail = format!("server speaks protocol version {ours}, client sent {theirs}");
            let _ = conn
                .write_message(&error(ErrorCode::UnsupportedVersion, detail))
                .await;
            None
        }
        Err(ConnectionError::Payload(e)) => {
            state.log_refusal(peer, format!("refused: malformed request: {e}"));
            let _ = conn
                .write_message(&error(ErrorCode::Malformed, "malformed request"))
                .await;
            None
        }
        Err(e) => {
            state.log_refusal(peer, format!("dropped: {e}"));
            None
        }
    }
}

async fn answer(
    state: &State,
    conn: &mut Connection,
    peer: SocketAddr,
    reply: &ServerMessage,
) -> bool {
    if let ServerMessage::Error { code, detail } = reply {
        state.log_refusal(peer, format!("refused ({code:?}): {detail}"));
    }
    match conn.write_message(reply).await {
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
            if crate::delivery::send(&state, &mut conn, peer, &delivery).await {
                await_ack(&state, &mut conn, peer, challenge, delivery.awaiting).await;
            }
        }
        Ok(Some(Streaming::Receive(challenge, head, proof))) => {
            // Not bounded by the connection deadline either.
            let reply =
                crate::intake::receive(&state, &mut conn, peer, &challenge, head, proof).await;
            match &reply {
                // A refusal was already sent, before draining.
                ServerMessage::Error { code, detail } => {
                    state.log_refusal(peer, format!("refused ({code:?}): {detail}"));
                }
                _ => {
                    answer(&state, &mut conn, peer, &reply).await;
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
    /// The client started sending one: its head and the sender's proof.
    Receive(Challenge, Vec<u8>, Vec<u8>),
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
    match request {
        ClientMessage::SendStream { head, proof } => {
            return Some(Streaming::Receive(challenge, head, proof));
        }
        ClientMessage::Send {
            wrapped_key,
            proof,
            envelope,
        } => {
            let sent = process::Sent {
                wrapped_key,
                proof,
                envelope,
            };
            let reply = decide(
                state,
                conn,
                peer,
                move |state, turn| process::send(state, &challenge, &sent, turn),
                |refusal| refusal,
            )
            .await?;
            drop(room);
            answer(state, conn, peer, &reply).await;
        }
        ClientMessage::Fetch(request) => {
            let fetched = decide(
                state,
                conn,
                peer,
                move |state, turn| process::fetch(state, &challenge, &request, turn),
                |refusal| Fetched::Answer(refusal, None),
            )
            .await?;
            drop(room);
            match fetched {
                Fetched::Stream(delivery) => {
                    return Some(Streaming::Deliver(challenge, Box::new(delivery)));
                }
                Fetched::Answer(reply, awaiting) => {
                    if answer(state, conn, peer, &reply).await
                        && let Some(awaiting) = awaiting
                    {
                        await_ack(state, conn, peer, challenge, awaiting).await;
                    }
                }
            }
        }
        _ => {
            let reply = error(ErrorCode::Malformed, "expected a send or fetch request");
            answer(state, conn, peer, &reply).await;
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
    let Some(message) = next_request(state, conn, peer).await else {
        info!(%peer, "no acknowledgement from `{}`: messages stay queued", awaiting.client.name);
        return;
    };
    let ClientMessage::Ack { ids, proof } = message else {
        let reply = error(ErrorCode::Malformed, "expected an acknowledgement");
        answer(state, conn, peer, &reply).await;
        return;
    };
    let Some(reply) = decide(
        state,
        conn,
        peer,
        move |state, _| process::ack(state, &challenge, &awaiting, &ids, &proof),
        |refusal| refusal,
    )
    .await
    else {
        return;
    };
    answer(state, conn, peer, &reply).await;
}
