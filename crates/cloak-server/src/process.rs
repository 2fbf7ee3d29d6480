//! The server's decisions on each request, as plain blocking functions
//! (RSA and database work) returning what to print and what to answer.

use std::time::{SystemTime, UNIX_EPOCH};

use cloak_core::limits::{MAX_DELIVERY_BYTES, MAX_DELIVERY_ENVELOPES};
use cloak_core::session::messages::Challenge;
use cloak_core::session::proofs;
use cloak_core::session::sender_proof::{self, ClaimedSender};
use cloak_core::session::{ErrorCode, FetchRequest, Receipt, ServerMessage};
use cloak_core::{
    Fingerprint, FreshnessCheck, MessageId, Mode, OpenError, OpenOptions, PublicKey, SealError,
    SealOptions, text,
};
use tracing::error;

use crate::at_rest::Place;
use crate::authorized::{Authorized, Client};
use crate::handler::State;
use crate::pool::Turn;
use crate::report::{
    CONFIDENTIALITY_FAILED, CONFIDENTIALITY_PASSED, INTEGRITY_FAILED, INTEGRITY_PASSED, Report,
};
use crate::store::{Content, Inbound, Insert, Outbound, StoreError};

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

/// An asymmetric message as sent: the sender's proof, then the envelope.
pub(crate) struct Sent {
    pub wrapped_key: Vec<u8>,
    pub proof: Vec<u8>,
    pub envelope: Vec<u8>,
}

/// Opens, checks, stores and acknowledges one asymmetric message. The
/// sender's proof is checked first, at the cost of one private-key
/// operation; only a proven, authorized sender gets its blocks decrypted.
/// The receipt is produced only after the store has committed the message.
pub(crate) fn send(
    state: &State,
    challenge: &Challenge,
    sent: &Sent,
    turn: &mut Turn<'_>,
) -> (Report, ServerMessage) {
    let mut report = Report::default();
    let envelope = &sent.envelope[..];
    match (cloak_core::peek_mode(envelope), state.config.only_mode) {
        (Some(mode), Some(only)) if mode != only => return mode_refused(report, mode, only),
        (Some(Mode::Asymmetric), _) => {}
        // A hybrid message goes as a stream, whose proof comes with its
        // head; a header that does not decode would not decrypt either.
        _ => {
            report.failed(CONFIDENTIALITY_FAILED, UNDECRYPTABLE);
            return (report, rejected());
        }
    }
    let claim = sender_proof::claim_envelope(
        &state.key,
        challenge,
        &sent.wrapped_key,
        &sent.proof,
        envelope,
    );
    let Some(proven) = proven_sender(state, &mut report, &claim) else {
        return (report, rejected());
    };
    let options = OpenOptions {
        only_mode: state.config.only_mode,
        ..OpenOptions::default()
    };
    // The proof took this request's first private-key operation: other
    // addresses go first before each block.
    if !turn.pace() {
        report.log("left before its message was decrypted; the work was dropped");
        return (report, rejected());
    }
    let pace = &mut || turn.pace();
    let Ok(decrypted) = cloak_core::decrypt_paced(&state.key, envelope, &options, pace) else {
        report.failed(CONFIDENTIALITY_FAILED, UNDECRYPTABLE);
        return (report, rejected());
    };
    report.line(CONFIDENTIALITY_PASSED);
    let claimed = decrypted.claimed_sender();
    if !signed_as_proven(state, &mut report, proven.key.fingerprint(), claimed) {
        return (report, rejected());
    }
    let Some((client, opened)) = verify_sender(state, &mut report, claimed, |key| {
        decrypted.verify_known(key, FreshnessCheck::Expect(challenge))
    }) else {
        return (report, rejected());
    };
    let Some((receipt_key, message)) = proofs::split_payload(&opened.plaintext) else {
        report.failed(INTEGRITY_FAILED, no_receipt_key(client));
        return (report, malformed_payload());
    };
    report.line(INTEGRITY_PASSED);
    report.line(message_line(
        client,
        opened.sender,
        opened.mode,
        opened.message_id,
    ));
    report.line(preview(message, message.len() as u64));
    let record = Inbound {
        message_id: opened.message_id,
        sender: opened.sender,
        sender_name: client.name.clone(),
        received_at: now(),
        mode: opened.mode,
        size: message.len() as u64,
        text_digest: Some(
            crate::store::text_digest()
                .update(message)
                .finalize()
                .into(),
        ),
        content: Content::Envelope(envelope.to_vec()),
    };
    let receipt = store_and_receipt(
        state,
        &mut report,
        &record,
        receipt_key,
        challenge,
        &opened.plaintext_digest,
    );
    (report, receipt)
}

