//! The server's decisions on each request, as plain blocking functions
//! (RSA and database work) returning what to print and what to answer.

use std::time::{SystemTime, UNIX_EPOCH};

use cloak_core::limits::MAX_DELIVERY_ENVELOPES;
use cloak_core::session::messages::Challenge;
use cloak_core::session::proofs::{self, SendPayload};
use cloak_core::session::{ErrorCode, FetchRequest, Receipt, ServerMessage};
use cloak_core::{FreshnessCheck, MessageId, OpenOptions, SealOptions, text};
use tracing::{error, warn};

use crate::authorized::Client;
use crate::handler::State;
use crate::report::{
    CONFIDENTIALITY_FAILED, CONFIDENTIALITY_PASSED, INTEGRITY_FAILED, INTEGRITY_PASSED, Report,
};
use crate::store::{Inbound, Insert, StoreError};

pub(crate) fn error(code: ErrorCode, detail: impl Into<String>) -> ServerMessage {
    ServerMessage::Error {
        code,
        detail: detail.into(),
    }
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Opens, checks, stores and acknowledges one message. The receipt is
/// produced only after the store has committed the message.
pub(crate) fn send(
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
    let record = Inbound {
        message_id: opened.message_id,
        sender: opened.sender,
        sender_name: client.name.clone(),
        received_at: now(),
        mode: opened.mode,
        size: payload.text.len() as u64,
        envelope: envelope.to_vec(),
    };
    match state.store.store_inbound(&record) {
        Ok(Insert::Stored) => report.line(format!("Stored as {}.", opened.message_id)),
        Ok(Insert::Duplicate) => report.line(format!(
            "Already stored as {} (the client retried): kept once.",
            opened.message_id
        )),
        Err(e) => {
            error!("could not store message {}: {e}", opened.message_id);
            report.line(format!("Not stored: {e}. No receipt sent."));
            let reply = match e {
                StoreError::Full { .. } => error(
                    ErrorCode::StorageFull,
                    "the server's message store is full; nothing was stored",
                ),
                _ => error(
                    ErrorCode::Internal,
                    "the server could not store the message; nothing was stored, try again later",
                ),
            };
            return (report, reply);
        }
    }
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

/// A delivery waiting for the client's acknowledgement.
pub(crate) struct AwaitingAck {
    pub client: Client,
    pub client_challenge: Challenge,
    pub delivered: Vec<MessageId>,
}

/// Checks a fetch proof and seals the client's queued messages to it (or
/// the greeting, if none are queued).
pub(crate) fn fetch(
    state: &State,
    challenge: &Challenge,
    request: &FetchRequest,
) -> (Report, ServerMessage, Option<AwaitingAck>) {
    let mut report = Report::default();
    let Some(client) = state.authorized.get(&request.client) else {
        let detail = format!(
            "your key {} is not authorized on this server",
            request.client
        );
        warn!("fetch refused: key {} is not authorized", request.client);
        return (report, error(ErrorCode::NotAuthorized, detail), None);
    };
    if let Some(only) = state.config.only_mode
        && request.mode != only
    {
        let detail = format!("this server accepts only {only} mode; retry with --mode {only}");
        return (report, error(ErrorCode::ModeNotAccepted, detail), None);
    }
    if !proofs::verify_fetch(request, &client.key, state.key.fingerprint(), challenge) {
        warn!("fetch refused: proof for `{}` does not verify", client.name);
        return (
            report,
            error(ErrorCode::Rejected, "fetch proof rejected"),
            None,
        );
    }
    let (queued, total) = match state
        .store
        .pending(&client.key.fingerprint(), MAX_DELIVERY_ENVELOPES)
    {
        Ok(found) => found,
        Err(e) => {
            error!("reading the mailbox of `{}`: {e}", client.name);
            return (
                report,
                error(
                    ErrorCode::Internal,
                    "the server could not read your mailbox",
                ),
                None,
            );
        }
    };
    let seal = |text: &[u8], options: SealOptions| {
        cloak_core::seal(
            &state.key,
            &client.key,
            request.mode,
            &request.challenge,
            text,
            &options,
        )
    };
    let awaiting = |delivered| AwaitingAck {
        client: client.clone(),
        client_challenge: request.challenge,
        delivered,
    };
    if queued.is_empty() {
        return match seal(state.config.greeting.as_bytes(), SealOptions::default()) {
            Ok(sealed) => {
                report.line(format!(
                    "No messages for {}: sent the greeting ({} mode).",
                    client.name, request.mode
                ));
                let reply = ServerMessage::Delivery {
                    envelopes: vec![sealed.bytes],
                    remaining: 0,
                };
                (report, reply, Some(awaiting(Vec::new())))
            }
            Err(e) => {
                error!("sealing the greeting for `{}`: {e}", client.name);
                (
                    report,
                    error(ErrorCode::Internal, "could not seal the reply"),
                    None,
                )
            }
        };
    }
    let mut envelopes = Vec::with_capacity(queued.len());
    let mut delivered = Vec::with_capacity(queued.len());
    for message in &queued {
        let Ok(stored) = crate::at_rest::open(&state.key, &message.envelope) else {
            error!(
                "queued message {} does not open with the server key",
                message.message_id
            );
            return (
                report,
                error(ErrorCode::Internal, "a queued message is damaged"),
                None,
            );
        };
        let options = SealOptions {
            message_id: Some(message.message_id),
            timestamp: Some(message.created_at),
            ..SealOptions::default()
        };
        match seal(&stored.plaintext, options) {
            Ok(sealed) => {
                envelopes.push(sealed.bytes);
                delivered.push(message.message_id);
            }
            Err(e) => {
                let detail = format!("message {} cannot be delivered: {e}", message.message_id);
                return (report, error(ErrorCode::Rejected, detail), None);
            }
        }
    }
    report.line(format!(
        "Delivered {} message(s) to {} ({} mode); {} more queued.",
        delivered.len(),
        client.name,
        request.mode,
        total - delivered.len()
    ));
    let reply = ServerMessage::Delivery {
        envelopes,
        remaining: (total - delivered.len()) as u32,
    };
    (report, reply, Some(awaiting(delivered)))
}

/// Removes acknowledged messages, if the proof is the client's.
pub(crate) fn ack(
    state: &State,
    challenge: &Challenge,
    awaiting: &AwaitingAck,
    ids: &[MessageId],
    proof: &[u8],
) -> (Report, ServerMessage) {
    let mut report = Report::default();
    let genuine = proofs::verify_ack(
        &awaiting.client.key,
        state.key.fingerprint(),
        challenge,
        &awaiting.client_challenge,
        ids,
        proof,
    );
    if !genuine {
        warn!(
            "acknowledgement for `{}` does not verify",
            awaiting.client.name
        );
        return (
            report,
            error(ErrorCode::Rejected, "acknowledgement rejected"),
        );
    }
    // Only what this connection delivered can be acknowledged on it.
    let ids: Vec<_> = ids
        .iter()
        .filter(|id| awaiting.delivered.contains(id))
        .copied()
        .collect();
    match state
        .store
        .acknowledge(&awaiting.client.key.fingerprint(), &ids)
    {
        Ok(removed) => {
            if !awaiting.delivered.is_empty() {
                report.line(format!(
                    "{} acknowledged {removed} message(s).",
                    awaiting.client.name
                ));
            }
            (
                report,
                ServerMessage::Acked {
                    removed: removed as u32,
                },
            )
        }
        Err(e) => {
            error!("acknowledging for `{}`: {e}", awaiting.client.name);
            (
                report,
                error(
                    ErrorCode::Internal,
                    "the server could not record the acknowledgement",
                ),
            )
        }
    }
}
