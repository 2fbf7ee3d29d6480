//! What the request code works with: what every connection shares (the
//! server key, configuration, store, pool, budget and refusal log), and
//! one connection's view of the authorized clients.

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;

use cloak_core::KeyPair;
use tracing::warn;

use crate::authorized::Authorized;
use crate::budget::Budget;
use crate::config::ServerConfig;
use crate::log_limit::{RefusalLog, left_out_note};
use crate::pool::Pool;
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
    /// share of log lines (see `log_limit`).
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
        if self.config.hide_text {
            report.hide_text();
        }
        for reason in report.logged() {
            warn!(%peer, "{reason}");
        }
        report.print();
    }
}
