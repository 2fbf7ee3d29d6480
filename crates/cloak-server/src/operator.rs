//! Operator commands, safe to run while the server runs (SQLite in WAL mode
//! lets them read and write beside it): `inbox`, `read ID`, `post`,
//! `clients`; the listings also as JSON Lines ([`json`]).

mod json;

use std::time::{Duration, UNIX_EPOCH};

use std::io::{Read, Write};
use std::path::Path;

use anyhow::{Context, anyhow, bail};
use cloak_cli::sink::{Kept, Sink};
use cloak_core::clock::now;
use cloak_core::session::proofs;
use cloak_core::verdict::{CONFIDENTIALITY_PASSED, INTEGRITY_PASSED};
use cloak_core::{
    Fingerprint, FreshnessCheck, KeyPair, MessageId, Mode, OpenOptions, PublicKey, text,
};
use zeroize::Zeroizing;

use crate::at_rest::Place;
use crate::at_rest::stored::{StoredStream, StoredStreamError};
use crate::authorized::Authorized;
use crate::store::{Content, Inbound, InboxQuery, MessageStore, Outbound};

/// A stored time as RFC 3339. A damaged row's time past what a clock can
/// show is shown as the latest one, never a panic.
fn time(seconds: u64) -> String {
    const LATEST: u64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    let at = UNIX_EPOCH + Duration::from_secs(seconds.min(LATEST));
    humantime::format_rfc3339_seconds(at).to_string()
}

/// A received message's metadata, for `--json`.
fn summary(m: &Inbound) -> json::Message {
    json::Message {
        id: m.message_id.to_string(),
        sender: m.sender_name.clone(),
        fingerprint: m.sender.to_string(),
        received: time(m.received_at),
        mode: m.mode.as_str(),
        bytes: m.size,
        sent: None,
        text: None,
        text_base64: None,
        file: None,
    }
}

/// One line per received message `query` selects: id, sender, time,
/// mode, size; with `json`, one JSON object per message (nothing for none).
pub fn inbox(store: &dyn MessageStore, query: &InboxQuery, json: bool) -> anyhow::Result<String> {
    let messages = store.inbox(query)?;
    if json {
        return json::lines(messages.iter().map(summary));
    }
    if messages.is_empty() {
        return Ok("The inbox is empty.\n".into());
    }
    let mut out = format!(
        "{:<32}  {:<16}  {:<20}  {:<10}  {:>10}\n",
        "ID", "FROM", "RECEIVED (UTC)", "MODE", "BYTES"
    );
    for m in messages {
        out.push_str(&format!(
            "{:<32}  {:<16}  {:<20}  {:<10}  {:>10}\n",
            m.message_id,
            text::printable(m.sender_name.as_bytes()),
            time(m.received_at),
            m.mode,
            m.size
        ));
    }
    Ok(out)
}

/// Largest message `read` prints on the terminal; larger ones need `--out`.
pub const MAX_TERMINAL_MESSAGE: u64 = 1 << 20;

/// Where `read` puts the message text: the terminal, or a file that
/// appears only once the message verified.
fn sink(out: Option<&Path>) -> anyhow::Result<Sink> {
    match out {
        Some(target) => Sink::beside(target),
        None => Ok(Sink::memory(0)),
    }
}

/// The text for the terminal, or a line saying where it went.
fn kept_line(kept: Kept) -> String {
    match kept {
        Kept::Memory(text) => format!("{}\n", text::quoted(&text)),
        Kept::File { len, path } => format!("Wrote {len} bytes to {}.\n", path.display()),
    }
}

/// Feeds the plaintext of a sent message (receipt key, then text) to the
/// sink, dropping the receipt key.
struct Payload<'s> {
    skip: usize,
    sink: &'s mut Sink,
}

impl Payload<'_> {
    fn feed(&mut self, mut bytes: &[u8]) -> anyhow::Result<()> {
        let skipped = self.skip.min(bytes.len());
        self.skip -= skipped;
        bytes = &bytes[skipped..];
        self.sink.write(bytes)
    }
}

