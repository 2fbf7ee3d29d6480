//! Who sent a message: the checks both kinds of send make of the sender's
//! proof and of the signature inside the message, and the reasons the
//! report gives when one fails.

use cloak_core::session::sender_proof::ClaimedSender;
use cloak_core::verdict::{CONFIDENTIALITY_FAILED, INTEGRITY_FAILED};
use cloak_core::{Fingerprint, Mode, OpenError, PublicKey};

use crate::authorized::{Authorized, Client};
use crate::refusal::Refusal;
use crate::report::Report;
use crate::state::State;

/// Why a message that did not decrypt was refused.
pub(crate) const UNDECRYPTABLE: &str = "the message does not decrypt with this server's key (altered, reordered, truncated, malformed, or sealed to another key)";

/// Why a sender proof that did not open failed.
pub(crate) const UNPROVEN: &str = "the sender's proof does not open with this server's key (altered, made for another connection or message, or sealed to another key)";

pub(crate) fn unverified(client: &Client) -> String {
    format!(
        "the signature of `{}` does not verify for this session (altered, forged, or replayed)",
        client.name
    )
}

pub(crate) fn no_receipt_key(client: &Client) -> String {
    format!("`{}` signed a message without a receipt key", client.name)
}

/// The refusal of a message in `mode` by a server that accepts only `only`.
pub(crate) fn mode_refused(report: &mut Report, mode: Mode, only: Mode) -> Refusal {
    report.failed(
        CONFIDENTIALITY_FAILED,
        format!("{mode} mode is not accepted by this server (it runs with --mode {only})"),
    );
    Refusal::ModeNotAccepted { only }
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
