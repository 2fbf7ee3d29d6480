//! The known-answer vectors of `tests/testdata/testkit/` (their format is
//! in that folder's README), checked through cloak-core's public API only,
//! as another implementation would check them: every file must give its
//! verdict, the stated plaintext and claims or a failure at the stated
//! phase.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use cloak_core::envelope::stream::StreamOpener;
use cloak_core::limits::{DEFAULT_MAX_ASYMMETRIC_PLAINTEXT, MAX_CLIENT_FRAME_LEN};
use cloak_core::session::messages::decode_payload;
use cloak_core::session::{ClientMessage, frame, sender_proof};
use cloak_core::{FreshnessCheck, KeyPair, OpenOptions, decrypt};

/// Every case the folder must hold, so that deleting a file fails a test.
const REQUIRED: &[&str] = &[
    // Valid, in each mode and each form.
    "envelope_asymmetric",
    "envelope_hybrid",
    "envelope_hybrid_empty",
    "envelope_hybrid_archived",
    "stream_hybrid",
    "session_send_asymmetric",
    "session_send_stream",
    "session_send_lenient_varint",
    // Flipped tag (or byte, where there is no tag).
    "fail_envelope_hybrid_flipped_tag",
    "fail_envelope_asymmetric_flipped_byte",
    "fail_stream_flipped_tag",
    "fail_session_flipped_proof_tag",
    // Wrong recipient.
    "fail_envelope_wrong_recipient",
    "fail_session_wrong_server",
    // Non-canonical varint.
    "fail_envelope_noncanonical_varint",
    "fail_stream_noncanonical_varint",
    // Header/body mode mismatch.
    "fail_envelope_mode_mismatch",
    // Missing final chunk, two final chunks, a chunk after the final one.
    "fail_envelope_missing_final_chunk",
    "fail_stream_missing_final_chunk",
    "fail_envelope_two_final_chunks",
    "fail_envelope_chunk_after_final",
    // Block count over the limit; a count far beyond the bytes present.
    "fail_envelope_too_many_blocks",
    "fail_envelope_declared_count",
    // Trailing bytes, wrong label, stale freshness, old protocol version.
    "fail_envelope_trailing_bytes",
    "fail_envelope_wrong_signature_label",
    "fail_envelope_stale_freshness",
    "fail_session_stale_challenge",
    "fail_session_old_version",
];

fn folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/testkit")
}

/// A parsed vector file.
struct Vector {
    name: String,
    fields: Vec<(String, String)>,
    sections: Vec<(String, Vec<u8>)>,
}

fn unhex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd hex: {text}");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

impl Vector {
    fn load(name: &str) -> Self {
        let text = std::fs::read_to_string(folder().join(name)).unwrap();
        let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
        let fields = (head.lines())
            .filter(|line| !line.starts_with('#'))
            .map(|line| line.split_once(": ").expect("key: value"))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let mut sections: Vec<(String, Vec<u8>)> = Vec::new();
        for line in body.lines().filter(|line| !line.is_empty()) {
            match line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                Some(section) => sections.push((section.to_owned(), Vec::new())),
                None => sections
                    .last_mut()
                    .expect("a section")
                    .1
                    .extend(unhex(line)),
            }
        }
        Vector {
            name: name.to_owned(),
            fields,
            sections,
        }
    }

    fn get(&self, key: &str) -> Option<&str> {
        (self.fields.iter())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn field(&self, key: &str) -> &str {
        self.get(key)
            .unwrap_or_else(|| panic!("{}: no field {key}", self.name))
    }

    fn key(&self, role: &str) -> KeyPair {
        let path = folder().join(self.field(role));
        KeyPair::from_pem(&std::fs::read_to_string(&path).unwrap(), &path).unwrap()
    }

    /// The payload: every section but the expected plaintext, in order.
    fn payload(&self) -> Vec<(&str, &[u8])> {
        (self.sections.iter())
            .filter(|(name, _)| name != "plaintext")
            .map(|(name, bytes)| (name.as_str(), bytes.as_slice()))
            .collect()
    }

    fn options(&self) -> OpenOptions {
        OpenOptions {
            only_mode: self.get("only_mode").map(|m| m.parse().unwrap()),
            max_asymmetric_plaintext: self
                .get("max_asymmetric_plaintext")
                .map_or(DEFAULT_MAX_ASYMMETRIC_PLAINTEXT, |n| n.parse().unwrap()),
        }
    }
}

