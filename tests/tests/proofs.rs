//! The session's proofs, end to end through the real binaries: a fetch
//! proof is what keeps a mailbox from anybody but its owner, an ack proof
//! what keeps anybody else from emptying it, and the receipt MAC what lets
//! `send_msg` say a message was stored. `cloak-core`'s own tests show each
//! check refuses every changed field; these show that the programs act on
//! the answer: a refused proof delivers or removes nothing, and a receipt
//! that does not verify never ends in exit 0.
//!
//! Each refusal is set beside a control that succeeds on the same setup
//! (the real client then gets the message; a genuine ack removes it; an
//! honest receipt ends in exit 0), so a refusal can only be the check's
//! doing: had the setup been broken, the control would have failed.

use std::os::unix::process::ExitStatusExt;
use std::process::Output;
use std::thread;
use std::time::{Duration, Instant};

use cloak_core::keydir::{KeyDir, Role};
use cloak_core::session::messages::{decode_payload, encode_frame};
use cloak_core::session::proofs::{
    new_challenge, receipt_mac, sign_ack, sign_fetch, split_payload,
};
use cloak_core::session::{ClientMessage, ErrorCode, Receipt, ServerHello, ServerMessage};
use cloak_core::{FreshnessCheck, MessageId, Mode, OpenOptions, open};
use cloak_tests::{
    AnsweringServer, Keys, LibClient, Raw, Recorder, Server, client, ok_stdout, pinned_hello, texts,
};

const BITS: usize = 2048;

/// Queues `text` for the client named `client`.
fn post(server: &Server, keys: &Keys, text: &str) {
    ok_stdout(&server.operator(keys.path(), &["post", "--to", "client", text]));
}

/// How many messages wait for the client named `client`, as the operator
/// sees them.
fn queued(server: &Server, keys: &Keys) -> usize {
    let clients = ok_stdout(&server.operator(keys.path(), &["clients"]));
    clients
        .lines()
        .find(|line| line.split_whitespace().next() == Some("client"))
        .and_then(|line| line.split_whitespace().last())
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no count for `client` in:\n{clients}"))
}

/// A server answer in a few words: a delivery's envelopes are long, and
/// their number is what tells.
fn describe(answer: Option<&ServerMessage>) -> String {
    match answer {
        Some(ServerMessage::Delivery {
            envelopes,
            remaining,
        }) => format!(
            "Delivery of {} envelope(s), {remaining} more queued",
            envelopes.len()
        ),
        Some(ServerMessage::DeliveryStream { size, .. }) => {
            format!("DeliveryStream of {size} bytes")
        }
        Some(other) => format!("{other:?}"),
        None => "nothing (the connection ended)".into(),
    }
}

/// Fails the test unless `answer` is the one refusal every bad proof gets.
fn assert_rejected(what: &str, answer: Option<ServerMessage>) {
    match answer {
        Some(ServerMessage::Error {
            code: ErrorCode::Rejected,
            ..
        }) => {}
        other => panic!("{what}: answered {}", describe(other.as_ref())),
    }
}

/// What the server logs when it refuses a fetch proof for `client`.
const FETCH_REFUSED: &str = "fetch refused: proof for `client` does not verify";
/// What it logs when it refuses an ack proof by `client`.
const ACK_REFUSED: &str = "acknowledgement for `client` does not verify";

/// Waits up to 10 s for the server to have logged `needle` `count` times,
/// and fails the test if it logged it more often: one refusal each.
fn wait_logged(server: &Server, needle: &str, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.stderr().matches(needle).count() < count && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    let log = server.stderr();
    assert_eq!(log.matches(needle).count(), count, "{needle:?} in:\n{log}");
}

/// The real client's `recv_msg` gets `text`: the message survived.
fn assert_client_receives(keys: &Keys, server: &Server, text: &str) {
    let got = ok_stdout(&client(keys.path(), server.addr, &["recv_msg"]));
    assert_eq!(got.matches(text).count(), 1, "{got}");
}

// --- The fetch proof -------------------------------------------------------

/// Sends a fetch signed by `signer` that names `victim`'s fingerprint;
/// returns every answer until the server hangs up.
fn fetch_naming(signer: &LibClient, victim: &LibClient, server: &Server) -> Vec<ServerMessage> {
    let (mut raw, hello) = signer.hello(server.addr);
    let mut request = sign_fetch(&signer.me, hello.server, &hello.challenge, Mode::Hybrid)
        .expect("sign the fetch");
    request.client = victim.me.fingerprint();
    raw.send(&encode_frame(&ClientMessage::Fetch(request)));
    std::iter::from_fn(|| raw.read_server()).collect()
}

