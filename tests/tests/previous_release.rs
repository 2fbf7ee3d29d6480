//! A data folder written by the release before the sender proof
//! (protocol version 1, `tests/fixtures/store-v1`, made by
//! `scripts/make-store-fixture.sh`) opens with this one: every stored
//! message reads back and verifies at rest, and the queued one is
//! delivered. The protocol changed on the wire only; this keeps the
//! envelopes at rest readable.

use cloak_tests::{Keys, Server, client, fixture, ok_stdout, texts};

/// The fixture's data folder, copied where the server may write.
fn old_store() -> tempfile::TempDir {
    let data = tempfile::tempdir().unwrap();
    let from = fixture("store-v1");
    std::fs::copy(from.join("cloakroom.db"), data.path().join("cloakroom.db")).unwrap();
    std::fs::create_dir(data.path().join("messages")).unwrap();
    for entry in std::fs::read_dir(from.join("messages")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(
            entry.path(),
            data.path().join("messages").join(entry.file_name()),
        )
        .unwrap();
    }
    data
}

/// The python-keys fixture the store was written with.
fn old_keys() -> Keys {
    let keys = Keys::empty();
    for name in [
        "server_private.pem",
        "server_public.pem",
        "client_private.pem",
        "client_public.pem",
    ] {
        keys.install(&fixture(&format!("python-keys/{name}")), name);
    }
    keys
}

#[test]
fn messages_stored_by_protocol_version_1_read_back_and_the_queued_one_is_delivered() {
    let keys = old_keys();
    let data = old_store();
    let server = Server::start_with_data(keys.path(), data.path(), &[]);

    let inbox = ok_stdout(&server.operator(keys.path(), &["inbox"]));
    let ids: Vec<&str> = inbox
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert_eq!(ids.len(), 3, "{inbox}");
    let mut read = String::new();
    for id in ids {
        let out = server.operator(keys.path(), &["read", id]);
        assert!(out.status.success(), "{id}: {}", texts(&out).1);
        read.push_str(&texts(&out).0);
    }
    for text in [
        "an asymmetric message stored by protocol version 1",
        "a hybrid message stored by protocol version 1",
        "a long message stored by protocol version 1\na long message",
    ] {
        // Shown quoted, each line behind the margin.
        let text = cloak_core::text::quoted(text.as_bytes());
        assert!(read.contains(&text), "{text:?} not read back:\n{read}");
    }
    assert_eq!(
        read.matches("integrity & sender authentication passed")
            .count(),
        3
    );

    let received = ok_stdout(&client(keys.path(), server.addr, &["recv_msg"]));
    assert!(
        received.contains("queued by protocol version 1"),
        "{received}"
    );
    // And the new protocol goes on on the same store.
    let out = client(
        keys.path(),
        server.addr,
        &["send_msg", "stored by version 2"],
    );
    assert!(out.status.success(), "{}", texts(&out).1);
    assert_eq!(
        ok_stdout(&server.operator(keys.path(), &["inbox"]))
            .lines()
            .count(),
        5
    );
}
