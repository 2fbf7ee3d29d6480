//! The client against a hostile server (issue #12). `recv_msg` trusts
//! nothing but what the pinned server key signed over the challenge of its
//! own fetch; everything else in the answer is the word of whoever holds
//! the connection: a man in the middle knows the client's public key and
//! can seal anything to it, and a recording of an old session is sealed
//! and signed by the real server. So every case here must end the same
//! way: exit 1 with one `cloak-client: error:` line, never a signal,
//! nothing on stdout, no `--out` file and no temporary file beside it,
//! and, for a stream, no more read (and written to disk) than the stream
//! announced and the disk can take.
//!
//! A scripted fake server plays each attack against the real binary. Each
//! forgery is also played once honestly (the real server key, the
//! client's own challenge) and must then be accepted, so a refusal below
//! is the refusal of the one thing forged, not of a broken forgery.

use std::path::PathBuf;
use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cloak_core::envelope::stream::StreamSealer;
use cloak_core::keydir::Role;
use cloak_core::limits::{MAX_DELIVERY_ENVELOPES, STREAM_CHUNK_LEN};
use cloak_core::session::messages::encode_frame;
use cloak_core::session::{Challenge, ClientMessage, ServerMessage, proofs};
use cloak_core::{KeyPair, Mode, PublicKey, SealOptions};
use cloak_tests::{
    Answer, FakeServer, Feed, Keys, Step, Transcript, assert_clean_failure, client_with_timeout,
    pinned_hello, texts,
};

/// The test keys' size: the smallest, as nothing here depends on it.
const BITS: usize = 2048;

/// What the forged messages say: it must never reach stdout.
const FORGED_TEXT: &[u8] = b"UNVERIFIED: wire the money today";

/// What an endless stream sends at most (far more than any bound the
/// client should keep): 1024 chunks, 256 MiB.
const ENDLESS_CHUNKS: usize = 1024;

/// Bytes a fake server can get out beyond what the client read: the
/// kernel's socket buffers on both sides (up to a few tens of MiB once
/// tuned), and a frame in flight.
const SOCKET_SLACK: u64 = 64 << 20;

/// A client's key folder and the keys the fake server plays with.
struct Parties {
    keys: Keys,
    /// The client's public key, which anyone may know.
    client: PublicKey,
    /// The real server's key pair: only a replay of the real server's old
    /// answers, or an honest answer, is signed with it.
    server: Arc<KeyPair>,
    /// Someone else's key pair: a man in the middle's.
    impostor: Arc<KeyPair>,
}

impl Parties {
    fn new() -> Parties {
        let keys = Keys::new(BITS);
        Parties {
            client: keys.pair(Role::Client).public().clone(),
            server: Arc::new(keys.pair(Role::Server)),
            impostor: Arc::new(Keys::other_client(BITS).pair(Role::Client)),
            keys,
        }
    }
}

/// A challenge of another session: the one a recording was made over.
fn old_challenge() -> Challenge {
    proofs::new_challenge()
}

/// `text` sealed to `client` by `signer` over `freshness`, as one envelope.
fn envelope(signer: &KeyPair, client: &PublicKey, freshness: &[u8], text: &[u8]) -> Vec<u8> {
    cloak_core::seal(
        signer,
        client,
        Mode::Hybrid,
        freshness,
        text,
        &SealOptions::default(),
    )
    .expect("seal")
    .bytes
}

fn delivery(envelopes: Vec<Vec<u8>>) -> Vec<u8> {
    encode_frame(&ServerMessage::Delivery {
        envelopes,
        remaining: 0,
    })
}

/// `text` sealed to `client` by `signer` over `freshness` as a stream: the
/// frames a server sends (head announcing the true size, chunks, end).
fn stream_frames(
    signer: &KeyPair,
    client: &PublicKey,
    freshness: &[u8],
    text: &[u8],
) -> Vec<Vec<u8>> {
    let (mut sealer, head) =
        StreamSealer::new(signer, client, freshness, &SealOptions::default()).expect("seal");
    let head = ServerMessage::DeliveryStream {
        head,
        size: text.len() as u64,
        remaining: 0,
    };
    let mut chunks = sealer.push(text).expect("seal");
    let end = sealer.finish().expect("seal");
    chunks.extend(end.last_data);
    let chunks = chunks
        .into_iter()
        .map(|data| encode_frame(&ServerMessage::StreamChunk { data }));
    let end = ServerMessage::StreamEnd {
        data: end.final_chunk,
    };
    std::iter::once(encode_frame(&head))
        .chain(chunks)
        .chain([encode_frame(&end)])
        .collect()
}

