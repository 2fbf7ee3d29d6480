//! `recv_msg`: prove we hold our key, send our own challenge, and accept
//! only envelopes sealed to us, signed by the pinned server key over that
//! challenge.

use anyhow::{Context, bail};
use cloak_core::keydir::Role;
use cloak_core::limits::MAX_DELIVERY_ENVELOPES;
use cloak_core::session::proofs;
use cloak_core::session::{ClientMessage, ServerMessage};
use cloak_core::{FreshnessCheck, OpenOptions, text};

use crate::session::{self, ClientConfig};

/// Fetches and verifies our messages; returns the text to print.
pub(crate) async fn recv(config: &ClientConfig) -> anyhow::Result<String> {
    let me = config.keys.load_own(Role::Client)?;
    let server = config.keys.load_peer(Role::Server)?;
    let (mut conn, hello) = session::open(config, &server).await?;

    let request = proofs::sign_fetch(&me, hello.server, &hello.challenge, config.mode)?;
    let challenge = request.challenge;
    conn.write_message(&ClientMessage::Fetch(request))
        .await
        .context("sending the request")?;
    let envelopes = match conn
        .expect_message::<ServerMessage>()
        .await
        .context("no answer from the server")?
    {
        ServerMessage::Delivery { envelopes } => envelopes,
        ServerMessage::Error { code, detail } => return Err(session::refusal(code, &detail)),
        _ => bail!("unexpected answer from the server"),
    };
    if envelopes.len() > MAX_DELIVERY_ENVELOPES {
        bail!(
            "the server sent {} messages, more than the limit of {MAX_DELIVERY_ENVELOPES}",
            envelopes.len()
        );
    }
    let options = OpenOptions {
        only_mode: Some(config.mode),
        ..OpenOptions::default()
    };
    let mut out = String::new();
    for envelope in &envelopes {
        let Ok(decrypted) = cloak_core::decrypt(&me, envelope, &options) else {
            bail!(
                "Message confidentiality failed: a message from the server does not decrypt with our key"
            );
        };
        out.push_str("Message confidentiality passed.\n");
        let Ok(opened) = decrypted.verify(&server, FreshnessCheck::Expect(&challenge)) else {
            bail!(
                "Message integrity & sender authentication failed: a message is not signed by the pinned server key for this session"
            );
        };
        out.push_str("Message integrity & sender authentication passed.\n");
        out.push_str(&format!(
            "Message from server ({}, {} mode, id {}):\n{}\n",
            opened.sender,
            opened.mode,
            opened.message_id,
            text::printable(&opened.plaintext)
        ));
    }
    Ok(out)
}
