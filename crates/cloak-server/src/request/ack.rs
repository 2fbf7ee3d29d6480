//! `Ack`: after a delivery, the client's proof that it has the messages;
//! only then are they removed from its mailbox.

use cloak_core::MessageId;
use cloak_core::session::messages::Challenge;
use cloak_core::session::{ServerMessage, proofs};
use tracing::error;

use crate::authorized::Client;
use crate::refusal::{Answer, Refusal};
use crate::report::Report;
use crate::state::State;

/// A delivery waiting for the client's acknowledgement.
pub(crate) struct Awaiting {
    pub client: Client,
    pub client_challenge: Challenge,
    pub delivered: Vec<MessageId>,
}

/// An acknowledgement as sent.
pub(crate) struct Ack {
    pub ids: Vec<MessageId>,
    pub proof: Vec<u8>,
}

impl Ack {
    /// Removes the acknowledged messages, if the proof is the client's.
    pub(crate) fn apply(
        &self,
        state: &State,
        challenge: &Challenge,
        awaiting: &Awaiting,
    ) -> (Report, Answer) {
        let mut report = Report::default();
        let genuine = proofs::verify_ack(
            &awaiting.client.key,
            state.key.fingerprint(),
            challenge,
            &awaiting.client_challenge,
            &self.ids,
            &self.proof,
        );
        if !genuine {
            report.log(format!(
                "acknowledgement for `{}` does not verify",
                awaiting.client.name
            ));
            return (report, Err(Refusal::AckRejected));
        }
        // Only what this connection delivered can be acknowledged on it.
        let ids: Vec<_> = (self.ids.iter())
            .filter(|id| awaiting.delivered.contains(id))
            .copied()
            .collect();
        let client = &awaiting.client;
        match state.store.acknowledge(&client.key.fingerprint(), &ids) {
            Ok(removed) => {
                crate::metrics::get().delivered.inc_by(removed as u64);
                if !awaiting.delivered.is_empty() {
                    report.line(format!(
                        "{} acknowledged {removed} message(s).",
                        client.name
                    ));
                }
                let removed = removed as u32;
                (report, Ok(ServerMessage::Acked { removed }))
            }
            Err(e) => {
                error!("acknowledging for `{}`: {e}", client.name);
                (report, Err(Refusal::AckNotRecorded))
            }
        }
    }
}
