//! The requests a client can make, one module each with what it carries
//! and how the server applies it: `send` (an asymmetric message),
//! `send_stream` (a hybrid one), `fetch` (and `fetch_stream`, a queued
//! message delivered as a stream) and `ack`. The rest are the parts two
//! requests share: the sender checks, the verified message's end, and the
//! place a stream waits until it verifies.

mod accept;
pub(crate) mod ack;
pub(crate) mod fetch;
pub(crate) mod fetch_stream;
mod held_stream;
pub(crate) mod send;
pub(crate) mod send_stream;
mod sender;
