//! Every way the server refuses a request, with the one place that says
//! what the client is told (the wire's [`ErrorCode`] and a detail) and
//! what the server's log says. A request decides a [`Refusal`]; the
//! connection sends and logs it.

use std::fmt;

use cloak_core::session::{ErrorCode, ServerMessage};
use cloak_core::{MessageId, Mode};

use crate::store::StoreError;

/// What a request answers: a message, or a refusal.
pub(crate) type Answer = Result<ServerMessage, Refusal>;

/// A refused request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The pool or the budget has no room for the request.
    Busy,
    /// The work on the pool failed.
    Internal,
    /// The client speaks another protocol version.
    UnsupportedVersion {
        /// The client's version.
        theirs: u16,
        /// The server's version.
        ours: u16,
    },
    /// The request did not decode.
    MalformedRequest,
    /// The first request was neither a send nor a fetch.
    NotARequest,
    /// A delivery was followed by something other than its
    /// acknowledgement.
    NotAnAck,
    /// A verified message's payload has no receipt key, or a stream was
    /// interrupted by another request.
    MalformedPayload,
    /// A message did not decrypt, did not verify, or came from a key this
    /// server does not authorize: which of these is for the server's log,
    /// not for whoever sent it.
    Rejected,
    /// The proven sender already stored another message under this id.
    IdTaken,
    /// A fetch whose proof does not verify or whose key is not authorized.
    FetchRejected,
    /// An acknowledgement whose proof does not verify.
    AckRejected,
    /// The server runs with only one mode, not the request's.
    ModeNotAccepted {
        /// The one mode it accepts.
        only: Mode,
    },
    /// A queued message does not fit the fetch's mode.
    TooLargeForMode {
        /// The message.
        id: MessageId,
        /// Its length in bytes.
        size: u64,
        /// The fetch's mode.
        mode: Mode,
    },
    /// The store is full: nothing was stored.
    StorageFull,
    /// The store failed otherwise: nothing was stored.
    NotStored,
    /// The client's mailbox could not be read.
    MailboxUnreadable,
    /// The greeting could not be sealed.
    CannotSeal,
    /// The client left while its fetch was being sealed.
    ClientLeft,
    /// A queued message could not be sealed for the client.
    CannotDeliver(MessageId),
    /// A queued stream is damaged (and was set aside).
    Damaged,
    /// The store could not record an acknowledgement.
    AckNotRecorded,
}

impl Refusal {
    /// The refusal for a message the store could not take.
    pub(crate) fn not_stored(e: &StoreError) -> Self {
        match e {
            StoreError::Full { .. } => Refusal::StorageFull,
            _ => Refusal::NotStored,
        }
    }

    /// Every [`Refusal::reason`], so that each is exposed (as zero) before
    /// it first happens.
    pub(crate) const REASONS: [&'static str; 21] = [
        "busy",
        "internal",
        "unsupported_version",
        "malformed_request",
        "not_a_request",
        "not_an_ack",
        "malformed_payload",
        "rejected",
        "id_taken",
        "fetch_rejected",
        "ack_rejected",
        "mode_not_accepted",
        "too_large_for_mode",
        "storage_full",
        "not_stored",
        "mailbox_unreadable",
        "cannot_seal",
        "client_left",
        "cannot_deliver",
        "damaged",
        "ack_not_recorded",
    ];

    /// The refusal's kind, as the metrics label it: finer than the wire's
    /// code (`Internal` covers a busy pool and a failing disk alike).
    pub(crate) fn reason(&self) -> &'static str {
        use Refusal::*;
        let index = match self {
            Busy => 0,
            Internal => 1,
            UnsupportedVersion { .. } => 2,
            MalformedRequest => 3,
            NotARequest => 4,
            NotAnAck => 5,
            MalformedPayload => 6,
            Rejected => 7,
            IdTaken => 8,
            FetchRejected => 9,
            AckRejected => 10,
            ModeNotAccepted { .. } => 11,
            TooLargeForMode { .. } => 12,
            StorageFull => 13,
            NotStored => 14,
            MailboxUnreadable => 15,
            CannotSeal => 16,
            ClientLeft => 17,
            CannotDeliver(_) => 18,
            Damaged => 19,
            AckNotRecorded => 20,
        };
        Self::REASONS[index]
    }

    /// The code on the wire.
    pub(crate) fn code(&self) -> ErrorCode {
        use Refusal::*;
        match self {
            Busy | Internal | NotStored | MailboxUnreadable | CannotSeal | ClientLeft
            | CannotDeliver(_) | Damaged | AckNotRecorded => ErrorCode::Internal,
            UnsupportedVersion { .. } => ErrorCode::UnsupportedVersion,
            MalformedRequest | NotARequest | NotAnAck | MalformedPayload => ErrorCode::Malformed,
            Rejected | IdTaken | FetchRejected | AckRejected => ErrorCode::Rejected,
            ModeNotAccepted { .. } | TooLargeForMode { .. } => ErrorCode::ModeNotAccepted,
            StorageFull => ErrorCode::StorageFull,
        }
    }

    /// What the client is told.
    pub(crate) fn detail(&self) -> String {
        match self {
            Refusal::Busy => "the server is busy; try again later".into(),
            Refusal::Internal => "internal server error".into(),
            Refusal::UnsupportedVersion { theirs, ours } => {
                format!("server speaks protocol version {ours}, client sent {theirs}")
            }
            Refusal::MalformedRequest => "malformed request".into(),
            Refusal::NotARequest => "expected a send or fetch request".into(),
            Refusal::NotAnAck => "expected an acknowledgement".into(),
            Refusal::MalformedPayload => "malformed message payload".into(),
            Refusal::Rejected => {
                "message rejected (it did not verify, or its key is not authorized here)".into()
            }
            Refusal::IdTaken => {
                "another message was already received under this message id; nothing stored".into()
            }
            Refusal::FetchRejected => {
                "fetch rejected (the proof did not verify, or the key is not authorized here)"
                    .into()
            }
            Refusal::AckRejected => "acknowledgement rejected".into(),
            Refusal::ModeNotAccepted { only } => {
                format!("this server accepts only {only} mode; retry with --mode {only}")
            }
            Refusal::TooLargeForMode { id, size, mode } => format!(
                "message {id} is {size} bytes, too large for {mode} mode: fetch it with --mode hybrid"
            ),
            Refusal::StorageFull => "the server's message store is full; nothing was stored".into(),
            Refusal::NotStored => {
                "the server could not store the message; nothing was stored, try again later".into()
            }
            Refusal::MailboxUnreadable => "the server could not read your mailbox".into(),
            Refusal::CannotSeal => "could not seal the reply".into(),
            Refusal::ClientLeft => "the client left".into(),
            Refusal::CannotDeliver(id) => format!("message {id} cannot be delivered now"),
            Refusal::Damaged => "a queued message is damaged".into(),
            Refusal::AckNotRecorded => "the server could not record the acknowledgement".into(),
        }
    }
}

/// Every refusal a client is told passes through here, once: so it is
/// also where refusals are counted.
impl From<&Refusal> for ServerMessage {
    fn from(refusal: &Refusal) -> Self {
        crate::metrics::refused(refusal.reason());
        ServerMessage::Error {
            code: refusal.code(),
            detail: refusal.detail(),
        }
    }
}

/// The server's log line for a refusal it sent.
impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "refused ({:?}): {}", self.code(), self.detail())
    }
}
