//! Relaying one connection (or replaying a recorded one), printing each
//! frame as an interceptor captures it.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use anyhow::Context;
use cloak_core::limits::MAX_FRAME_LEN;
use cloak_core::session::frame_reader::read_whole_frame;
use cloak_core::session::messages::decode_payload;
use cloak_core::session::{ServerMessage, frame};
use cloak_core::text::hex_preview;

use crate::attack::{Attack, Filter};

/// How to relay one connection.
#[derive(Debug)]
pub(crate) struct Setup {
    /// The server whose hello the client sees.
    pub hello_from: SocketAddr,
    /// The server that receives the client's bytes.
    pub send_to: SocketAddr,
    /// The attack on the client's stream.
    pub attack: Attack,
    /// The attack on the server's stream.
    pub downstream: Attack,
    pub record: Option<PathBuf>,
    pub record_server: Option<PathBuf>,
    pub label: usize,
}

/// Reads whole frames from a stream, for printing.
struct Frames<R> {
    reader: R,
}

impl<R: Read> Frames<R> {
    fn new(reader: R) -> Self {
        Frames { reader }
    }

    /// The next whole frame (prefix included), or `None` at EOF or on a
    /// frame the protocol would refuse (the rest is then not framed).
    fn next(&mut self) -> Option<Vec<u8>> {
        read_whole_frame(&mut self.reader, MAX_FRAME_LEN).ok()?
    }
}

fn show(label: usize, arrow: &str, frame: &[u8]) {
    println!(
        "[tap #{label}] {arrow} frame, {} bytes: {}",
        frame.len(),
        hex_preview(frame)
    );
}

/// Writes what a pump recorded, if it was asked to.
fn save(label: usize, path: &Option<std::path::PathBuf>, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(path) = path {
        std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
        println!(
            "[tap #{label}] recorded {} bytes to {}",
            bytes.len(),
            path.display()
        );
    }
    Ok(())
}

/// Relays `client` according to `setup`.
pub(crate) fn relay(client: TcpStream, setup: &Setup) -> anyhow::Result<()> {
    let label = setup.label;
    let hello_server = TcpStream::connect(setup.hello_from)
        .with_context(|| format!("connecting to {}", setup.hello_from))?;
    let readdressed = setup.send_to != setup.hello_from;
    let target = if readdressed {
        println!(
            "[tap #{label}] attack: re-addressing the client's message to {}",
            setup.send_to
        );
        TcpStream::connect(setup.send_to)
            .with_context(|| format!("connecting to {}", setup.send_to))?
    } else {
        hello_server.try_clone()?
    };
    // The server logs its refusals by this address: tests match them to
    // the connection they attacked.
    println!(
        "[tap #{label}] connected to the server from {}",
        target.local_addr()?
    );
    for attack in [setup.attack, setup.downstream] {
        if attack != Attack::None {
            println!("[tap #{label}] attack: {attack:?}");
        }
    }

    let (from_server, to_client) = (hello_server.try_clone()?, client.try_clone()?);
    let downstream = if readdressed {
        let from_target = target.try_clone()?;
        thread::spawn(move || {
            readdressed_downstream(label, from_server, from_target, to_client);
            Vec::new()
        })
    } else {
        let pump = Pump {
            label,
            arrow: "server -> client",
            attack: setup.downstream,
            record: setup.record_server.is_some(),
        };
        thread::spawn(move || pump.run(from_server, to_client))
    };
    let upstream = Pump {
        label,
        arrow: "client -> server",
        attack: setup.attack,
        record: setup.record.is_some(),
    };
    let recorded = upstream.run(client.try_clone()?, target.try_clone()?);
    let recorded_server = downstream.join().unwrap_or_default();
    save(label, &setup.record, &recorded)?;
    save(label, &setup.record_server, &recorded_server)?;
    if readdressed {
        let _ = hello_server.shutdown(Shutdown::Both);
    }
    Ok(())
}

/// One direction of a relayed connection.
struct Pump {
    label: usize,
    arrow: &'static str,
    attack: Attack,
    record: bool,
}

impl Pump {
    /// Relays `from` to `to` through the attack until either side ends;
    /// returns the bytes read from `from` if asked to record them.
    fn run(self, mut from: TcpStream, mut to: TcpStream) -> Vec<u8> {
        let mut filter = Filter::new(self.attack);
        let mut recorded = Vec::new();
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if self.record {
                recorded.extend_from_slice(&buffer[..read]);
            }
            let pass = filter.pass(&buffer[..read]);
            for frame in &pass.frames {
                show(self.label, self.arrow, frame);
            }
            if to.write_all(&pass.forward).is_err() {
                break;
            }
            if pass.cut {
                println!("[tap #{}] attack: cut the connection", self.label);
                let _ = to.shutdown(Shutdown::Both);
                let _ = from.shutdown(Shutdown::Both);
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
        recorded
    }
}

/// Server to client when re-addressed: the hello from the first server,
/// then everything from the other server but its own hello.
fn readdressed_downstream(
    label: usize,
    hello_from: TcpStream,
    rest_from: TcpStream,
    mut to_client: TcpStream,
) {
    let mut hello = Frames::new(hello_from);
    if let Some(frame) = hello.next() {
        show(label, "server -> client", &frame);
        let _ = to_client.write_all(&frame);
    }
    let mut rest = Frames::new(rest_from);
    let _ = rest.next();
    while let Some(frame) = rest.next() {
        show(label, "server -> client", &frame);
        if to_client.write_all(&frame).is_err() {
            break;
        }
    }
    let _ = to_client.shutdown(Shutdown::Write);
}

/// Replays recorded client bytes to `server` after its hello.
pub(crate) fn replay(server: SocketAddr, file: &Path) -> anyhow::Result<ExitCode> {
    let recorded = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let stream = TcpStream::connect(server).with_context(|| format!("connecting to {server}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut frames = Frames::new(stream.try_clone()?);
    let hello = frames.next().context("the server sent no hello")?;
    show(0, "server -> tap", &hello);
    println!("[tap] replaying {} recorded bytes", recorded.len());
    // The write side stays open until the answer: like any client, the
    // replay waits for it, and a server drops the work of a peer that
    // hangs up before its answer.
    (&stream).write_all(&recorded)?;
    let mut refused = true;
    while let Some(frame) = frames.next() {
        show(0, "server -> tap", &frame);
        match decode_payload::<ServerMessage>(&frame[frame::HEADER_LEN..]) {
            Ok(ServerMessage::Error { code, detail }) => {
                let detail = cloak_core::text::printable_line(detail.as_bytes());
                println!("[tap] the server refused the replay: {code:?}: {detail}");
            }
            Ok(other) => {
                refused = false;
                println!("[tap] the server ACCEPTED the replay: {other:?}");
            }
            Err(e) => println!("[tap] undecodable answer: {e}"),
        }
    }
    Ok(if refused {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
