//! One connection: hello, one request, one answer. The cryptographic
//! decisions are plain functions (`process_send`, `process_fetch`) run on
//! the blocking pool, so RSA work never stalls the network tasks.

use std::net::SocketAddr;
use std::sync::Arc;

use cloak_core::session::messages::Challenge;
use cloak_core::session::proofs::{self, SendPayload};
use cloak_core::session::{
    ClientMessage, Connection, ConnectionError, ErrorCode, FetchRequest, PayloadError, Receipt,
    ServerHello, ServerMessage,
};
use cloak_core::{FreshnessCheck, KeyPair, OpenOptions, SealOptions, text};
use tracing::{debug, info, warn};

use crate::authorized::Authorized;
use crate::config::ServerConfig;
use crate::report::{
    CONFIDENTIALITY_FAILED, CONFIDENTIALITY_PASSED, INTEGRITY_FAILED, INTEGRITY_PASSED, Report,
};

/// What every connection shares.
pub(crate) struct State {
    pub key: KeyPair,
    pub authorized: Authorized,
    pub config: ServerConfig,
}

fn error(code: ErrorCode, detail: impl Into<String>) -> ServerMessage {
    ServerMessage::Error {
        code,
        detail: detail.into(),
    }
}

/// Serves one connection to its end. Never panics on peer input; every
/// failure is logged with the peer's address and a reason.
pub(crate) async fn serve(state: Arc<State>, stream: tokio::net::TcpStream, peer: SocketAddr) {
    let mut conn = Connection::new(stream, state.config.io_timeout);
    let challenge = proofs::new_challenge();
    let hello = ServerMessage::Hello(ServerHello {
        server: state.key.fingerprint(),
        challenge,
        modes: state.config.modes(),
    });
    if let Err(e) = conn.write_message(&hello).await {
        debug!(%peer, "could not send hello: {e}");
        return;
    }
    let request = match conn.read_message::<ClientMessage>().await {
        Ok(Some(request)) => request,
        Ok(None) => {
            debug!(%peer, "closed without a request");
            return;
        }
        Err(ConnectionError::Payload(PayloadError::UnsupportedVersion { theirs, ours })) => {
            warn!(%peer, "refused: client speaks protocol version {theirs}, we speak {ours}");
            let detail = format!("server speaks protocol version {ours}, client sent {theirs}");
            let _ = conn
                .write_message(&error(ErrorCode::UnsupportedVersion, detail))
                .await;
            return;
        }
        Err(ConnectionError::Payload(e)) => {
            warn!(%peer, "refused: malformed request: {e}");
            let _ = conn
                .write_message(&error(ErrorCode::Malformed, "malformed request"))
                .await;
            return;
        }
        Err(e) => {
            warn!(%peer, "dropped: {e}");
            return;
        }
    };
    let worker = Arc::clone(&state);
    let reply = tokio::task::spawn_blocking(move || {
        let (report, reply) = match request {
            ClientMessage::Send { envelope } => process_send(&worker, &challenge, &envelope),
            ClientMessage::Fetch(fetch) => process_fetch(&worker, &challenge, &fetch),
            _ => (
                Report::default(),
                error(ErrorCode::Malformed, "unsupported request"),
            ),
        };
        report.print();
        reply
    })
    .await
    .unwrap_or_else(|e| {
        warn!(%peer, "request processing failed: {e}");
        error(ErrorCode::Internal, "internal server error")
    });
    match &reply {
        ServerMessage::Error { code, detail } => info!(%peer, ?code, "refused: {detail}"),
        _ => debug!(%peer, "answered"),
    }
    if let Err(e) = conn.write_message(&reply).await {
        warn!(%peer, "could not send the answer: {e}");
    }
    conn.shutdown().await;
}