pub(crate) const UNDECRYPTABLE: &str = "the message does not decrypt with this server's key (altered, reordered, truncated, malformed, or sealed to another key)";

/// The one answer to a message that did not decrypt, did not verify, or
/// came from a key this server does not authorize: which of these it was
/// is for the server's log, not for whoever sent it.
pub(crate) fn rejected() -> ServerMessage {
    error(
        ErrorCode::Rejected,
        "message rejected (it did not verify, or its key is not authorized here)",
    )
}

pub(crate) fn malformed_payload() -> ServerMessage {
    error(ErrorCode::Malformed, "malformed message payload")
}

pub(crate) fn unverified(client: &Client) -> String {
    format!(
        "the signature of `{}` does not verify for this session (altered, forged, or replayed)",
        client.name
    )
}

pub(crate) fn no_receipt_key(client: &Client) -> String {
    format!("`{}` signed a message without a receipt key", client.name)
}

pub(crate) fn mode_refused(
    mut report: Report,
    mode: cloak_core::Mode,
    only: cloak_core::Mode,
) -> (Report, ServerMessage) {
    report.failed(
        CONFIDENTIALITY_FAILED,
        format!("{mode} mode is not accepted by this server (it runs with --mode {only})"),
    );
    let detail = format!("this server accepts only {only} mode; retry with --mode {only}");
    (report, error(ErrorCode::ModeNotAccepted, detail))
}

/// The authorized client a sender proof proves, if it does: one
/// signature check whatever the proof holds (see `sender_proof`), and the
/// reason for the log when it does not.
pub(crate) fn proven_sender<'s>(
    state: &'s State,
    report: &mut Report,
    claim: &ClaimedSender,
) -> Option<&'s Client> {
    check_proof(&state.authorized, claim)
        .map_err(|reason| report.failed(INTEGRITY_FAILED, reason))
        .ok()
}

/// [`proven_sender`] without the report, for work on the pool.
pub(crate) fn check_proof<'a>(
    authorized: &'a Authorized,
    claim: &ClaimedSender,
) -> Result<&'a Client, String> {
    let client = authorized.get(&claim.sender());
    let verified = claim.verify(client.map(|c| &c.key));
    match client {
        Some(client) if verified => Ok(client),
        _ if !claim.opened() => Err(UNPROVEN.to_owned()),
        Some(client) => Err(unverified(client)),
        None => Err(format!(
            "sender key {} is not authorized on this server",
            claim.sender()
        )),
    }
}

/// Whether a message's signed claims name the key that proved itself on
/// this connection; if not, the log says both (naming only the claimed one
/// would blame a client that may have sent nothing).
pub(crate) fn signed_as_proven(
    state: &State,
    report: &mut Report,
    proven: Fingerprint,
    claimed: Fingerprint,
) -> bool {
    if claimed == proven {
        return true;
    }
    let name = |fingerprint: &Fingerprint| {
        state
            .authorized
            .get(fingerprint)
            .map_or_else(|| fingerprint.to_string(), |c| format!("`{}`", c.name))
    };
    report.failed(
        INTEGRITY_FAILED,
        format!(
            "the message claims to be signed by {}, but {} proved itself on this connection",
            name(&claimed),
            name(&proven)
        ),
    );
    false
}

/// Why a sender proof that did not open failed.
pub(crate) const UNPROVEN: &str = "the sender's proof does not open with this server's key (altered, made for another connection or message, or sealed to another key)";

/// Runs `verify` with the key of the authorized client `claimed` names,
/// and returns that client and what `verify` returned; or a report line
/// saying why not. For a key that is not authorized, `verify` runs without
/// a key, which fails after the same work as a bad signature (core's
/// `verify_known`): nobody learns which keys are authorized by trying.
pub(crate) fn verify_sender<'s, T>(
    state: &'s State,
    report: &mut Report,
    claimed: Fingerprint,
    verify: impl FnOnce(Option<&PublicKey>) -> Result<T, OpenError>,
) -> Option<(&'s Client, T)> {
    let client = state.authorized.get(&claimed);
    let verified = verify(client.map(|c| &c.key));
    match (client, verified) {
        (Some(client), Ok(verified)) => Some((client, verified)),
        (Some(client), Err(_)) => {
            report.failed(INTEGRITY_FAILED, unverified(client));
            None
        }
        (None, _) => {
            report.failed(
                INTEGRITY_FAILED,
                format!("sender key {claimed} is not authorized on this server"),
            );
            None
        }
    }
}

/// The heading of a verified message in the server's report.
pub(crate) fn message_line(
    client: &Client,
    sender: cloak_core::Fingerprint,
    mode: cloak_core::Mode,
    id: MessageId,
) -> String {
    format!(
        "Message from {} ({sender}, {mode} mode, id {id}):",
        client.name
    )
}

