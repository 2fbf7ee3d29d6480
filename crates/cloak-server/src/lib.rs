//! `cloak-server`: accepts CloakRoom sessions over TCP, opens and verifies
//! the messages clients send, and delivers messages to clients that prove
//! who they are. The binary only parses arguments and calls [`cli::run`].
#![forbid(unsafe_code)]

pub mod at_rest;
pub mod authorized;
mod budget;
pub mod cli;
pub mod config;
mod delivery;
mod fd_limit;
mod handler;
mod incoming;
mod intake;
pub mod operator;
mod pool;
mod process;
mod refusals;
mod report;
pub mod server;
pub mod store;
