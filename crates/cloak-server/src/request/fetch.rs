//! `Fetch`: checks the client's fetch proof and seals its queued messages
//! to it (or the greeting, if none are queued). Envelopes go out together,
//! up to the first message kept as a stream; a stream goes out alone (see
//! `fetch_stream`).

use cloak_core::limits::{MAX_DELIVERY_BYTES, MAX_DELIVERY_ENVELOPES};
use cloak_core::session::messages::Challenge;
use cloak_core::session::{FetchRequest, ServerMessage, proofs};
use cloak_core::{MessageId, Mode, Opened, SealError, SealOptions, Sealed};
use tracing::error;

use super::ack::Awaiting;
use crate::at_rest::Place;
use crate::authorized::Client;
use crate::pool::Turn;
use crate::refusal::Refusal;
use crate::report::Report;
use crate::state::State;
use crate::store::Outbound;

/// A queued message to send as a stream, alone (see `fetch_stream`).
pub(crate) struct StreamDelivery {
    pub message: Outbound,
    pub remaining: u32,
    pub awaiting: Awaiting,
}

/// What a fetch decided: an answer and the acknowledgement to wait for,
/// or a queued stream to send.
pub(crate) enum Fetched {
    Answer(ServerMessage, Awaiting),
    Stream(StreamDelivery),
}

/// The envelopes of one delivery, their ids, and how many queued messages
/// were set aside instead.
type Sealing = (Vec<Vec<u8>>, Vec<MessageId>, usize);

/// One fetch, for one proven client.
struct Fetch<'a> {
    state: &'a State,
    request: &'a FetchRequest,
    client: &'a Client,
}

/// Decides `request`.
pub(crate) fn apply(
    state: &State,
    challenge: &Challenge,
    request: &FetchRequest,
    turn: &mut Turn<'_>,
) -> (Report, Result<Fetched, Refusal>) {
    let mut report = Report::default();
    let fetched = authorize(state, challenge, request, &mut report).and_then(|client| {
        let fetch = Fetch {
            state,
            request,
            client,
        };
        fetch.deliver(turn, &mut report)
    });
    (report, fetched)
}

/// The client whose proof this is.
fn authorize<'s>(
    state: &'s State,
    challenge: &Challenge,
    request: &FetchRequest,
    report: &mut Report,
) -> Result<&'s Client, Refusal> {
    // The mode first: it depends on nothing secret, so its answer may be
    // specific.
    if let Some(only) = state.config.only_mode
        && request.mode != only
    {
        return Err(Refusal::ModeNotAccepted { only });
    }
    // An unknown key costs the work of a bad proof, and gets its answer
    // (see `sender::verify_sender`).
    let client = state.authorized.get(&request.client);
    let key = client.map(|c| &c.key);
    let proven = proofs::verify_fetch(request, key, state.key.fingerprint(), challenge);
    match (client, proven) {
        (Some(client), true) => Ok(client),
        (Some(client), false) => {
            report.log(format!(
                "fetch refused: proof for `{}` does not verify",
                client.name
            ));
            Err(Refusal::FetchRejected)
        }
        (None, _) => {
            report.log(format!(
                "fetch refused: key {} is not authorized",
                request.client
            ));
            Err(Refusal::FetchRejected)
        }
    }
}