/// Most of a message the server prints; the rest is for `read --out`.
pub(crate) const PREVIEW_LEN: usize = 4096;

/// The message for the report: all of it when short, else its start.
pub(crate) fn preview(start: &[u8], total: u64) -> String {
    let shown = &start[..start.len().min(PREVIEW_LEN)];
    let mut text = text::printable(shown);
    if total > shown.len() as u64 {
        text.push_str(&format!(
            "\n[... {total} bytes in all; see them with `cloak-server read ID --out FILE`]"
        ));
    }
    text
}

/// Commits a verified message, then (and only then) computes its receipt.
pub(crate) fn store_and_receipt(
    state: &State,
    report: &mut Report,
    record: &Inbound,
    receipt_key: &[u8; 32],
    challenge: &Challenge,
    plaintext_digest: &[u8; 32],
) -> ServerMessage {
    match state.store.store_inbound(record) {
        Ok(Insert::Stored) => report.line(format!("Stored as {}.", record.message_id)),
        Ok(Insert::Duplicate) => report.line(format!(
            "Already stored as {} (the client retried): kept once.",
            record.message_id
        )),
        Ok(Insert::Conflict) => {
            report.failed(
                INTEGRITY_FAILED,
                format!(
                    "another message from this sender is already stored as {}; nothing stored",
                    record.message_id
                ),
            );
            // The sender is authenticated: it may know why. No receipt: a
            // receipt would claim this text was kept.
            return error(
                ErrorCode::Rejected,
                "another message was already received under this message id; nothing stored",
            );
        }
        Err(e) => {
            error!("could not store message {}: {e}", record.message_id);
            report.line(format!("Not stored: {e}. No receipt sent."));
            return store_failure(&e);
        }
    }
    let mac = proofs::receipt_mac(
        receipt_key,
        record.message_id,
        state.key.fingerprint(),
        challenge,
        plaintext_digest,
    );
    ServerMessage::Receipt(Receipt {
        message_id: record.message_id,
        mac,
    })
}

/// The answer when the store could not take a message.
pub(crate) fn store_failure(e: &StoreError) -> ServerMessage {
    match e {
        StoreError::Full { .. } => error(
            ErrorCode::StorageFull,
            "the server's message store is full; nothing was stored",
        ),
        _ => error(
            ErrorCode::Internal,
            "the server could not store the message; nothing was stored, try again later",
        ),
    }
}

/// The one answer to a fetch whose proof does not verify or whose key is
/// not authorized.
pub(crate) const FETCH_REJECTED: &str =
    "fetch rejected (the proof did not verify, or the key is not authorized here)";

/// A queued message to send as a stream, alone (see `delivery`).
pub(crate) struct StreamDelivery {
    pub message: Outbound,
    pub remaining: u32,
    pub awaiting: AwaitingAck,
}

/// A delivery waiting for the client's acknowledgement.
pub(crate) struct AwaitingAck {
    pub client: Client,
    pub client_challenge: Challenge,
    pub delivered: Vec<MessageId>,
}

/// What a fetch decided: an answer (and the acknowledgement to wait for),
/// or a queued stream to send.
pub(crate) enum Fetched {
    Answer(ServerMessage, Option<AwaitingAck>),
    Stream(StreamDelivery),
}

