//! `recv_msg`: prove we hold our key, send our own challenge, and accept
//! only envelopes sealed to us, signed by the pinned server key over that
//! challenge.

use std::path::Path;

use anyhow::{Context, bail};
use cloak_core::keydir::Role;
use cloak_core::limits::MAX_DELIVERY_ENVELOPES;
use cloak_core::session::proofs;
use cloak_core::session::{ClientMessage, ServerMessage};
use cloak_core::verdict::{CONFIDENTIALITY_PASSED, INTEGRITY_PASSED};
use cloak_core::{FreshnessCheck, OpenOptions, Opened, text};

use cloak_cli::sink::write_file;

use crate::output::{MAX_TERMINAL_MESSAGE, out_path, undecryptable, unsigned};
use crate::session::{self, ClientConfig};

/// Fetches and verifies our messages, shows them (or writes them to `out`),
/// and acknowledges them.
pub(crate) async fn recv(config: &ClientConfig, out_file: Option<&Path>) -> anyhow::Result<()> {
    let me = cloak_cli::load_own_key(&config.keys, Role::Client)?;
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
        ServerMessage::DeliveryStream {
            head,
            size,
            remaining,
        } => {
            let id = crate::recv_stream::receive(
                &mut conn, &me, &server, &challenge, &head, size, out_file,
            )
            .await?;
            if remaining > 0 {
                println!("{remaining} more message(s) waiting: run recv_msg again.");
            }
            return acknowledge(&mut conn, &me, &hello, &challenge, &[id]).await;
        }
        ServerMessage::Error { code, detail } => return Err(session::refusal(code, &detail)),
        _ => bail!("unexpected answer from the server"),
    };
    if envelopes.len() > MAX_DELIVERY_ENVELOPES {
        bail!(
            "the server sent {} messages, more than the limit of {MAX_DELIVERY_ENVELOPES}",
            envelopes.len()
        );
    }
    // Every message verified before any is shown or written: one forged
    // envelope leaves nothing behind, not even the valid ones before it
    // (which stay queued, as nothing is acknowledged).
    let opened = open_all(&me, &server, &challenge, config.mode, &envelopes)?;
    drop(envelopes);
    let mut out = present(&opened, out_file)?;
    let ids: Vec<_> = opened.iter().map(|o| o.message_id).collect();
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

/// Opens every envelope of a delivery: each must decrypt with our key and
/// be signed by the pinned server key over our challenge.
fn open_all(
    me: &cloak_core::KeyPair,
    server: &cloak_core::PublicKey,
    challenge: &cloak_core::session::Challenge,
    mode: cloak_core::Mode,
    envelopes: &[Vec<u8>],
) -> anyhow::Result<Vec<Opened>> {
    let options = OpenOptions {
        only_mode: Some(mode),
        ..OpenOptions::default()
    };
    envelopes
        .iter()
        .map(|envelope| {
            let Ok(decrypted) = cloak_core::decrypt(me, envelope, &options) else {
                return Err(undecryptable());
            };
            let Ok(opened) = decrypted.verify(server, FreshnessCheck::Expect(challenge)) else {
                return Err(unsigned());
            };
            Ok(opened)
        })
        .collect()
}

/// What to show for verified messages, writing each to its file under
/// `out_file` if given.
fn present(opened: &[Opened], out_file: Option<&Path>) -> anyhow::Result<String> {
    let mut out = String::new();
    for (index, opened) in opened.iter().enumerate() {
        out.push_str(&format!("{CONFIDENTIALITY_PASSED}\n{INTEGRITY_PASSED}\n"));
        out.push_str(&format!(
            "Message from server ({}, {} mode, id {}):\n",
            opened.sender, opened.mode, opened.message_id,
        ));
        match out_file {
            Some(file) => {
                let path = out_path(file, index);
                write_file(&path, &opened.plaintext)?;
                out.push_str(&format!(
                    "[{} bytes written to {}]\n",
                    opened.plaintext.len(),
                    path.display()
                ));
            }
            // Not acknowledged, so it stays queued for a run with --out.
            None if opened.plaintext.len() > MAX_TERMINAL_MESSAGE => bail!(
                "message {} is {} bytes: receive it into a file with `recv_msg --out FILE`",
                opened.message_id,
                opened.plaintext.len()
            ),
            None => {
                out.push_str(&text::quoted(&opened.plaintext));
                out.push('\n');
            }
        }
    }
    Ok(out)
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