/// Opens and re-verifies a stored message into `sink` (its text, without
/// the receipt key); its sender, mode, id and time of sending.
fn open_content(
    store: &dyn MessageStore,
    message: &Inbound,
    key: &KeyPair,
    sender_key: &PublicKey,
    sink: &mut Sink,
) -> anyhow::Result<(Fingerprint, Mode, MessageId, u64)> {
    let damaged = || {
        anyhow!(
            "stored message {} does not open and verify",
            message.message_id
        )
    };
    let mut payload = Payload {
        skip: proofs::RECEIPT_KEY_LEN,
        sink,
    };
    // Freshness was checked against the session challenge on arrival.
    let opened = match &message.content {
        Content::Envelope(envelope) => {
            let opened = cloak_core::decrypt(key, envelope, &OpenOptions::default())
                .and_then(|d| d.verify(sender_key, FreshnessCheck::Archived))
                .map_err(|_| damaged())?;
            if opened.plaintext.len() < proofs::RECEIPT_KEY_LEN {
                return Err(damaged());
            }
            payload.feed(&opened.plaintext)?;
            (
                opened.sender,
                opened.mode,
                opened.message_id,
                opened.timestamp,
            )
        }
        Content::Stream(path) => {
            // A store failure says so; anything else is damage.
            let failed = |e: StoredStreamError| match e {
                StoredStreamError::Store(e) => anyhow::Error::from(e),
                _ => damaged(),
            };
            let mut stream = StoredStream::open(key, store, path).map_err(failed)?;
            while let Some(plaintext) = stream.next_chunk().map_err(failed)? {
                payload.feed(plaintext)?;
            }
            let opened = (stream.finish().map_err(failed)?)
                .verify(sender_key, FreshnessCheck::Archived)
                .map_err(|_| damaged())?;
            (
                opened.sender,
                Mode::Hybrid,
                opened.message_id,
                opened.timestamp,
            )
        }
        Content::Unloaded => return Err(damaged()),
    };
    Ok(opened)
}

/// Decrypts and re-verifies a stored message, then shows it (with `json`,
/// as one JSON object) or writes it to `out`. Nothing is shown or left in
/// `out` unless it verifies.
pub fn read(
    store: &dyn MessageStore,
    key: &KeyPair,
    authorized: &Authorized,
    id: &str,
    (out, json): (Option<&Path>, bool),
) -> anyhow::Result<String> {
    let message = store.find_inbound(id)?;
    if out.is_none() && message.size > MAX_TERMINAL_MESSAGE {
        bail!(
            "message {} is {} bytes: write it to a file with --out FILE",
            message.message_id,
            message.size
        );
    }
    let client = authorized.get(&message.sender).ok_or_else(|| {
        anyhow!(
            "cannot verify message {}: its sender key {} is no longer authorized",
            message.message_id,
            message.sender
        )
    })?;
    let mut sink = sink(out)?;
    let (sender, mode, message_id, timestamp) =
        open_content(store, &message, key, &client.key, &mut sink)?;
    if json {
        let mut line = json::Message {
            sender: client.name.clone(),
            sent: Some(time(timestamp)),
            ..summary(&message)
        };
        line = match sink.keep()? {
            Kept::Memory(text) => line.with_text(&text),
            Kept::File { path, .. } => json::Message {
                file: Some(path.display().to_string()),
                ..line
            },
        };
        return json::lines([line]);
    }
    let mut shown = format!("{CONFIDENTIALITY_PASSED}\n{INTEGRITY_PASSED}\n");
    shown.push_str(&format!(
        "Message {message_id} from {} ({sender}), {mode} mode, sent {}, received {}:\n",
        client.name,
        time(timestamp),
        time(message.received_at),
    ));
    shown.push_str(&kept_line(sink.keep()?));
    Ok(shown)
}

/// Messages up to this size are queued as one envelope (and delivered
/// with others in one reply); larger ones as a stream file, delivered alone
/// as a stream. Clients show messages up to the same size on the terminal.
pub const POST_INLINE_MAX: usize = 1 << 20;