/// Checks a fetch proof and seals the client's queued messages to it (or
/// the greeting, if none are queued). Envelopes go out together, up to the
/// first message kept as a stream; a stream goes out alone.
pub(crate) fn fetch(
    state: &State,
    challenge: &Challenge,
    request: &FetchRequest,
    turn: &mut Turn<'_>,
) -> (Report, Fetched) {
    let mut report = Report::default();
    let refuse =
        |report, code, detail: String| (report, Fetched::Answer(error(code, detail), None));
    // The mode first: it depends on nothing secret, so its answer may be
    // specific.
    if let Some(only) = state.config.only_mode
        && request.mode != only
    {
        let detail = format!("this server accepts only {only} mode; retry with --mode {only}");
        return refuse(report, ErrorCode::ModeNotAccepted, detail);
    }
    // An unknown key costs the work of a bad proof, and gets its answer
    // (see `verify_sender`).
    let client = state.authorized.get(&request.client);
    let key = client.map(|c| &c.key);
    let proven = proofs::verify_fetch(request, key, state.key.fingerprint(), challenge);
    let client = match (client, proven) {
        (Some(client), true) => client,
        (Some(client), false) => {
            report.log(format!(
                "fetch refused: proof for `{}` does not verify",
                client.name
            ));
            return refuse(report, ErrorCode::Rejected, FETCH_REJECTED.into());
        }
        (None, _) => {
            report.log(format!(
                "fetch refused: key {} is not authorized",
                request.client
            ));
            return refuse(report, ErrorCode::Rejected, FETCH_REJECTED.into());
        }
    };
    let (queued, total) = match state
        .store
        .pending(&client.key.fingerprint(), MAX_DELIVERY_ENVELOPES)
    {
        Ok(found) => found,
        Err(e) => {
            error!("reading the mailbox of `{}`: {e}", client.name);
            let detail = "the server could not read your mailbox".into();
            return refuse(report, ErrorCode::Internal, detail);
        }
    };
    let awaiting = |delivered| AwaitingAck {
        client: client.clone(),
        client_challenge: request.challenge,
        delivered,
    };
    if let Some(first) = queued.first()
        && first.stream.is_some()
    {
        if request.mode != Mode::Hybrid {
            let detail = format!(
                "message {} is {} bytes, too large for {} mode: fetch it with --mode hybrid",
                first.message_id, first.size, request.mode
            );
            return refuse(report, ErrorCode::ModeNotAccepted, detail);
        }
        let message = queued.into_iter().next().expect("checked above");
        let delivery = StreamDelivery {
            remaining: total.saturating_sub(1) as u32,
            awaiting: awaiting(vec![message.message_id]),
            message,
        };
        return (report, Fetched::Stream(delivery));
    }
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
                (report, Fetched::Answer(reply, Some(awaiting(Vec::new()))))
            }
            Err(e) => {
                error!("sealing the greeting for `{}`: {e}", client.name);
                let detail = "could not seal the reply".into();
                refuse(report, ErrorCode::Internal, detail)
            }
        };
    }
    let envelopes_first = queued.iter().take_while(|m| m.stream.is_none());
    let mut envelopes = Vec::with_capacity(queued.len());
    let mut delivered = Vec::with_capacity(queued.len());
    // What the client's frame limit lets one delivery hold: the rest stays
    // queued for its next fetch, so a mailbox always drains.
    let mut room = MAX_DELIVERY_BYTES;
    let mut set_aside = 0;
    for message in envelopes_first {
        // Two private-key operations each: others may go in between, and
        // nobody waits any more if the client left.
        if !turn.pace() {
            return refuse(report, ErrorCode::Internal, "the client left".into());
        }
        // Bound to the mailbox being fetched, whatever the row says.
        let place = Place {
            recipient: client.key.fingerprint(),
            message_id: message.message_id,
        };
        let Ok(stored) = crate::at_rest::open(&state.key, place, &message.envelope) else {
            // Set aside, so that it never stops the rest of the mailbox;
            // the operator sees it in `clients` and can `export` it.
            error!(
                "queued message {} for `{}` does not open with the server key (damaged, or moved from another mailbox): set aside",
                message.message_id, client.name
            );
            if let Err(e) = state.store.quarantine(message.message_id) {
                error!("setting message {} aside: {e}", message.message_id);
            }
            set_aside += 1;
            continue;
        };
        let options = SealOptions {
            message_id: Some(message.message_id),
            timestamp: Some(message.created_at),
            ..SealOptions::default()
        };
        match seal(&stored.plaintext, options) {
            Ok(sealed) if sealed.bytes.len() > room && !envelopes.is_empty() => break,
            Ok(sealed) => {
                room = room.saturating_sub(sealed.bytes.len());
                envelopes.push(sealed.bytes);
                delivered.push(message.message_id);
            }
            // Too large for asymmetric mode: what came before it goes out
            // now; on its own turn, the client is told to fetch in hybrid.
            Err(SealError::TooLarge { .. }) if !envelopes.is_empty() => break,
            Err(SealError::TooLarge { .. }) => {
                let detail = format!(
                    "message {} is {} bytes, too large for {} mode: fetch it with --mode hybrid",
                    message.message_id, message.size, request.mode
                );
                return refuse(report, ErrorCode::ModeNotAccepted, detail);
            }
            Err(e) => {
                error!(
                    "sealing message {} for `{}`: {e}",
                    message.message_id, client.name
                );
                let detail = format!("message {} cannot be delivered now", message.message_id);
                return refuse(report, ErrorCode::Internal, detail);
            }
        }
    }
    let remaining = total.saturating_sub(delivered.len() + set_aside);
    report.line(format!(
        "Delivered {} message(s) to {} ({} mode); {remaining} more queued.",
        delivered.len(),
        client.name,
        request.mode,
    ));
    let reply = ServerMessage::Delivery {
        envelopes,
        remaining: remaining as u32,
    };
    (report, Fetched::Answer(reply, Some(awaiting(delivered))))
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
        report.log(format!(
            "acknowledgement for `{}` does not verify",
            awaiting.client.name
        ));
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