/// [`stream_frames`], back to back.
fn stream(signer: &KeyPair, client: &PublicKey, freshness: &[u8], text: &[u8]) -> Vec<u8> {
    stream_frames(signer, client, freshness, text).concat()
}

/// A stream that never ends, as a man in the middle can send one: a valid
/// head sealed to `client` (by anyone: no signature is checked before the
/// end) announcing `size` bytes, then valid full chunks, as many as the
/// client takes, up to `ENDLESS_CHUNKS`.
fn endless_stream(impostor: Arc<KeyPair>, client: PublicKey, size: u64) -> Feed {
    Feed::spawn(move |frames| {
        let (mut sealer, head) = StreamSealer::new(
            &impostor,
            &client,
            &old_challenge(),
            &SealOptions::default(),
        )
        .expect("seal");
        let head = ServerMessage::DeliveryStream {
            head,
            size,
            remaining: 0,
        };
        if frames.send(encode_frame(&head)).is_err() {
            return;
        }
        let plaintext = vec![b'x'; STREAM_CHUNK_LEN];
        for _ in 0..ENDLESS_CHUNKS {
            for data in sealer.push(&plaintext).expect("seal") {
                let chunk = encode_frame(&ServerMessage::StreamChunk { data });
                if frames.send(chunk).is_err() {
                    return;
                }
            }
        }
    })
}

/// Where `recv_msg` puts what it receives: the terminal, or `--out FILE`
/// in a folder of its own, which must stay empty whenever it fails.
enum Sink {
    Terminal,
    File(tempfile::TempDir),
}

impl Sink {
    /// Both ways, for cases that must fail the same either way.
    fn both() -> [Sink; 2] {
        [Sink::Terminal, Sink::file()]
    }

    fn file() -> Sink {
        Sink::File(tempfile::tempdir().expect("tempdir"))
    }

    /// `FILE` (`FILE.2`... for later messages of a delivery).
    fn out_file(&self) -> Option<PathBuf> {
        match self {
            Sink::Terminal => None,
            Sink::File(dir) => Some(dir.path().join("letter.bin")),
        }
    }

    fn args(&self) -> Vec<String> {
        let mut args = vec!["recv_msg".to_owned()];
        if let Some(file) = self.out_file() {
            args.extend(["--out".to_owned(), file.to_str().unwrap().to_owned()]);
        }
        args
    }

    /// What the `--out` folder holds: nothing, after a failure; not even a
    /// temporary file.
    fn left_behind(&self) -> Vec<PathBuf> {
        match self {
            Sink::Terminal => Vec::new(),
            Sink::File(dir) => std::fs::read_dir(dir.path())
                .expect("read the --out folder")
                .map(|entry| entry.expect("entry").path())
                .collect(),
        }
    }
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Sink::Terminal => "to the terminal",
            Sink::File(_) => "into --out FILE",
        })
    }
}

/// Runs `recv_msg` into `sink` against a fake server playing `script`
/// after its hello; checks the client fetched first.
fn recv(parties: &Parties, sink: &Sink, script: Vec<Step>) -> (Output, Transcript) {
    recv_within(parties, sink, 20, script)
}

/// The same, with the client waiting at most `timeout` seconds a step.
fn recv_within(
    parties: &Parties,
    sink: &Sink,
    timeout: u64,
    script: Vec<Step>,
) -> (Output, Transcript) {
    let fake = FakeServer::start(pinned_hello(parties.keys.path()), script);
    let args = sink.args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = client_with_timeout(parties.keys.path(), fake.addr, timeout, &args);
    let transcript = fake.transcript();
    let fetched = transcript
        .received
        .first()
        .and_then(|payload| cloak_core::session::messages::decode_payload(payload).ok());
    assert!(
        matches!(fetched, Some(ClientMessage::Fetch(_))),
        "{sink:?}: the client fetched first"
    );
    (out, transcript)
}

