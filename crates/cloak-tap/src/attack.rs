//! The attacks on the client's stream, as a filter from the bytes the
//! client sent to the bytes the server receives. Byte attacks work on
//! stream offsets; frame attacks on whole frames.

use cloak_core::limits::MAX_FRAME_LEN;
use cloak_core::session::ClientMessage;
use cloak_core::session::frame;
use cloak_core::session::messages::decode_payload;

/// What to do to the client's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attack {
    /// Relay unchanged.
    None,
    /// XOR byte N with 0x01.
    Flip(u64),
    /// Forward N bytes, then cut the connection.
    Truncate(u64),
    /// Drop the K-th `Chunk` frame.
    DropChunk(usize),
    /// Swap the first two frames after the first one (the request).
    SwapFrames,
    /// Forward the first N whole frames, then cut the connection.
    CutAfterFrames(usize),
}

/// Applies an attack as bytes pass.
#[derive(Debug)]
pub struct Filter {
    attack: Attack,
    offset: u64,
    frames: Vec<u8>,
    frame_index: usize,
    chunk_index: usize,
    held: Option<Vec<u8>>,
}

/// The filter's verdict on some bytes.
#[derive(Debug, Default)]
pub struct Pass {
    /// Bytes to forward.
    pub forward: Vec<u8>,
    /// Whether to cut the connection after forwarding.
    pub cut: bool,
    /// Frames that went by (as the client sent them), for printing.
    pub frames: Vec<Vec<u8>>,
}

impl Filter {
    /// A filter for `attack`.
    pub fn new(attack: Attack) -> Filter {
        Filter {
            attack,
            offset: 0,
            frames: Vec::new(),
            frame_index: 0,
            chunk_index: 0,
            held: None,
        }
    }

    /// Filters the next bytes from the client.
    pub fn pass(&mut self, bytes: &[u8]) -> Pass {
        let mut out = Pass::default();
        let mut bytes = bytes.to_vec();
        let start = self.offset;
        self.offset += bytes.len() as u64;
        match self.attack {
            Attack::Flip(n) if (start..self.offset).contains(&n) => {
                bytes[(n - start) as usize] ^= 0x01;
            }
            Attack::Truncate(n) if self.offset >= n => {
                bytes.truncate(n.saturating_sub(start) as usize);
                out.cut = true;
            }
            _ => {}
        }
        // Split into frames, for printing and for the frame attacks.
        self.frames.extend_from_slice(&bytes);
        while let Ok(Some(total)) = frame::parse(&self.frames, MAX_FRAME_LEN) {
            let whole: Vec<u8> = self.frames.drain(..total).collect();
            out.frames.push(whole.clone());
            let index = self.frame_index;
            self.frame_index += 1;
            match self.attack {
                Attack::DropChunk(k) if is_chunk(&whole) => {
                    let this = self.chunk_index;
                    self.chunk_index += 1;
                    if this == k {
                        continue;
                    }
                    out.forward.extend_from_slice(&whole);
                }
                Attack::SwapFrames if index == 1 => self.held = Some(whole),
                Attack::SwapFrames if index == 2 => {
                    out.forward.extend_from_slice(&whole);
                    out.forward.extend(self.held.take().unwrap_or_default());
                }
                Attack::CutAfterFrames(n) if index >= n => {
                    out.cut = true;
                    break;
                }
                _ => out.forward.extend_from_slice(&whole),
            }
        }
        // Bytes of an incomplete frame: byte attacks forward them as they
        // come (a cut may fall inside a frame); frame attacks wait.
        if matches!(
            self.attack,
            Attack::None | Attack::Flip(_) | Attack::Truncate(_)
        ) {
            out.forward = bytes;
        }
        out
    }
}

fn is_chunk(frame: &[u8]) -> bool {
    matches!(
        decode_payload::<ClientMessage>(&frame[frame::HEADER_LEN..]),
        Ok(ClientMessage::Chunk { .. })
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloak_core::session::messages::encode_frame;

    fn chunk(byte: u8) -> Vec<u8> {
        encode_frame(&ClientMessage::Chunk {
            data: vec![byte; 3],
        })
    }

    fn head() -> Vec<u8> {
        encode_frame(&ClientMessage::SendStream {
            head: vec![9; 5],
            proof: vec![8; 3],
        })
    }

    #[test]
    fn byte_attacks_work_across_reads() {
        let mut flip = Filter::new(Attack::Flip(5));
        assert_eq!(flip.pass(&[0; 4]).forward, [0; 4]);
        assert_eq!(flip.pass(&[0; 4]).forward, [0, 1, 0, 0]);
        let mut cut = Filter::new(Attack::Truncate(6));
        let first = cut.pass(&[7; 4]);
        assert!(!first.cut);
        let second = cut.pass(&[7; 4]);
        assert!(second.cut && second.forward == [7, 7]);
    }

    #[test]
    fn a_cut_after_frames_forwards_exactly_those_frames() {
        let stream: Vec<u8> = [head(), chunk(1), chunk(2)].concat();
        let mut cut = Filter::new(Attack::CutAfterFrames(2));
        let mut forwarded = Vec::new();
        let mut was_cut = false;
        for piece in stream.chunks(3) {
            let pass = cut.pass(piece);
            forwarded.extend(pass.forward);
            if pass.cut {
                was_cut = true;
                break;
            }
        }
        assert!(was_cut);
        assert_eq!(forwarded, [head(), chunk(1)].concat());
    }

    #[test]
    fn frame_attacks_drop_and_swap_whole_frames() {
        let stream: Vec<u8> = [head(), chunk(1), chunk(2), chunk(3)].concat();
        let mut drop = Filter::new(Attack::DropChunk(1));
        let mut forwarded = Vec::new();
        for piece in stream.chunks(5) {
            forwarded.extend(drop.pass(piece).forward);
        }
        assert_eq!(forwarded, [head(), chunk(1), chunk(3)].concat());

        let mut swap = Filter::new(Attack::SwapFrames);
        let pass = swap.pass(&stream);
        assert_eq!(
            pass.forward,
            [head(), chunk(2), chunk(1), chunk(3)].concat()
        );
        assert_eq!(pass.frames.len(), 4);
    }
}
