//! The end both kinds of send share, once a message decrypted and its
//! sender verified: the report's lines, the store's commit, and only then
//! the receipt.

use cloak_core::session::messages::Challenge;
use cloak_core::session::{Receipt, ServerMessage, proofs};
use cloak_core::verdict::{INTEGRITY_FAILED, INTEGRITY_PASSED};
use cloak_core::{Fingerprint, MessageId, Mode};
use tracing::error;

use crate::authorized::Client;
use crate::refusal::{Answer, Refusal};
use crate::report::Report;
use crate::state::State;
use crate::store::{Content, Inbound, Insert};

/// Most of a message the server prints; the rest is for `read --out`.
pub(crate) const PREVIEW_LEN: usize = 4096;

/// A message that decrypted and whose signature verified.
pub(crate) struct Verified<'a> {
    pub client: &'a Client,
    pub sender: Fingerprint,
    pub mode: Mode,
    pub message_id: MessageId,
    /// The text's length (the payload without its receipt key).
    pub size: u64,
    /// The digest of the text alone (see `store::text_digest`).
    pub text_digest: [u8; 32],
    /// The digest of the whole payload, which the receipt covers.
    pub plaintext_digest: [u8; 32],
}

impl Verified<'_> {
    /// Reports the message: passed, who sent it, and its start.
    pub(crate) fn announce(&self, report: &mut Report, start: &[u8]) {
        report.line(INTEGRITY_PASSED);
        report.line(format!(
            "Message from {} ({}, {} mode, id {}):",
            self.client.name, self.sender, self.mode, self.message_id
        ));
        let shown = &start[..start.len().min(PREVIEW_LEN)];
        report.message_text(shown);
        if self.size > shown.len() as u64 {
            report.line(format!(
                "[... {} bytes in all; see them with `cloak-server read ID --out FILE`]",
                self.size
            ));
        }
    }

    /// Commits the message (`content`, or the refusal it became), then
    /// (and only then) computes its receipt.
    pub(crate) fn keep(
        &self,
        state: &State,
        report: &mut Report,
        content: Result<Content, Refusal>,
        receipt_key: &[u8; 32],
        challenge: &Challenge,
    ) -> Answer {
        let record = Inbound {
            message_id: self.message_id,
            sender: self.sender,
            sender_name: self.client.name.clone(),
            received_at: cloak_core::clock::now(),
            mode: self.mode,
            size: self.size,
            text_digest: Some(self.text_digest),
            content: content?,
        };
        store(state, report, &record)?;
        let mac = proofs::receipt_mac(
            receipt_key,
            record.message_id,
            state.key.fingerprint(),
            challenge,
            &self.plaintext_digest,
        );
        Ok(ServerMessage::Receipt(Receipt {
            message_id: record.message_id,
            mac,
        }))
    }
}

/// Commits `record`, saying so in the report.
fn store(state: &State, report: &mut Report, record: &Inbound) -> Result<(), Refusal> {
    match state.store.store_inbound(record) {
        Ok(Insert::Stored) => {
            let metrics = crate::metrics::get();
            let mode = [("mode", record.mode.as_str())];
            metrics.accepted.get_or_create(&mode).inc();
            metrics.received_bytes.inc_by(record.size);
            report.line(format!("Stored as {}.", record.message_id));
        }
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
            return Err(Refusal::IdTaken);
        }
        Err(e) => {
            error!("could not store message {}: {e}", record.message_id);
            report.line(format!("Not stored: {e}. No receipt sent."));
            return Err(Refusal::not_stored(&e));
        }
    }
    Ok(())
}
