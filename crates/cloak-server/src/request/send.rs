//! `Send`: an asymmetric message in one frame. The sender's proof is
//! checked first, at the cost of one private-key operation; only a proven,
//! authorized sender gets its blocks decrypted. The receipt is produced
//! only after the store has committed the message.

use cloak_core::session::messages::Challenge;
use cloak_core::session::proofs;
use cloak_core::session::sender_proof;
use cloak_core::verdict::{CONFIDENTIALITY_FAILED, CONFIDENTIALITY_PASSED, INTEGRITY_FAILED};
use cloak_core::{FreshnessCheck, Mode, OpenOptions};

use super::accept::Verified;
use super::sender::{
    UNDECRYPTABLE, mode_refused, no_receipt_key, proven_sender, signed_as_proven, verify_sender,
};
use crate::pool::Turn;
use crate::refusal::{Answer, Refusal};
use crate::report::Report;
use crate::state::State;
use crate::store::Content;

/// An asymmetric message as sent: the sender's proof, then the envelope.
pub(crate) struct Send {
    pub wrapped_key: Vec<u8>,
    pub proof: Vec<u8>,
    pub envelope: Vec<u8>,
}

impl Send {
    /// Opens, checks, stores and acknowledges the message.
    pub(crate) fn apply(
        &self,
        state: &State,
        challenge: &Challenge,
        turn: &mut Turn<'_>,
    ) -> (Report, Answer) {
        let mut report = Report::default();
        let answer = self.decide(state, challenge, turn, &mut report);
        (report, answer)
    }

    fn decide(
        &self,
        state: &State,
        challenge: &Challenge,
        turn: &mut Turn<'_>,
        report: &mut Report,
    ) -> Answer {
        let envelope = &self.envelope[..];
        match (cloak_core::peek_mode(envelope), state.config.only_mode) {
            (Some(mode), Some(only)) if mode != only => {
                return Err(mode_refused(report, mode, only));
            }
            (Some(Mode::Asymmetric), _) => {}
            // A hybrid message goes as a stream, whose proof comes with its
            // head; a header that does not decode would not decrypt either.
            _ => {
                report.failed(CONFIDENTIALITY_FAILED, UNDECRYPTABLE);
                return Err(Refusal::Rejected);
            }
        }
        let claim = sender_proof::claim_envelope(
            &state.key,
            challenge,
            &self.wrapped_key,
            &self.proof,
            envelope,
        );
        let proven = proven_sender(state, report, &claim).ok_or(Refusal::Rejected)?;
        let options = OpenOptions {
            only_mode: state.config.only_mode,
            ..OpenOptions::default()
        };
        // The proof took this request's first private-key operation: other
        // addresses go first before each block.
        if !turn.pace() {
            report.log("left before its message was decrypted; the work was dropped");
            return Err(Refusal::Rejected);
        }
        let pace = &mut || turn.pace();
        let Ok(decrypted) = cloak_core::decrypt_paced(&state.key, envelope, &options, pace) else {
            report.failed(CONFIDENTIALITY_FAILED, UNDECRYPTABLE);
            return Err(Refusal::Rejected);
        };
        report.line(CONFIDENTIALITY_PASSED);
        let claimed = decrypted.claimed_sender();
        if !signed_as_proven(state, report, proven.key.fingerprint(), claimed) {
            return Err(Refusal::Rejected);
        }
        let (client, opened) = verify_sender(state, report, claimed, |key| {
            decrypted.verify_known(key, FreshnessCheck::Expect(challenge))
        })
        .ok_or(Refusal::Rejected)?;
        let Some((receipt_key, message)) = proofs::split_payload(&opened.plaintext) else {
            report.failed(INTEGRITY_FAILED, no_receipt_key(client));
            return Err(Refusal::MalformedPayload);
        };
        let verified = Verified {
            client,
            sender: opened.sender,
            mode: opened.mode,
            message_id: opened.message_id,
            size: message.len() as u64,
            text_digest: crate::store::text_digest()
                .update(message)
                .finalize()
                .into(),
            plaintext_digest: opened.plaintext_digest,
        };
        verified.announce(report, message);
        let content = Ok(Content::Envelope(envelope.to_vec()));
        verified.keep(state, report, content, receipt_key, challenge)
    }
}