/// A script answering the fetch with what `answer` makes of its
/// challenge.
fn answering(answer: impl Fn(&Challenge) -> Vec<u8> + Send + Sync + 'static) -> Vec<Step> {
    vec![Step::Read, Step::Answer(Answer::new(answer))]
}

/// The same, then taking the acknowledgement as the real server does, so
/// an accepted delivery ends in success.
fn answering_then_acked(
    answer: impl Fn(&Challenge) -> Vec<u8> + Send + Sync + 'static,
) -> Vec<Step> {
    let acked = encode_frame(&ServerMessage::Acked { removed: 1 });
    [answering(answer), vec![Step::Read, Step::Write(acked)]].concat()
}

/// How every case must end: exit 1 (never a signal), one error line
/// saying `reason`, nothing on stdout, nothing left beside `--out`.
fn assert_refused(what: &str, sink: &Sink, out: &Output, reason: &str) {
    let (stdout, stderr) = texts(out);
    let what = format!("{what}, {sink:?}");
    assert_clean_failure(&what, out);
    assert!(
        stderr.contains(reason),
        "{what}: refused for another reason than {reason:?}: {stderr}"
    );
    assert!(stdout.is_empty(), "{what}: shown on stdout:\n{stdout}");
    let left = sink.left_behind();
    assert!(left.is_empty(), "{what}: left beside --out: {left:?}");
}

/// How the honest control of each forgery must end: success, the text
/// shown or written whole.
fn assert_accepted(what: &str, sink: &Sink, out: &Output, text: &[u8]) {
    let (stdout, stderr) = texts(out);
    assert!(out.status.success(), "{what}, {sink:?}: {stdout}{stderr}");
    match sink.out_file() {
        None => assert!(
            stdout.contains(&cloak_core::text::quoted(text)),
            "{what}: not shown: {stdout}"
        ),
        Some(file) => assert_eq!(
            std::fs::read(&file).expect("the --out file"),
            text,
            "{what}"
        ),
    }
}

/// The client took at most `allowed` bytes of plaintext (with their
/// framing): the fake server got no more out than that and the sockets'
/// buffers.
fn assert_took_at_most(what: &str, sink: &Sink, transcript: &Transcript, allowed: u64) {
    let framing = allowed / STREAM_CHUNK_LEN as u64 * 64 + 4096;
    let bound = allowed + framing + SOCKET_SLACK;
    println!(
        "{what}, {sink:?}: {} bytes got out, {allowed} allowed",
        transcript.written
    );
    assert!(
        transcript.written < bound,
        "{what}, {sink:?}: {} bytes got out, more than the {bound} the client could have \
         taken ({allowed} of plaintext allowed)",
        transcript.written
    );
}

const INTEGRITY_FAILED: &str = "Message integrity & sender authentication failed";

// --- Deliveries: whole envelopes in one frame -------------------------

#[test]
fn a_delivery_the_real_server_signed_over_our_challenge_is_accepted() {
    let parties = Parties::new();
    for sink in Sink::both() {
        let (server, client) = (Arc::clone(&parties.server), parties.client.clone());
        let script = answering_then_acked(move |challenge| {
            delivery(vec![envelope(&server, &client, challenge, FORGED_TEXT)])
        });
        let (out, _) = recv(&parties, &sink, script);
        assert_accepted("an honest delivery", &sink, &out, FORGED_TEXT);
    }
}

#[test]
fn a_delivery_signed_by_another_key_is_refused() {
    let parties = Parties::new();
    for sink in Sink::both() {
        let (impostor, client) = (Arc::clone(&parties.impostor), parties.client.clone());
        let script = answering(move |challenge| {
            delivery(vec![envelope(&impostor, &client, challenge, FORGED_TEXT)])
        });
        let (out, _) = recv(&parties, &sink, script);
        assert_refused("another key's envelope", &sink, &out, INTEGRITY_FAILED);
    }
}

