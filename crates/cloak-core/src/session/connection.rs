//! A TCP connection that reads and writes whole frames. It owns the stream
//! and its read buffer; every read and write has a timeout; a clean EOF
//! between frames is `Ok(None)`, an EOF inside a frame is an error.

use std::io;
use std::time::Duration;

use bincode::{Decode, Encode};
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::frame::{self, FrameError};
use super::messages::{PayloadError, decode_payload, encode_frame, encode_frame_into};
use crate::limits::MAX_FRAME_LEN;

/// Which way a frame went, for a wire tap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Written by us.
    Sent,
    /// Read from the peer.
    Received,
}

/// A callback that sees every frame (prefix included) as it crosses the wire.
pub type Tap = Box<dyn FnMut(Direction, &[u8]) + Send>;

/// Why a connection failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The socket failed.
    #[error("connection failed: {0}")]
    Io(#[from] io::Error),
    /// The peer sent or accepted nothing for the whole timeout.
    #[error("peer did not respond within {0:?}")]
    Timeout(Duration),
    /// The peer closed the connection in the middle of a frame.
    #[error("peer closed the connection mid-frame ({0} bytes of a frame received)")]
    EofMidFrame(usize),
    /// The peer closed the connection where a reply was expected.
    #[error("peer closed the connection")]
    Closed,
    /// The frame's length prefix is over the limit.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The frame's payload did not decode.
    #[error(transparent)]
    Payload(#[from] PayloadError),
}

/// One framed connection.
pub struct Connection {
    stream: TcpStream,
    buffer: BytesMut,
    io_timeout: Duration,
    tap: Option<Tap>,
    write_buffer: Vec<u8>,
    max_frame: usize,
}

/// Grow the read buffer by at most this much per read: memory follows the
/// bytes that actually arrive, never a length the peer merely declared.
const READ_CHUNK: usize = 64 * 1024;

impl Connection {
    /// Wraps `stream`; each read or write fails after `io_timeout`.
    pub fn new(stream: TcpStream, io_timeout: Duration) -> Self {
        let _ = stream.set_nodelay(true);
        Connection {
            stream,
            buffer: BytesMut::with_capacity(8 * 1024),
            io_timeout,
            tap: None,
            write_buffer: Vec::new(),
            max_frame: MAX_FRAME_LEN,
        }
    }

    /// Lowers the largest frame this side reads (a server reads smaller
    /// frames from clients than a client may read from a server).
    pub fn set_max_frame(&mut self, max: usize) {
        self.max_frame = max.min(MAX_FRAME_LEN);
    }

    /// The payload length the next frame declares, checked against the
    /// limit, once its 4-byte prefix has arrived (within the timeout);
    /// `Ok(None)` on a clean EOF. Lets a server account for a frame's
    /// memory before it reads the frame.
    pub async fn next_frame_len(&mut self) -> Result<Option<usize>, ConnectionError> {
        let limit = self.io_timeout;
        timeout(limit, async {
            while self.buffer.len() < frame::HEADER_LEN {
                self.buffer.reserve(frame::HEADER_LEN);
                let wanted = (frame::HEADER_LEN - self.buffer.len()) as u64;
                if (&mut self.stream)
                    .take(wanted)
                    .read_buf(&mut self.buffer)
                    .await?
                    == 0
                {
                    return if self.buffer.is_empty() {
                        Ok(None)
                    } else {
                        Err(ConnectionError::EofMidFrame(self.buffer.len()))
                    };
                }
            }
            frame::parse(&self.buffer, self.max_frame)?;
            Ok(Some(frame::missing(&self.buffer[..frame::HEADER_LEN])))
        })
        .await
        .map_err(|_| ConnectionError::Timeout(limit))?
    }

    /// Calls `tap` with every frame read or written.
    pub fn set_tap(&mut self, tap: Tap) {
        self.tap = Some(tap);
    }

    /// Reads one frame's payload; `Ok(None)` on a clean EOF between frames.
    ///
    /// Lets go of the memory behind frames already read: a frame read is
    /// split off the read buffer but shares its allocation, which a large
    /// one keeps alive as long as the connection lasts. Bytes buffered and
    /// not yet read stay.
    pub fn shed_buffer(&mut self) {
        let rest = self.buffer.split();
        let mut fresh = BytesMut::with_capacity(rest.len().max(8 * 1024));
        fresh.extend_from_slice(&rest);
        self.buffer = fresh;
    }

    /// The whole frame must arrive within the timeout (not merely each
    /// read), so a peer trickling bytes cannot hold the connection forever:
    /// it must keep up at least one frame per timeout.
    pub async fn read_frame(&mut self) -> Result<Option<BytesMut>, ConnectionError> {
        let limit = self.io_timeout;
        timeout(limit, self.read_frame_untimed())
            .await
            .map_err(|_| ConnectionError::Timeout(limit))?
    }

    async fn read_frame_untimed(&mut self) -> Result<Option<BytesMut>, ConnectionError> {
        loop {
            if let Some(total) = frame::parse(&self.buffer, self.max_frame)? {
                let mut whole = self.buffer.split_to(total);
                if let Some(tap) = &mut self.tap {
                    tap(Direction::Received, &whole);
                }
                whole.advance(frame::HEADER_LEN);
                return Ok(Some(whole));
            }
            // Read no further than the end of this frame: bytes of the next
            // one left behind would be moved to the front of the buffer once
            // this frame is split off, a copy for every frame of a stream.
            // And grow the buffer by no more than that either, so a small
            // frame costs a small buffer.
            let wanted = frame::missing(&self.buffer);
            self.buffer.reserve(wanted.min(READ_CHUNK));
            let wanted = wanted as u64;
            let read = (&mut self.stream)
                .take(wanted)
                .read_buf(&mut self.buffer)
                .await?;
            if read == 0 {
                return if self.buffer.is_empty() {
                    Ok(None)
                } else {
                    Err(ConnectionError::EofMidFrame(self.buffer.len()))
                };
            }
        }
    }

    /// A message the peer has already sent, without waiting: lets a
    /// streaming sender notice an early refusal instead of writing on.
    /// `Ok(None)` when nothing complete has arrived.
    pub fn try_read_message<T: Decode<()>>(&mut self) -> Result<Option<T>, ConnectionError> {
        loop {
            if let Some(total) = frame::parse(&self.buffer, self.max_frame)? {
                let whole = self.buffer.split_to(total);
                if let Some(tap) = &mut self.tap {
                    tap(Direction::Received, &whole);
                }
                return Ok(Some(decode_payload(&whole[frame::HEADER_LEN..])?));
            }
            self.buffer.reserve(READ_CHUNK);
            match self.stream.try_read_buf(&mut self.buffer) {
                Ok(0) => return Err(ConnectionError::Closed),
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Completes when the peer closes the connection (or it fails), so a
    /// server can stop work nobody waits for any more. Bytes that arrive
    /// meanwhile stay buffered for the next read; once [`READ_CHUNK`] of
    /// them are waiting, the peer is evidently still there, and this waits
    /// no more (never completes) rather than buffer further.
    pub async fn closed(&mut self) {
        while self.buffer.len() < READ_CHUNK {
            self.buffer.reserve(READ_CHUNK - self.buffer.len());
            let room = (READ_CHUNK - self.buffer.len()) as u64;
            match (&mut self.stream)
                .take(room)
                .read_buf(&mut self.buffer)
                .await
            {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
        std::future::pending().await
    }

    /// Completes as soon as the peer does anything at all (closes, fails,
    /// or sends a byte, which stays buffered): for a phase in which it
    /// must wait for our answer, so that a server stops work for a peer
    /// that has closed, however much it sent before closing.
    pub async fn interrupted(&mut self) {
        self.buffer.reserve(1);
        let _ = (&mut self.stream).take(1).read_buf(&mut self.buffer).await;
    }

    /// Reads and discards whatever the peer still sends, until it closes or
    /// `limit` passes. After refusing a stream mid-way, this lets the peer
    /// read the refusal: closing with unread data would reset the
    /// connection and could destroy the answer before the peer reads it.
    pub async fn drain(&mut self, limit: Duration) {
        let mut scratch = vec![0u8; READ_CHUNK];
        let _ = timeout(limit, async {
            while let Ok(n) = self.stream.read(&mut scratch).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
    }

    /// Writes one frame.
    pub async fn write_frame(&mut self, payload: &[u8]) -> Result<(), ConnectionError> {
        self.write_encoded(frame::encode(payload)).await
    }

    /// Writes bytes that already form one whole frame.
    async fn write_encoded(&mut self, bytes: Vec<u8>) -> Result<(), ConnectionError> {
        if let Some(tap) = &mut self.tap {
            tap(Direction::Sent, &bytes);
        }
        self.write_raw(&bytes).await
    }

    async fn write_raw(&mut self, bytes: &[u8]) -> Result<(), ConnectionError> {
        timeout(self.io_timeout, async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        })
        .await
        .map_err(|_| ConnectionError::Timeout(self.io_timeout))??;
        Ok(())
    }

    /// Reads and decodes one message; `Ok(None)` on a clean EOF.
    pub async fn read_message<T: Decode<()>>(&mut self) -> Result<Option<T>, ConnectionError> {
        match self.read_frame().await? {
            None => Ok(None),
            Some(payload) => Ok(Some(decode_payload(&payload)?)),
        }
    }

    /// Reads one message where the peer must answer.
    pub async fn expect_message<T: Decode<()>>(&mut self) -> Result<T, ConnectionError> {
        self.read_message().await?.ok_or(ConnectionError::Closed)
    }

    /// Encodes and writes several messages in one write (stream chunks).
    pub async fn write_messages<T: Encode>(
        &mut self,
        messages: impl IntoIterator<Item = T>,
    ) -> Result<(), ConnectionError> {
        // A buffer kept across calls: a fresh megabyte each time would be
        // mapped and unmapped by the allocator, page by page.
        let mut bytes = std::mem::take(&mut self.write_buffer);
        bytes.clear();
        for message in messages {
            encode_frame_into(&message, &mut bytes);
        }
        let result = self.write_frames(&bytes).await;
        self.write_buffer = bytes;
        result
    }

    /// Writes bytes that already form whole frames (see
    /// [`super::messages::chunk_frame_prefix`]) in one write.
    pub async fn write_frames(&mut self, bytes: &[u8]) -> Result<(), ConnectionError> {
        if let Some(tap) = &mut self.tap {
            // The tap shows frames one by one, as an observer would split them.
            let mut rest = bytes;
            while let Ok(Some(total)) = frame::parse(rest, MAX_FRAME_LEN) {
                tap(Direction::Sent, &rest[..total]);
                rest = &rest[total..];
            }
        }
        self.write_raw(bytes).await
    }

    /// Encodes and writes one message.
    pub async fn write_message<T: Encode>(&mut self, message: &T) -> Result<(), ConnectionError> {
        self.write_encoded(encode_frame(message)).await
    }

    /// Closes the write half, telling the peer we are done.
    pub async fn shutdown(&mut self) {
        let _ = timeout(self.io_timeout, self.stream.shutdown()).await;
    }
}
