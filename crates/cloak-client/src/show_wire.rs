//! `--show-wire`: prints every frame as an eavesdropper on the connection
//! would capture it, in hex, shortened when long. Demonstrates that nothing
//! readable crosses the network.

use cloak_core::session::Direction;
use cloak_core::session::connection::Tap;
use cloak_core::text::hex_preview;

/// A tap that prints to stderr, keeping stdout for the program's output.
pub(crate) fn tap() -> Tap {
    Box::new(|direction, bytes| {
        let arrow = match direction {
            Direction::Sent => "client -> server",
            Direction::Received => "server -> client",
        };
        eprintln!(
            "[wire] {arrow}, {} bytes: {}",
            bytes.len(),
            hex_preview(bytes)
        );
    })
}
