//! The session protocol between `cloak-client` and `cloak-server`: framing,
//! messages, the session's proofs, and a connection that reads and writes
//! frames with a timeout on every operation. See docs/PROTOCOL.md §6.

pub mod connection;
pub mod frame;
pub mod frame_reader;
pub mod messages;
pub mod proofs;
pub mod sender_proof;

pub use connection::{Connection, ConnectionError, Direction};
pub use messages::{
    Challenge, ClientMessage, ErrorCode, FetchRequest, PayloadError, Receipt, ServerHello,
    ServerMessage,
};