#[test]
fn a_forged_envelope_after_a_valid_one_shows_and_writes_nothing() {
    // A delivery is verified whole: one forged envelope refuses it all,
    // and the valid one before it stays queued, unwritten.
    let parties = Parties::new();
    for sink in Sink::both() {
        let (server, impostor) = (Arc::clone(&parties.server), Arc::clone(&parties.impostor));
        let client = parties.client.clone();
        let script = answering(move |challenge| {
            delivery(vec![
                envelope(&server, &client, challenge, b"a valid message"),
                envelope(&impostor, &client, challenge, FORGED_TEXT),
            ])
        });
        let (out, _) = recv(&parties, &sink, script);
        assert_refused("a forgery after a valid one", &sink, &out, INTEGRITY_FAILED);
    }
}

#[test]
fn a_delivery_replayed_from_an_old_session_is_refused() {
    // Sealed and signed by the real server key, as a recording is, but
    // over the challenge of the session it was recorded in.
    let parties = Parties::new();
    for sink in Sink::both() {
        let old = envelope(
            &parties.server,
            &parties.client,
            &old_challenge(),
            FORGED_TEXT,
        );
        let (out, _) = recv(
            &parties,
            &sink,
            vec![Step::Read, Step::Write(delivery(vec![old]))],
        );
        assert_refused("a replayed delivery", &sink, &out, INTEGRITY_FAILED);
    }
}

/// `count` envelopes the real server sealed to the client over the
/// challenge of its fetch, each one valid.
fn valid_envelopes(parties: &Parties, count: usize) -> impl Fn(&Challenge) -> Vec<u8> + use<> {
    let (server, client) = (Arc::clone(&parties.server), parties.client.clone());
    move |challenge| {
        let text = |i: usize| format!("message {i} of {count}");
        delivery(
            (1..=count)
                .map(|i| envelope(&server, &client, challenge, text(i).as_bytes()))
                .collect(),
        )
    }
}

#[test]
fn a_delivery_of_64_valid_envelopes_is_accepted() {
    let parties = Parties::new();
    let count = MAX_DELIVERY_ENVELOPES;
    let script = answering_then_acked(valid_envelopes(&parties, count));
    let (out, _) = recv(&parties, &Sink::Terminal, script);
    let last = format!("message {count} of {count}");
    assert_accepted("64 envelopes", &Sink::Terminal, &out, last.as_bytes());
}

#[test]
fn a_delivery_of_65_valid_envelopes_is_refused() {
    let parties = Parties::new();
    let count = MAX_DELIVERY_ENVELOPES + 1;
    for sink in Sink::both() {
        let script = answering(valid_envelopes(&parties, count));
        let (out, _) = recv(&parties, &sink, script);
        assert_refused("65 envelopes", &sink, &out, "more than the limit of 64");
    }
}

// --- Delivery streams: one message in chunks --------------------------

/// A text of three chunks, the last one short, under the terminal's
/// limit of 1 MiB.
fn stream_text() -> Vec<u8> {
    b"streamed line\n"
        .iter()
        .copied()
        .cycle()
        .take(2 * STREAM_CHUNK_LEN + 1000)
        .collect()
}

#[test]
fn a_stream_the_real_server_signed_over_our_challenge_is_accepted() {
    let parties = Parties::new();
    for sink in Sink::both() {
        let (server, client) = (Arc::clone(&parties.server), parties.client.clone());
        let script = answering_then_acked(move |challenge| {
            stream(&server, &client, challenge, &stream_text())
        });
        let (out, _) = recv(&parties, &sink, script);
        assert_accepted("an honest stream", &sink, &out, &stream_text());
    }
}

#[test]
fn a_stream_whose_final_chunk_is_signed_by_another_key_writes_nothing() {
    let parties = Parties::new();
    for sink in Sink::both() {
        let (impostor, client) = (Arc::clone(&parties.impostor), parties.client.clone());
        let script =
            answering(move |challenge| stream(&impostor, &client, challenge, &stream_text()));
        let (out, _) = recv(&parties, &sink, script);
        assert_refused("another key's stream", &sink, &out, INTEGRITY_FAILED);
    }
}

#[test]
fn a_stream_replayed_from_an_old_session_writes_nothing() {
    let parties = Parties::new();
    for sink in Sink::both() {
        let old = stream(
            &parties.server,
            &parties.client,
            &old_challenge(),
            &stream_text(),
        );
        let (out, _) = recv(&parties, &sink, vec![Step::Read, Step::Write(old)]);
        assert_refused("a replayed stream", &sink, &out, INTEGRITY_FAILED);
    }
}

