//! `cloak-client`: sends sealed messages to a `cloak-server` and fetches the
//! messages waiting for it. The binary only parses arguments and calls
//! [`cli::run`].
#![forbid(unsafe_code)]

pub mod cli;
mod output;
mod progress;
mod recv;
mod recv_stream;
mod send;
mod session;
mod show_wire;

pub use send::{Source, send_with};
pub use session::ClientConfig;