/// One refusal and nothing else: not a delivery, not a stream.
fn assert_only_rejected(what: &str, answers: Vec<ServerMessage>) {
    let described: Vec<_> = answers.iter().map(|a| describe(Some(a))).collect();
    assert_eq!(answers.len(), 1, "{what}: answered {described:?}");
    assert_rejected(what, answers.into_iter().next());
}

#[test]
fn a_stranger_fetching_in_the_clients_name_is_rejected_and_the_mailbox_kept() {
    let keys = Keys::new(BITS);
    let server = Server::start(keys.path(), &[]);
    post(&server, &keys, "for the client only");
    let victim = LibClient::new(keys.path());
    let stranger = LibClient::new(Keys::other_client(BITS).path());

    let answers = fetch_naming(&stranger, &victim, &server);
    assert_only_rejected("a stranger's fetch naming the client", answers);
    wait_logged(&server, FETCH_REFUSED, 1);
    assert_eq!(queued(&server, &keys), 1, "the mailbox is intact");
    assert_client_receives(&keys, &server, "for the client only");
}

#[test]
fn an_authorized_client_fetching_in_anothers_name_is_rejected() {
    // Not only strangers: a client the server knows must not read another
    // client's mailbox either. Its own fetch, the control, is served.
    let keys = Keys::new(BITS);
    let mallory_keys = Keys::other_client(BITS);
    keys.install(
        &mallory_keys.path().join("client_public.pem"),
        "authorized/mallory.pem",
    );
    let server = Server::start(keys.path(), &[]);
    post(&server, &keys, "not for mallory");
    let victim = LibClient::new(keys.path());
    let mallory = LibClient::new(mallory_keys.path());

    let answers = fetch_naming(&mallory, &victim, &server);
    assert_only_rejected("mallory's fetch naming the client", answers);
    wait_logged(&server, FETCH_REFUSED, 1);

    let own = ok_stdout(&client(mallory_keys.path(), server.addr, &["recv_msg"]));
    assert!(
        own.contains("This is a message from the server!") && !own.contains("not for mallory"),
        "control: mallory's own fetch is served, from its own mailbox: {own}"
    );
    assert_eq!(queued(&server, &keys), 1, "the mailbox is intact");
    assert_client_receives(&keys, &server, "not for mallory");
}

/// Replays a recorded `recv_msg` session frame by frame, each once the
/// server answered the one before, as the client did (a frame sent early
/// makes the server drop the request undecided, which would test nothing);
/// returns every answer until the server hangs up.
fn replay(addr: std::net::SocketAddr, recorded: &[u8]) -> Vec<ServerMessage> {
    let mut frames = Vec::new();
    let mut rest = recorded;
    while let Some((prefix, _)) = rest.split_first_chunk::<4>() {
        let len = 4 + u32::from_be_bytes(*prefix) as usize;
        frames.push(&rest[..len]);
        rest = &rest[len..];
    }
    let kinds: Vec<_> = frames.iter().map(|f| decode_payload(&f[4..])).collect();
    assert!(
        matches!(
            kinds.as_slice(),
            [Ok(ClientMessage::Fetch(_)), Ok(ClientMessage::Ack { .. })]
        ),
        "a fetch and its ack were recorded: {kinds:?}"
    );
    let mut raw = Raw::connect(addr);
    assert!(matches!(raw.read_server(), Some(ServerMessage::Hello(_))));
    let mut answers = Vec::new();
    for frame in frames {
        raw.send(frame);
        match raw.read_server() {
            Some(answer @ ServerMessage::Error { .. }) => {
                answers.push(answer);
                break;
            }
            Some(answer) => answers.push(answer),
            None => break,
        }
    }
    answers.extend(std::iter::from_fn(|| raw.read_server()));
    answers
}

#[test]
fn a_replayed_recv_msg_session_is_refused_and_delivers_nothing() {
    // The recorded fetch is a genuine proof by the client, but over the
    // challenge of the connection it was recorded on.
    let keys = Keys::new(BITS);
    let server = Server::start(keys.path(), &[]);
    for (round, mode) in ["hybrid", "asymmetric"].into_iter().enumerate() {
        let old = format!("already collected ({mode})");
        post(&server, &keys, &old);
        let recorder = Recorder::start(server.addr);
        let got = ok_stdout(&client(
            keys.path(),
            recorder.addr,
            &["--mode", mode, "recv_msg"],
        ));
        assert!(got.contains(&old), "{got}");
        let recorded = recorder.finish();
        assert_eq!(queued(&server, &keys), 0, "the recorded session acked");

        let new = format!("queued after the recording ({mode})");
        post(&server, &keys, &new);
        let answers = replay(server.addr, &recorded);
        assert_only_rejected(&format!("{mode} replay"), answers);
        wait_logged(&server, FETCH_REFUSED, round + 1);
        assert_eq!(queued(&server, &keys), 1, "{mode}: the mailbox is intact");
        assert_client_receives(&keys, &server, &new);
    }
}

