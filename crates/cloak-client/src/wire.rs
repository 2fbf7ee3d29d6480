//! `--show-wire`: prints every frame as an eavesdropper on the connection
//! would capture it, in hex, shortened when long. Demonstrates that nothing
//! readable crosses the network.

use cloak_core::session::Direction;
use cloak_core::session::connection::Tap;

/// Bytes shown from the start and the end of a long frame.
const HEAD: usize = 48;
const TAIL: usize = 16;

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The frame as one line of hex.
pub(crate) fn describe(bytes: &[u8]) -> String {
    if bytes.len() <= HEAD + TAIL {
        hex(bytes)
    } else {
        format!(
            "{} … {} ({} bytes hidden)",
            hex(&bytes[..HEAD]),
            hex(&bytes[bytes.len() - TAIL..]),
            bytes.len() - HEAD - TAIL
        )
    }
}

/// A tap that prints to stderr, keeping stdout for the program's output.
pub(crate) fn tap() -> Tap {
    Box::new(|direction, bytes| {
        let arrow = match direction {
            Direction::Sent => "client -> server",
            Direction::Received => "server -> client",
        };
        eprintln!("[wire] {arrow}, {} bytes: {}", bytes.len(), describe(bytes));
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn long_frames_are_shortened() {
        assert_eq!(super::describe(&[0, 1, 255]), "00 01 ff");
        let long = vec![0xabu8; 1000];
        let line = super::describe(&long);
        assert!(line.ends_with("(936 bytes hidden)"), "{line}");
        assert_eq!(line.matches("ab").count(), 64);
    }
}