/// What opening gave: the claims, the mode and the plaintext.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    mode: String,
    claimed_sender: String,
    message_id: String,
    timestamp: u64,
    freshness: Vec<u8>,
    plaintext: Vec<u8>,
}

/// The outcome, or the phase that refused.
type Verdict = Result<Outcome, &'static str>;

fn open_envelope(
    recipient: &KeyPair,
    sender: &KeyPair,
    bytes: &[u8],
    freshness: FreshnessCheck<'_>,
    options: &OpenOptions,
) -> Verdict {
    let decrypted = decrypt(recipient, bytes, options).map_err(|_| "decrypt")?;
    let opened = (decrypted.verify(sender.public(), freshness)).map_err(|_| "verify")?;
    Ok(Outcome {
        mode: opened.mode.to_string(),
        claimed_sender: opened.sender.to_string(),
        message_id: opened.message_id.to_string(),
        timestamp: opened.timestamp,
        freshness: opened.freshness,
        plaintext: opened.plaintext,
    })
}

/// Feeds data chunks, then the final chunk, as a streaming receiver does.
fn read_stream(
    mut opener: StreamOpener,
    pieces: &[(&str, &[u8])],
    sender: &KeyPair,
    freshness: FreshnessCheck<'_>,
) -> Verdict {
    let Some((("final", last), chunks)) = pieces.split_last() else {
        panic!("a stream ends with its final chunk");
    };
    let mut plaintext = Vec::new();
    for (role, data) in chunks {
        assert_eq!(*role, "chunk", "only data chunks before the final one");
        plaintext.extend_from_slice(opener.chunk(data).map_err(|_| "chunk")?);
    }
    let decrypted = opener.finish(last).map_err(|_| "final")?;
    let opened = (decrypted.verify(sender.public(), freshness)).map_err(|_| "verify")?;
    assert_eq!(opened.len, plaintext.len() as u64);
    Ok(Outcome {
        mode: "hybrid".to_owned(),
        claimed_sender: opened.sender.to_string(),
        message_id: opened.message_id.to_string(),
        timestamp: opened.timestamp,
        freshness: opened.freshness,
        plaintext,
    })
}

fn read_frame(bytes: &[u8]) -> Result<ClientMessage, &'static str> {
    match frame::parse(bytes, MAX_CLIENT_FRAME_LEN) {
        Ok(Some(len)) if len == bytes.len() => {}
        _ => return Err("frame"),
    }
    decode_payload(&bytes[frame::HEADER_LEN..]).map_err(|_| "frame")
}

/// The server's side of a send: the sender proof in the first frame, then
/// the message sealed to the server over the challenge of its hello.
fn open_session(
    server: &KeyPair,
    sender: &KeyPair,
    challenge: &[u8; 32],
    frames: &[&[u8]],
) -> Verdict {
    let (first, rest) = frames.split_first().expect("a first frame");
    let options = OpenOptions::default();
    let freshness = FreshnessCheck::Expect(challenge);
    match read_frame(first)? {
        ClientMessage::Send {
            wrapped_key,
            proof,
            envelope,
        } => {
            assert!(rest.is_empty(), "an asymmetric send is one frame");
            let claim =
                sender_proof::claim_envelope(server, challenge, &wrapped_key, &proof, &envelope);
            claim
                .verify(Some(sender.public()))
                .then_some(())
                .ok_or("proof")?;
            open_envelope(server, sender, &envelope, freshness, &options)
        }
        ClientMessage::SendStream { head, proof } => {
            let opener = StreamOpener::new(server, &head, &options).map_err(|_| "head")?;
            let claim = sender_proof::claim_stream(server, &opener, challenge, &head, &proof);
            claim
                .verify(Some(sender.public()))
                .then_some(())
                .ok_or("proof")?;
            let messages = rest
                .iter()
                .map(|f| read_frame(f))
                .collect::<Result<Vec<_>, _>>()?;
            let pieces: Vec<(&str, &[u8])> = (messages.iter())
                .map(|message| match message {
                    ClientMessage::Chunk { data } => ("chunk", data.as_slice()),
                    ClientMessage::End { data } => ("final", data.as_slice()),
                    other => panic!("not a stream frame: {other:?}"),
                })
                .collect();
            read_stream(opener, &pieces, sender, freshness)
        }
        other => panic!("not the first frame of a send: {other:?}"),
    }
}