// --- The ack proof ---------------------------------------------------------

#[test]
fn an_ack_with_a_bad_proof_leaves_the_mailbox_intact() {
    let keys = Keys::new(BITS);
    let server = Server::start(keys.path(), &[]);
    post(&server, &keys, "keep me until acknowledged");
    let me = LibClient::new(keys.path());
    let stranger = LibClient::new(Keys::other_client(BITS).path());

    // Each sends the ids really delivered on the connection, with a proof
    // that is wrong in one way: were it accepted, the message would go.
    type Forge<'a> = dyn Fn(&cloak_tests::OpenFetch, &[MessageId]) -> Vec<u8> + 'a;
    let forgeries: [(&str, &Forge<'_>); 5] = [
        ("one bit of a genuine proof flipped", &|fetch, ids| {
            let mut proof = me.ack_proof(fetch, ids);
            *proof.last_mut().unwrap() ^= 1;
            proof
        }),
        ("signed by another key", &|fetch, ids| {
            sign_ack(
                &stranger.me,
                fetch.hello.server,
                &fetch.hello.challenge,
                &fetch.request.challenge,
                ids,
            )
            .expect("sign")
        }),
        ("a genuine proof for no ids", &|fetch, _| {
            me.ack_proof(fetch, &[])
        }),
        (
            "over another server challenge (a replayed ack)",
            &|fetch, ids| {
                sign_ack(
                    &me.me,
                    fetch.hello.server,
                    &new_challenge(),
                    &fetch.request.challenge,
                    ids,
                )
                .expect("sign")
            },
        ),
        ("over another client challenge", &|fetch, ids| {
            sign_ack(
                &me.me,
                fetch.hello.server,
                &fetch.hello.challenge,
                &new_challenge(),
                ids,
            )
            .expect("sign")
        }),
    ];
    for (round, (what, forge)) in forgeries.iter().enumerate() {
        let mut fetch = me.fetch_open(server.addr, Mode::Hybrid);
        let ids = me.delivered_ids(&fetch);
        assert_eq!(ids.len(), 1, "{what}: the message was delivered");
        let proof = forge(&fetch, &ids);
        assert_rejected(what, fetch.ack(ids, proof));
        wait_logged(&server, ACK_REFUSED, round + 1);
        assert_eq!(queued(&server, &keys), 1, "{what}: the mailbox is intact");
    }

    // The control: the same exchange with a genuine proof removes it.
    assert_genuine_ack_removes(&me, &server, &keys);
}

fn assert_genuine_ack_removes(me: &LibClient, server: &Server, keys: &Keys) {
    let mut fetch = me.fetch_open(server.addr, Mode::Hybrid);
    let ids = me.delivered_ids(&fetch);
    let proof = me.ack_proof(&fetch, &ids);
    assert_eq!(
        fetch.ack(ids, proof),
        Some(ServerMessage::Acked { removed: 1 })
    );
    assert_eq!(queued(server, keys), 0, "a genuine ack removes it");
}

// --- The receipt MAC -------------------------------------------------------

/// How a fake server holding the pinned key spoils the receipt it owes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Forgery {
    /// None: the honest receipt, the control.
    Honest,
    /// One bit of the MAC flipped.
    MacBit,
    /// Another message id, with the MAC the client's own id would have.
    OtherIdSameMac,
    /// Another message id, with that id's own MAC (a receipt for another
    /// message).
    OtherIdOwnMac,
    /// The MAC of another connection (a receipt replayed from it).
    OtherChallenge,
    /// The MAC of another text.
    OtherDigest,
    /// The MAC of another server.
    OtherServer,
    /// The MAC under another receipt key.
    OtherKey,
}

/// The envelope the client's messages make, once complete: a `Send`'s,
/// or a whole stream joined.
fn sent_envelope(messages: &[ClientMessage]) -> Option<Vec<u8>> {
    match messages.last()? {
        ClientMessage::Send { envelope, .. } => Some(envelope.clone()),
        ClientMessage::End { data } => {
            let Some(ClientMessage::SendStream { head, .. }) = messages.first() else {
                panic!("a stream without a head: {messages:?}");
            };
            let chunks = messages[1..messages.len() - 1]
                .iter()
                .map(|m| match m {
                    ClientMessage::Chunk { data } => data.clone(),
                    other => panic!("not a chunk: {other:?}"),
                })
                .collect();
            Some(cloak_core::envelope::stream::join(head, chunks, data.clone()).expect("join"))
        }
        _ => None,
    }
}