/// Queues what `source` yields for the authorized client `name`, in
/// bounded memory whatever its size.
pub fn post(
    store: &dyn MessageStore,
    key: &KeyPair,
    authorized: &Authorized,
    name: &str,
    source: &mut dyn Read,
) -> anyhow::Result<String> {
    let Some(client) = authorized.by_name(name) else {
        let known: Vec<_> = authorized
            .clients()
            .iter()
            .map(|c| c.name.clone())
            .collect();
        bail!(
            "no authorized client named `{name}` (authorized: {})",
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        );
    };
    let mut start = Zeroizing::new(Vec::new());
    (&mut *source)
        .take(POST_INLINE_MAX as u64 + 1)
        .read_to_end(&mut start)
        .context("reading the message")?;
    let message_id = cloak_core::MessageId::random();
    let place = Place {
        recipient: client.key.fingerprint(),
        message_id,
    };
    let (size, envelope, stream) = if start.len() <= POST_INLINE_MAX {
        let sealed = crate::at_rest::seal(key, place, &start).context("sealing the message")?;
        (start.len() as u64, sealed.bytes, None)
    } else {
        let mut spool = store.begin_stream()?;
        let mut whole = start.as_slice().chain(source);
        let size = crate::at_rest::seal_stream(key, place, &mut whole, spool.as_mut())
            .context("sealing the message")?;
        (size, Vec::new(), Some(spool.commit()?))
    };
    store.enqueue(&Outbound {
        message_id,
        recipient: client.key.fingerprint(),
        recipient_name: client.name.clone(),
        created_at: now(),
        size,
        envelope,
        stream,
    })?;
    Ok(format!(
        "Queued message {message_id} for {} ({size} bytes).\n",
        client.name,
    ))
}

/// Authorized clients with fingerprints and queued-message counts, then
/// the messages set aside; with `json`, one JSON object for each.
pub fn clients(
    store: &dyn MessageStore,
    authorized: &Authorized,
    json: bool,
) -> anyhow::Result<String> {
    if json {
        return clients_json(store, authorized);
    }
    let mut out = authorized_clients(store, authorized)?;
    let aside = store.quarantined()?;
    if !aside.is_empty() {
        out.push_str(&format!(
            "\n{} queued message(s) set aside because they do not open (damaged, or moved from another mailbox); `export ID --out FILE` writes one as stored:\n",
            aside.len()
        ));
        for m in aside {
            out.push_str(&format!(
                "{}  for {}  queued {}  {} bytes\n",
                m.message_id,
                text::printable_line(m.recipient_name.as_bytes()),
                time(m.created_at),
                m.size
            ));
        }
    }
    Ok(out)
}

/// `clients --json`: the clients, revoked keys with messages queued, then
/// the messages set aside.
fn clients_json(store: &dyn MessageStore, authorized: &Authorized) -> anyhow::Result<String> {
    let mut counts = store.queued_counts()?;
    let mut lines = Vec::new();
    for client in authorized.clients() {
        let fingerprint = client.key.fingerprint();
        lines.push(json::ClientsLine::Client {
            name: Some(client.name.clone()),
            fingerprint: fingerprint.to_string(),
            queued: counts.remove(&fingerprint).unwrap_or(0),
            revoked: false,
        });
    }
    let mut revoked: Vec<_> = counts.into_iter().collect();
    revoked.sort_by_key(|(fingerprint, _)| fingerprint.to_string());
    lines.extend(
        revoked
            .into_iter()
            .map(|(fingerprint, queued)| json::ClientsLine::Client {
                name: None,
                fingerprint: fingerprint.to_string(),
                queued,
                revoked: true,
            }),
    );
    for m in store.quarantined()? {
        lines.push(json::ClientsLine::SetAside {
            id: m.message_id.to_string(),
            recipient: m.recipient_name,
            queued: time(m.created_at),
            bytes: m.size,
        });
    }
    json::lines(lines)
}