impl Fetch<'_> {
    fn deliver(&self, turn: &mut Turn<'_>, report: &mut Report) -> Result<Fetched, Refusal> {
        let (state, client, request) = (self.state, self.client, self.request);
        let (queued, total) = state
            .store
            .pending(&client.key.fingerprint(), MAX_DELIVERY_ENVELOPES)
            .map_err(|e| {
                error!("reading the mailbox of `{}`: {e}", client.name);
                Refusal::MailboxUnreadable
            })?;
        if let Some(first) = queued.first()
            && first.stream.is_some()
        {
            if request.mode != Mode::Hybrid {
                return Err(self.too_large(first));
            }
            let message = queued.into_iter().next().expect("checked above");
            return Ok(Fetched::Stream(StreamDelivery {
                remaining: total.saturating_sub(1) as u32,
                awaiting: self.awaiting(vec![message.message_id]),
                message,
            }));
        }
        if queued.is_empty() {
            return self.greet(report);
        }
        let (envelopes, delivered, set_aside) = self.seal_queued(&queued, turn)?;
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
        Ok(Fetched::Answer(reply, self.awaiting(delivered)))
    }

    fn awaiting(&self, delivered: Vec<MessageId>) -> Awaiting {
        Awaiting {
            client: self.client.clone(),
            client_challenge: self.request.challenge,
            delivered,
        }
    }

    fn too_large(&self, message: &Outbound) -> Refusal {
        Refusal::TooLargeForMode {
            id: message.message_id,
            size: message.size,
            mode: self.request.mode,
        }
    }

    fn seal(&self, text: &[u8], options: SealOptions) -> Result<Sealed, SealError> {
        let request = self.request;
        let (key, client) = (&self.state.key, &self.client.key);
        cloak_core::seal(
            key,
            client,
            request.mode,
            &request.challenge,
            text,
            &options,
        )
    }

    /// An empty mailbox: the greeting.
    fn greet(&self, report: &mut Report) -> Result<Fetched, Refusal> {
        let (state, client) = (self.state, self.client);
        let sealed = (self.seal(state.config.greeting.as_bytes(), SealOptions::default()))
            .map_err(|e| {
                error!("sealing the greeting for `{}`: {e}", client.name);
                Refusal::CannotSeal
            })?;
        report.line(format!(
            "No messages for {}: sent the greeting ({} mode).",
            client.name, self.request.mode
        ));
        let reply = ServerMessage::Delivery {
            envelopes: vec![sealed.bytes],
            remaining: 0,
        };
        Ok(Fetched::Answer(reply, self.awaiting(Vec::new())))
    }

    /// The queued envelopes up to the first stream, within what the
    /// client's frame limit lets one delivery hold (the rest stays queued
    /// for its next fetch, so a mailbox always drains): the sealed
    /// envelopes, their ids, and how many were set aside.
    fn seal_queued(&self, queued: &[Outbound], turn: &mut Turn<'_>) -> Result<Sealing, Refusal> {
        let mut envelopes = Vec::with_capacity(queued.len());
        let mut delivered = Vec::with_capacity(queued.len());
        let mut room = MAX_DELIVERY_BYTES;
        let mut set_aside = 0;
        for message in queued.iter().take_while(|m| m.stream.is_none()) {
            // Two private-key operations each: others may go in between, and
            // nobody waits any more if the client left.
            if !turn.pace() {
                return Err(Refusal::ClientLeft);
            }
            let Some(stored) = self.open_queued(message) else {
                set_aside += 1;
                continue;
            };
            let options = SealOptions {
                message_id: Some(message.message_id),
                timestamp: Some(message.created_at),
                ..SealOptions::default()
            };
            match self.seal(&stored.plaintext, options) {
                Ok(sealed) if sealed.bytes.len() > room && !envelopes.is_empty() => break,
                Ok(sealed) => {
                    room = room.saturating_sub(sealed.bytes.len());
                    envelopes.push(sealed.bytes);
                    delivered.push(message.message_id);
                }
                // Too large for asymmetric mode: what came before it goes out
                // now; on its own turn, the client is told to fetch in hybrid.
                Err(SealError::TooLarge { .. }) if !envelopes.is_empty() => break,
                Err(SealError::TooLarge { .. }) => return Err(self.too_large(message)),
                Err(e) => {
                    let (id, name) = (message.message_id, &self.client.name);
                    error!("sealing message {id} for `{name}`: {e}");
                    return Err(Refusal::CannotDeliver(id));
                }
            }
        }
        Ok((envelopes, delivered, set_aside))
    }

    /// A queued message's text; `None` when it does not open, and is set
    /// aside so that it never stops the rest of the mailbox (the operator
    /// sees it in `clients` and can `export` it).
    fn open_queued(&self, message: &Outbound) -> Option<Opened> {
        let (state, client) = (self.state, self.client);
        // Bound to the mailbox being fetched, whatever the row says.
        let place = Place {
            recipient: client.key.fingerprint(),
            message_id: message.message_id,
        };
        match crate::at_rest::open(&state.key, place, &message.envelope) {
            Ok(stored) => Some(stored),
            Err(_) => {
                error!(
                    "queued message {} for `{}` does not open with the server key (damaged, or moved from another mailbox): set aside",
                    message.message_id, client.name
                );
                if let Err(e) = state.store.quarantine(message.message_id) {
                    error!("setting message {} aside: {e}", message.message_id);
                }
                None
            }
        }
    }
}
