//! `cloak-server`: accepts CloakRoom sessions over TCP, opens and verifies
//! the messages clients send, and delivers messages to clients that prove
//! who they are. The binary only parses arguments and calls [`cli::run`].
#![forbid(unsafe_code)]

pub mod at_rest;
pub mod authorized;
mod budget;
pub mod cli;
pub mod config;
mod connection;
mod fd_limit;
mod log_limit;
mod metrics;
mod migrate;
mod opened;
pub mod operator;
mod pool;
mod refusal;
mod report;
mod request;
pub mod server;
mod state;
pub mod store;
#[cfg(test)]
mod test_key;