/// Deletes received or queued messages by whole id.
pub fn delete(store: &dyn MessageStore, ids: &[String]) -> anyhow::Result<String> {
    let parsed = ids
        .iter()
        .map(|id| {
            let bytes: Option<Vec<u8>> = (id.len() == 32)
                .then(|| {
                    (0..32)
                        .step_by(2)
                        .map(|i| u8::from_str_radix(id.get(i..i + 2)?, 16).ok())
                        .collect()
                })
                .flatten();
            bytes
                .and_then(|b| b.try_into().ok())
                .map(cloak_core::MessageId)
                .ok_or_else(|| anyhow!("`{id}` is not a whole message id (32 hex digits)"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let deleted = store.delete(&parsed)?;
    let missing: Vec<String> = parsed
        .iter()
        .filter(|id| !deleted.contains(id))
        .map(|id| id.to_string())
        .collect();
    if !missing.is_empty() {
        bail!(
            "no message {} (deleted {} of {})",
            missing.join(", "),
            parsed.len() - missing.len(),
            parsed.len()
        );
    }
    Ok(parsed.iter().map(|id| format!("Deleted {id}.\n")).collect())
}

/// Writes a stored stream's frames to `out` as the embedded store keeps
/// them: each frame's length (4 bytes, big-endian), then the frame.
fn export_stream(
    store: &dyn MessageStore,
    stream: &crate::store::StreamRef,
    out: &Path,
) -> anyhow::Result<()> {
    let mut frames = store.open_stream(stream)?;
    let mut file = std::io::BufWriter::new(std::fs::File::create(out)?);
    while let Some(frame) = frames.next_frame()? {
        file.write_all(&(frame.len() as u32).to_be_bytes())?;
        file.write_all(&frame)?;
    }
    file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(())
}

/// Writes a queued message's sealed bytes, as stored, to `out`.
pub fn export(store: &dyn MessageStore, id: &str, out: &Path) -> anyhow::Result<String> {
    let wanted = id.to_ascii_lowercase();
    let message = store
        .quarantined()?
        .into_iter()
        .find(|m| m.message_id.to_string() == wanted)
        .ok_or_else(|| anyhow!("no message set aside with id `{id}` (see `clients`)"))?;
    match &message.stream {
        Some(stream) => {
            export_stream(store, stream, out)
                .with_context(|| format!("writing {}", out.display()))?;
        }
        None => std::fs::write(out, &message.envelope)
            .with_context(|| format!("writing {}", out.display()))?,
    }
    Ok(format!(
        "Wrote message {} as stored to {}.\n",
        message.message_id,
        out.display()
    ))
}

fn authorized_clients(store: &dyn MessageStore, authorized: &Authorized) -> anyhow::Result<String> {
    let mut counts = store.queued_counts()?;
    let mut out = if authorized.is_empty() {
        "No authorized clients.\n".to_owned()
    } else {
        format!("{:<16}  {:<51}  {:>6}\n", "NAME", "FINGERPRINT", "QUEUED")
    };
    for client in authorized.clients() {
        let fingerprint = client.key.fingerprint();
        out.push_str(&format!(
            "{:<16}  {:<51}  {:>6}\n",
            client.name,
            fingerprint.to_string(),
            counts.remove(&fingerprint).unwrap_or(0)
        ));
    }
    // Messages for keys no longer authorized stay queued (delivered again
    // if the key comes back): listed, so they are not forgotten.
    let mut revoked: Vec<_> = counts.into_iter().collect();
    revoked.sort_by_key(|(fingerprint, _)| fingerprint.to_string());
    for (fingerprint, queued) in revoked {
        out.push_str(&format!(
            "{:<16}  {:<51}  {:>6}\n",
            "(revoked)",
            fingerprint.to_string(),
            queued
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Inbound;
    use crate::store::sqlite::SqliteStore;
    use cloak_core::{Fingerprint, MessageId, Mode};

    #[test]
    fn inbox_columns_line_up() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), Default::default()).unwrap();
        for (id, mode) in [(1u8, Mode::Asymmetric), (2, Mode::Hybrid)] {
            let message = Inbound {
                message_id: MessageId([id; 16]),
                sender: Fingerprint([id; 32]),
                sender_name: "client".into(),
                received_at: 1_800_000_000,
                mode,
                size: 1234,
                text_digest: Some([id; 32]),
                content: Content::Envelope(vec![0; 8]),
            };
            store.store_inbound(&message).unwrap();
        }
        let table = inbox(&store, &InboxQuery::default(), false).unwrap();
        let widths: Vec<usize> = table.lines().map(|l| l.chars().count()).collect();
        assert!(widths.windows(2).all(|w| w[0] == w[1]), "{table}");
        assert!(table.contains("2027-01-15T08:00:00Z"), "{table}");
    }
}