/// Opens, checks and acknowledges one message.
pub(crate) fn process_send(
    state: &State,
    challenge: &Challenge,
    envelope: &[u8],
) -> (Report, ServerMessage) {
    let mut report = Report::default();
    let mode = cloak_core::peek_mode(envelope);
    if let (Some(only), Some(mode)) = (state.config.only_mode, mode)
        && mode != only
    {
        report.failed(
            CONFIDENTIALITY_FAILED,
            format!("{mode} mode is not accepted by this server (it runs with --mode {only})"),
        );
        let detail = format!("this server accepts only {only} mode; retry with --mode {only}");
        return (report, error(ErrorCode::ModeNotAccepted, detail));
    }
    let options = OpenOptions {
        only_mode: state.config.only_mode,
        ..OpenOptions::default()
    };
    let Ok(decrypted) = cloak_core::decrypt(&state.key, envelope, &options) else {
        report.failed(
            CONFIDENTIALITY_FAILED,
            "the envelope does not decrypt with this server's key (altered, malformed, or sealed to another key)",
        );
        return (report, error(ErrorCode::Rejected, "message rejected"));
    };
    report.line(CONFIDENTIALITY_PASSED);
    let sender = decrypted.claimed_sender();
    let Some(client) = state.authorized.get(&sender) else {
        report.failed(
            INTEGRITY_FAILED,
            format!("sender key {sender} is not authorized on this server"),
        );
        let detail = format!("your key {sender} is not authorized on this server");
        return (report, error(ErrorCode::NotAuthorized, detail));
    };
    let Ok(opened) = decrypted.verify(&client.key, FreshnessCheck::Expect(challenge)) else {
        report.failed(
            INTEGRITY_FAILED,
            format!(
                "the signature of `{}` does not verify for this session (altered, forged, or replayed)",
                client.name
            ),
        );
        return (report, error(ErrorCode::Rejected, "message rejected"));
    };
    let Some(payload) = SendPayload::from_bytes(&opened.plaintext) else {
        report.failed(
            INTEGRITY_FAILED,
            format!("`{}` signed a payload that does not decode", client.name),
        );
        return (
            report,
            error(ErrorCode::Malformed, "malformed message payload"),
        );
    };
    report.line(INTEGRITY_PASSED);
    report.line(format!(
        "Message from {} ({}, {} mode, id {}):\n{}",
        client.name,
        opened.sender,
        opened.mode,
        opened.message_id,
        text::printable(&payload.text)
    ));
    let mac = proofs::receipt_mac(
        &payload.receipt_key,
        opened.message_id,
        state.key.fingerprint(),
        challenge,
        envelope,
    );
    let receipt = Receipt {
        message_id: opened.message_id,
        mac,
    };
    (report, ServerMessage::Receipt(receipt))
}

/// Checks a fetch proof and seals the client's messages to it.
pub(crate) fn process_fetch(
    state: &State,
    challenge: &Challenge,
    request: &FetchRequest,
) -> (Report, ServerMessage) {
    let mut report = Report::default();
    let Some(client) = state.authorized.get(&request.client) else {
        let detail = format!(
            "your key {} is not authorized on this server",
            request.client
        );
        warn!("fetch refused: key {} is not authorized", request.client);
        return (report, error(ErrorCode::NotAuthorized, detail));
    };
    if let Some(only) = state.config.only_mode
        && request.mode != only
    {
        let detail = format!("this server accepts only {only} mode; retry with --mode {only}");
        return (report, error(ErrorCode::ModeNotAccepted, detail));
    }
    if !proofs::verify_fetch(request, &client.key, state.key.fingerprint(), challenge) {
        warn!("fetch refused: proof for `{}` does not verify", client.name);
        return (report, error(ErrorCode::Rejected, "fetch proof rejected"));
    }
    let greeting = state.config.greeting.as_bytes();
    match cloak_core::seal(
        &state.key,
        &client.key,
        request.mode,
        &request.challenge,
        greeting,
        &SealOptions::default(),
    ) {
        Ok(sealed) => {
            report.line(format!(
                "Sent the greeting to {} ({} mode).",
                client.name, request.mode
            ));
            (
                report,
                ServerMessage::Delivery {
                    envelopes: vec![sealed.bytes],
                },
            )
        }
        Err(e) => {
            warn!("sealing for `{}` failed: {e}", client.name);
            (
                report,
                error(ErrorCode::Internal, "could not seal the reply"),
            )
        }
    }
}
