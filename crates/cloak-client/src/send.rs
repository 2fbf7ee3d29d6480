//! `send_msg`: seal the message to the pinned server key over the server's
//! challenge, send it, and succeed only on a receipt that only the real
//! server could have produced.

use std::time::Duration;

use anyhow::{anyhow, bail};
use cloak_core::keydir::Role;
use cloak_core::limits::{DEFAULT_MAX_ASYMMETRIC_PLAINTEXT, MAX_HYBRID_PLAINTEXT};
use cloak_core::session::proofs::{self, SEND_PAYLOAD_OVERHEAD, SendPayload};
use cloak_core::session::{ClientMessage, ConnectionError, ServerMessage};
use cloak_core::{KeyPair, MessageId, Mode, PublicKey, SealOptions};

use crate::session::{self, ClientConfig};

/// Largest message text per mode, leaving room for the payload around it.
pub(crate) fn max_text(mode: Mode) -> usize {
    match mode {
        Mode::Asymmetric => DEFAULT_MAX_ASYMMETRIC_PLAINTEXT - SEND_PAYLOAD_OVERHEAD,
        _ => MAX_HYBRID_PLAINTEXT - SEND_PAYLOAD_OVERHEAD,
    }
}

/// Attempts per message. A retry reuses the message id, so the server
/// stores the message once however many receipts were lost.
const ATTEMPTS: u32 = 3;

/// Why one attempt failed.
enum Failure {
    /// The network failed (possibly after the server stored the message):
    /// worth retrying with the same id.
    Network(anyhow::Error),
    /// A definite answer: retrying would not change it.
    Final(anyhow::Error),
}

/// Sends `text`; returns the line to print on success.
pub(crate) async fn send(config: &ClientConfig, text: Vec<u8>) -> anyhow::Result<String> {
    let max = max_text(config.mode);
    if text.len() > max {
        let hint = if config.mode == Mode::Asymmetric {
            "; use --mode hybrid for large messages"
        } else {
            ""
        };
        bail!(
            "message of {} bytes is over the {} mode limit of {max} bytes{hint}",
            text.len(),
            config.mode
        );
    }
    let me = config.keys.load_own(Role::Client)?;
    let server = config.keys.load_peer(Role::Server)?;
    let message_id = cloak_core::session::proofs::new_message_id();
    let mut attempt = 1;
    loop {
        match attempt_once(config, &me, &server, &text, message_id).await {
            Ok(line) => return Ok(line),
            Err(Failure::Final(e)) => return Err(e),
            Err(Failure::Network(e)) if attempt >= ATTEMPTS => {
                return Err(e.context(format!("gave up after {ATTEMPTS} attempts")));
            }
            Err(Failure::Network(e)) => {
                eprintln!("cloak-client: attempt {attempt} failed ({e:#}); retrying");
                tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt))).await;
                attempt += 1;
            }
        }
    }
}

async fn attempt_once(
    config: &ClientConfig,
    me: &KeyPair,
    server: &PublicKey,
    text: &[u8],
    message_id: MessageId,
) -> Result<String, Failure> {
    // Failing to reach the server is final: only a connection lost after
    // the hello, when the message may have arrived, is worth a retry.
    let (mut conn, hello) = session::open(config, server)
        .await
        .map_err(Failure::Final)?;
    let payload = SendPayload::new(text.to_vec());
    let options = SealOptions {
        message_id: Some(message_id),
        ..SealOptions::default()
    };
    let sealed = cloak_core::seal(
        me,
        server,
        config.mode,
        &hello.challenge,
        &payload.to_bytes(),
        &options,
    )
    .map_err(|e| Failure::Final(e.into()))?;
    let network = |e: ConnectionError, what: &str| {
        Failure::Network(anyhow::Error::new(e).context(what.to_owned()))
    };
    conn.write_message(&ClientMessage::Send {
        envelope: sealed.bytes.clone(),
    })
    .await
    .map_err(|e| network(e, "sending the message"))?;
    let answer = conn
        .expect_message::<ServerMessage>()
        .await
        .map_err(|e| network(e, "no receipt from the server"))?;
    match answer {
        ServerMessage::Receipt(receipt) => {
            let genuine = receipt.message_id == sealed.message_id
                && proofs::verify_receipt(
                    &payload.receipt_key,
                    sealed.message_id,
                    server.fingerprint(),
                    &hello.challenge,
                    &sealed.bytes,
                    &receipt.mac,
                );
            if !genuine {
                return Err(Failure::Final(anyhow!(
                    "the server's receipt does not verify: the message may not have been delivered"
                )));
            }
            Ok(format!(
                "Message delivered: id {}, {} mode, receipt verified.",
                sealed.message_id, config.mode
            ))
        }
        ServerMessage::Error { code, detail } => {
            Err(Failure::Final(session::refusal(code, &detail)))
        }
        _ => Err(Failure::Final(anyhow!(
            "unexpected answer from the server; the message may not have been delivered"
        ))),
    }
}