#[test]
fn a_stream_that_never_ends_is_cut_off_at_its_announced_size() {
    // 1 MiB announced (within the terminal's limit too), 256 MiB sent:
    // the client takes no chunk beyond what was announced.
    let parties = Parties::new();
    let announced = 4 * STREAM_CHUNK_LEN as u64;
    for sink in Sink::both() {
        let feed = endless_stream(
            Arc::clone(&parties.impostor),
            parties.client.clone(),
            announced,
        );
        let (out, transcript) = recv(&parties, &sink, vec![Step::Read, Step::Feed(feed)]);
        assert_refused(
            "an endless stream",
            &sink,
            &out,
            "more than the 1048576 bytes",
        );
        assert_took_at_most("an endless stream", &sink, &transcript, announced);
    }
}

#[test]
fn a_stream_announcing_more_than_fits_is_refused_before_any_chunk() {
    // An endless stream that announces as much as it likes: the terminal
    // takes 1 MiB at most, a file at most what the disk has free, and a
    // size beyond that is refused before a byte is written.
    let parties = Parties::new();
    for (sink, reason) in [
        (Sink::Terminal, "recv_msg --out FILE"),
        (Sink::file(), "free"),
    ] {
        let feed = endless_stream(
            Arc::clone(&parties.impostor),
            parties.client.clone(),
            u64::MAX,
        );
        let (out, transcript) = recv(&parties, &sink, vec![Step::Read, Step::Feed(feed)]);
        assert_refused("a stream of 2^64 - 1 bytes", &sink, &out, reason);
        assert_took_at_most("a stream of 2^64 - 1 bytes", &sink, &transcript, 0);
    }
}

// --- A server that stalls or hangs up ---------------------------------

/// The client's timeout in the stall tests: short, so they are quick.
const STALL_TIMEOUT: u64 = 2;

/// The start of a stream, cut in its second chunk's frame: the client has
/// a temporary file under way.
fn stream_cut(parties: &Parties) -> Vec<u8> {
    let frames = stream_frames(
        &parties.impostor,
        &parties.client,
        &old_challenge(),
        &stream_text(),
    );
    let (head, first, second) = (&frames[0], &frames[1], &frames[2]);
    [head, first, &second[..second.len() / 2]].concat()
}

#[test]
fn a_server_that_goes_quiet_is_given_up_within_the_timeout() {
    let parties = Parties::new();
    let cases = [
        ("quiet after its hello", Sink::Terminal, vec![Step::Silence]),
        (
            "quiet in the middle of a stream",
            Sink::file(),
            vec![Step::Read, Step::Write(stream_cut(&parties)), Step::Silence],
        ),
    ];
    for (what, sink, script) in cases {
        let start = Instant::now();
        let (out, _) = recv_within(&parties, &sink, STALL_TIMEOUT, script);
        let took = start.elapsed();
        assert_refused(what, &sink, &out, "did not respond within 2s");
        let timeout = Duration::from_secs(STALL_TIMEOUT);
        assert!(
            took >= timeout && took < timeout + Duration::from_secs(8),
            "{what}: gave up after {took:?}, with a timeout of {timeout:?}"
        );
    }
}

#[test]
fn a_server_that_closes_mid_frame_is_refused() {
    let parties = Parties::new();
    // A delivery's frame cut short, and a stream cut in a chunk's frame.
    let delivery = delivery(vec![envelope(
        &parties.server,
        &parties.client,
        &old_challenge(),
        FORGED_TEXT,
    )]);
    let cut = delivery[..delivery.len() / 2].to_vec();
    let cases = [
        ("a delivery cut short", cut),
        ("a stream cut in a chunk", stream_cut(&parties)),
    ];
    for (what, bytes) in cases {
        for sink in Sink::both() {
            let script = vec![Step::Read, Step::Write(bytes.clone())];
            let (out, _) = recv(&parties, &sink, script);
            assert_refused(what, &sink, &out, "closed the connection mid-frame");
        }
    }
}
