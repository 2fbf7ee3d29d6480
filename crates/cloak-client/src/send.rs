//! `send_msg`: seal the message to the pinned server key over the server's
//! challenge, send it, and succeed only on a receipt that only the real
//! server could have produced.

use anyhow::{Context, bail};
use cloak_core::keydir::Role;
use cloak_core::limits::{DEFAULT_MAX_ASYMMETRIC_PLAINTEXT, MAX_HYBRID_PLAINTEXT};
use cloak_core::session::proofs::{self, SEND_PAYLOAD_OVERHEAD, SendPayload};
use cloak_core::session::{ClientMessage, ServerMessage};
use cloak_core::{Mode, SealOptions};

use crate::session::{self, ClientConfig};

/// Largest message text per mode, leaving room for the payload around it.
pub(crate) fn max_text(mode: Mode) -> usize {
    match mode {
        Mode::Asymmetric => DEFAULT_MAX_ASYMMETRIC_PLAINTEXT - SEND_PAYLOAD_OVERHEAD,
        _ => MAX_HYBRID_PLAINTEXT - SEND_PAYLOAD_OVERHEAD,
    }
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
    let (mut conn, hello) = session::open(config, &server).await?;

    let payload = SendPayload::new(text);
    let sealed = cloak_core::seal(
        &me,
        &server,
        config.mode,
        &hello.challenge,
        &payload.to_bytes(),
        &SealOptions::default(),
    )?;
    conn.write_message(&ClientMessage::Send {
        envelope: sealed.bytes.clone(),
    })
    .await
    .context("sending the message")?;

    match conn
        .expect_message::<ServerMessage>()
        .await
        .context("no receipt from the server: the message may not have been delivered")?
    {
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
                bail!(
                    "the server's receipt does not verify: the message may not have been delivered"
                );
            }
            Ok(format!(
                "Message delivered: id {}, {} mode, receipt verified.",
                sealed.message_id, config.mode
            ))
        }
        ServerMessage::Error { code, detail } => Err(session::refusal(code, &detail)),
        _ => bail!("unexpected answer from the server; the message may not have been delivered"),
    }
}