/// What a server holding the pinned key would answer the client's `Send`
/// (or whole stream) over `hello`, spoiled by `forgery`; `None` until the
/// client's message is complete.
fn receipt_for(
    keys: &Keys,
    hello: ServerHello,
    forgery: Forgery,
) -> impl FnMut(&[Vec<u8>]) -> Option<Vec<u8>> + Send + 'static {
    let server = keys.pair(Role::Server);
    let client = KeyDir::new(keys.path())
        .load_peer(Role::Client)
        .expect("client key");
    move |payloads| {
        let messages: Vec<ClientMessage> = payloads
            .iter()
            .map(|p| decode_payload(p).expect("a client message"))
            .collect();
        let envelope = sent_envelope(&messages)?;
        let opened = open(
            &server,
            &client,
            &envelope,
            FreshnessCheck::Expect(&hello.challenge),
            &OpenOptions::default(),
        )
        .expect("the client's message opens, as the real server would open it");
        let (receipt_key, _) = split_payload(&opened.plaintext).expect("a receipt key");
        let mut key = *receipt_key;
        let (mut mac_id, mut server_fp, mut challenge, mut digest) = (
            opened.message_id,
            server.fingerprint(),
            hello.challenge,
            opened.plaintext_digest,
        );
        let other_id = MessageId(opened.message_id.0.map(|b| !b));
        let mut sent_id = opened.message_id;
        match forgery {
            Forgery::Honest | Forgery::MacBit => {}
            Forgery::OtherIdSameMac => sent_id = other_id,
            Forgery::OtherIdOwnMac => (sent_id, mac_id) = (other_id, other_id),
            Forgery::OtherChallenge => challenge = new_challenge(),
            Forgery::OtherDigest => digest[0] ^= 1,
            Forgery::OtherServer => server_fp = client.fingerprint(),
            Forgery::OtherKey => key[0] ^= 1,
        }
        let mut mac = receipt_mac(&key, mac_id, server_fp, &challenge, &digest);
        if forgery == Forgery::MacBit {
            mac[31] ^= 0x80;
        }
        let receipt = Receipt {
            message_id: sent_id,
            mac,
        };
        Some(encode_frame(&ServerMessage::Receipt(receipt)))
    }
}

/// Runs `send_msg` in `mode` against a fake server that answers with a
/// receipt spoiled by `forgery`.
fn send_against(keys: &Keys, mode: &str, forgery: Forgery) -> Output {
    let hello = pinned_hello(keys.path());
    let fake = AnsweringServer::start(hello.clone(), receipt_for(keys, hello, forgery));
    let text = format!("receipted? ({mode}, {forgery:?})");
    let out = client(keys.path(), fake.addr, &["--mode", mode, "send_msg", &text]);
    let sent = fake.finish();
    assert!(
        !sent.is_empty(),
        "{mode} {forgery:?}: the client sent its message"
    );
    out
}

#[test]
fn a_receipt_that_does_not_verify_fails_send_msg_with_one_error_line() {
    let keys = Keys::new(BITS);
    // Every case is run and every wrong outcome listed, so that a broken
    // check shows at once which forgeries it lets through.
    let mut wrong = Vec::new();
    for mode in ["asymmetric", "hybrid"] {
        // The control: the fake server is a faithful one until it spoils
        // the receipt, so each failure below is the receipt check's.
        let out = send_against(&keys, mode, Forgery::Honest);
        let (stdout, stderr) = texts(&out);
        assert!(out.status.success(), "{mode} control: {stdout}{stderr}");
        assert!(stdout.contains("receipt verified"), "{mode}: {stdout}");

        for forgery in [
            Forgery::MacBit,
            Forgery::OtherIdSameMac,
            Forgery::OtherIdOwnMac,
            Forgery::OtherChallenge,
            Forgery::OtherDigest,
            Forgery::OtherServer,
            Forgery::OtherKey,
        ] {
            let out = send_against(&keys, mode, forgery);
            let (stdout, stderr) = texts(&out);
            let lines: Vec<&str> = stderr.lines().collect();
            let clean = out.status.signal().is_none()
                && out.status.code() == Some(1)
                && lines.len() == 1
                && lines[0].starts_with("cloak-client: error:")
                && lines[0].contains("receipt does not verify")
                && !stdout.contains("delivered");
            if !clean {
                wrong.push(format!(
                    "{mode}, {forgery:?}: {:?}, stdout {stdout:?}, stderr {stderr:?}",
                    out.status
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "expected exit 1 with one error line saying the receipt does not verify:\n{}",
        wrong.join("\n")
    );
}
