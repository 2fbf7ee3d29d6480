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

/// Fetches and verifies our messages, prints them, and acknowledges them.
pub(crate) async fn recv(config: &ClientConfig) -> anyhow::Result<()> {
    let me = config.keys.load_own(Role::Client)?;
    let server = config.keys.load_peer(Role::Server)?;
    let (mut conn, hello) = session::open(config, &server).await?;

    let request = proofs::sign_fetch(&me, hello.server, &hello.challenge, config.mode)?;
    let challenge = request.challenge;
    conn.write_message(&ClientMessage::Fetch(request))
        .await
        .context("sending the request")?;
    let (envelopes, remaining) = match conn
        .expect_message::<ServerMessage>()
        .await
        .context("no answer from the server")?
    {
        ServerMessage::Delivery {
            envelopes,
            remaining,
        } => (envelopes, remaining),
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
    let mut ids = Vec::with_capacity(envelopes.len());
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
        ids.push(opened.message_id);
        out.push_str(&format!(
            "Message from server ({}, {} mode, id {}):\n{}\n",
            opened.sender,
            opened.mode,
            opened.message_id,
            text::printable(&opened.plaintext)
        ));
    }
    if remaining > 0 {
        out.push_str(&format!(
            "{remaining} more message(s) waiting: run recv_msg again.\n"
        ));
    }
    // Every message verified: show them, then let the server drop them.
    // If we die before the acknowledgement lands, they come again.
    print!("{out}");
    acknowledge(&mut conn, &me, &hello, &challenge, &ids).await
}

/// Sends a signed acknowledgement of `ids` and waits for the answer. Every
/// delivery is acknowledged, even the greeting (which removes nothing), so
/// the exchange is the same whatever was queued.
async fn acknowledge(
    conn: &mut cloak_core::session::Connection,
    me: &cloak_core::KeyPair,
    hello: &cloak_core::session::ServerHello,
    challenge: &cloak_core::session::Challenge,
    ids: &[cloak_core::MessageId],
) -> anyhow::Result<()> {
    let proof = proofs::sign_ack(me, hello.server, &hello.challenge, challenge, ids)?;
    let ack = ClientMessage::Ack {
        ids: ids.to_vec(),
        proof,
    };
    let unacknowledged =
        "the messages were shown but not acknowledged: they will be delivered again";
    conn.write_message(&ack).await.context(unacknowledged)?;
    match conn.read_message::<ServerMessage>().await {
        Ok(Some(ServerMessage::Acked { .. })) => Ok(()),
        Ok(None) => bail!("the server closed the connection; {unacknowledged}"),
        Ok(Some(ServerMessage::Error { code, detail })) => {
            Err(session::refusal(code, &detail).context(unacknowledged))
        }
        Ok(Some(_)) => bail!("unexpected answer to the acknowledgement; {unacknowledged}"),
        Err(e) => Err(anyhow::anyhow!(e).context(unacknowledged)),
    }
}
