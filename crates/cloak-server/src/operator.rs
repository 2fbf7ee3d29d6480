//! Operator commands, safe to run while the server runs (SQLite in WAL mode
//! lets them read and write beside it): `inbox`, `read ID`, `post`,
//! `clients`.

use std::time::{Duration, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail};
use cloak_core::session::proofs::SendPayload;
use cloak_core::{FreshnessCheck, KeyPair, OpenOptions, text};

use crate::authorized::Authorized;
use crate::process::now;
use crate::report::{CONFIDENTIALITY_PASSED, INTEGRITY_PASSED};
use crate::store::{MessageStore, Outbound};

fn time(seconds: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(seconds)).to_string()
}

/// One line per received message: id, sender, time, mode, size.
pub fn inbox(store: &dyn MessageStore) -> anyhow::Result<String> {
    let messages = store.inbox()?;
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

/// Decrypts and re-verifies a stored message, then shows it.
pub fn read(
    store: &dyn MessageStore,
    key: &KeyPair,
    authorized: &Authorized,
    id: &str,
) -> anyhow::Result<String> {
    let message = store.find_inbound(id)?;
    let decrypted =
        cloak_core::decrypt(key, &message.envelope, &OpenOptions::default()).map_err(|_| {
            anyhow!(
                "stored message {} does not decrypt with the server key",
                message.message_id
            )
        })?;
    let mut out = format!("{CONFIDENTIALITY_PASSED}\n");
    let client = authorized.get(&message.sender).ok_or_else(|| {
        anyhow!(
            "cannot re-verify message {}: its sender key {} is no longer authorized",
            message.message_id,
            message.sender
        )
    })?;
    // Freshness was checked against the session challenge on arrival.
    let opened = decrypted
        .verify(&client.key, FreshnessCheck::Archived)
        .map_err(|_| anyhow!("stored message {} fails verification", message.message_id))?;
    let payload = SendPayload::from_bytes(&opened.plaintext).ok_or_else(|| {
        anyhow!(
            "stored message {} has a malformed payload",
            message.message_id
        )
    })?;
    out.push_str(&format!("{INTEGRITY_PASSED}\n"));
    out.push_str(&format!(
        "Message {} from {} ({}), {} mode, sent {}, received {}:\n{}\n",
        opened.message_id,
        client.name,
        opened.sender,
        opened.mode,
        time(opened.timestamp),
        time(message.received_at),
        text::printable(&payload.text)
    ));
    Ok(out)
}

/// Queues `text` for the authorized client `name`.
pub fn post(
    store: &dyn MessageStore,
    key: &KeyPair,
    authorized: &Authorized,
    name: &str,
    text: &[u8],
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
    let sealed = crate::at_rest::seal(key, text).context("sealing the message")?;
    store.enqueue(&Outbound {
        message_id: sealed.message_id,
        recipient: client.key.fingerprint(),
        recipient_name: client.name.clone(),
        created_at: now(),
        size: text.len() as u64,
        envelope: sealed.bytes,
    })?;
    Ok(format!(
        "Queued message {} for {} ({} bytes).\n",
        sealed.message_id,
        client.name,
        text.len()
    ))
}

/// Authorized clients with fingerprints and queued-message counts.
pub fn clients(store: &dyn MessageStore, authorized: &Authorized) -> anyhow::Result<String> {
    let counts = store.queued_counts()?;
    if authorized.is_empty() {
        return Ok("No authorized clients.\n".into());
    }
    let mut out = format!("{:<16}  {:<51}  {:>6}\n", "NAME", "FINGERPRINT", "QUEUED");
    for client in authorized.clients() {
        let fingerprint = client.key.fingerprint();
        out.push_str(&format!(
            "{:<16}  {:<51}  {:>6}\n",
            client.name,
            fingerprint.to_string(),
            counts.get(&fingerprint).copied().unwrap_or(0)
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
                envelope: vec![0; 8],
            };
            store.store_inbound(&message).unwrap();
        }
        let table = inbox(&store).unwrap();
        let widths: Vec<usize> = table.lines().map(|l| l.chars().count()).collect();
        assert!(widths.windows(2).all(|w| w[0] == w[1]), "{table}");
        assert!(table.contains("2027-01-15T08:00:00Z"), "{table}");
    }
}