fn run(vector: &Vector) -> Verdict {
    let (sender, recipient) = (vector.key("sender"), vector.key("recipient"));
    let expected = vector
        .get("expect_freshness")
        .map(|f| (f != "archived").then(|| unhex(f)));
    let freshness = match &expected {
        Some(Some(value)) => FreshnessCheck::Expect(value),
        _ => FreshnessCheck::Archived,
    };
    let payload = vector.payload();
    match vector.field("kind") {
        "envelope" => {
            let [("envelope", bytes)] = &payload[..] else {
                panic!("one envelope")
            };
            open_envelope(&recipient, &sender, bytes, freshness, &vector.options())
        }
        "stream" => {
            let [("head", head), pieces @ ..] = &payload[..] else {
                panic!("a head first")
            };
            let opener =
                StreamOpener::new(&recipient, head, &vector.options()).map_err(|_| "head")?;
            read_stream(opener, pieces, &sender, freshness)
        }
        "session" => {
            let challenge: [u8; 32] = unhex(vector.field("challenge")).try_into().unwrap();
            let frames: Vec<&[u8]> = payload.iter().map(|(_, bytes)| *bytes).collect();
            open_session(&recipient, &sender, &challenge, &frames)
        }
        kind => panic!("unknown kind {kind}"),
    }
}

/// The outcome a valid vector states.
fn stated(vector: &Vector) -> Outcome {
    Outcome {
        mode: vector.field("mode").to_owned(),
        claimed_sender: vector.field("claimed_sender").to_owned(),
        message_id: vector.field("message_id").to_owned(),
        timestamp: vector.field("timestamp").parse().unwrap(),
        freshness: unhex(vector.field("freshness")),
        plaintext: (vector.sections.iter())
            .find(|(name, _)| name == "plaintext")
            .expect("a valid vector states its plaintext")
            .1
            .clone(),
    }
}

/// `None` when the vector gives its verdict, otherwise what went wrong.
fn check(vector: &Vector) -> Option<String> {
    match (vector.field("expect"), run(vector)) {
        ("ok", Ok(outcome)) => {
            let stated = stated(vector);
            (outcome != stated).then(|| format!("opened to {outcome:?}, not {stated:?}"))
        }
        (expect, Err(phase)) if expect == phase => None,
        (expect, Err(phase)) => Some(format!("refused at {phase}, not {expect}")),
        (expect, Ok(_)) => Some(format!("opened, but should fail at {expect}")),
    }
}

/// The vector files: everything but the README and the keys.
fn vector_names() -> BTreeSet<String> {
    std::fs::read_dir(folder())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != "README.md" && !name.ends_with(".pem"))
        .collect()
}

#[test]
fn every_vector_gives_its_verdict() {
    let names = vector_names();
    assert!(names.len() >= REQUIRED.len(), "{} vectors", names.len());
    let wrong: Vec<String> = (names.iter())
        .filter_map(|name| check(&Vector::load(name)).map(|why| format!("{name}: {why}")))
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_folder_holds_every_case_and_names_failures_fail_() {
    let names = vector_names();
    let missing: Vec<&&str> = REQUIRED
        .iter()
        .filter(|name| !names.contains(**name))
        .collect();
    assert!(missing.is_empty(), "missing vectors: {missing:?}");
    for name in &names {
        let expect = Vector::load(name).field("expect").to_owned();
        assert_eq!(
            name.starts_with("fail_"),
            expect != "ok",
            "{name} (expect: {expect}): a name starts with fail_ exactly when it must fail"
        );
    }
}
