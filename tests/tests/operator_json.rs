//! The operator's listings for scripts: `inbox`, `read` and `clients` with
//! `--json` write one JSON object per line; `inbox --since` and `--limit`
//! select in the store's query, so a damaged row outside the selection is
//! never read.

use std::time::Duration;

use base64ct::{Base64, Encoding};
use cloak_tests::{Keys, Server, client, delivered_id, ok_stdout, texts};
use serde_json::Value;

/// The JSON objects of a `--json` output, one per line.
fn objects(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// Sends `args`, returning the message id.
fn send(keys: &Keys, server: &Server, args: &[&str]) -> String {
    delivered_id(&ok_stdout(&client(keys.path(), server.addr, args)))
}

fn inbox(keys: &Keys, server: &Server, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["inbox", "--json"];
    all.extend(args);
    objects(&ok_stdout(&server.operator(keys.path(), &all)))
}

fn ids(objects: &[Value]) -> Vec<&str> {
    objects.iter().map(|o| o["id"].as_str().unwrap()).collect()
}

#[test]
fn inbox_read_and_clients_as_json_lines_with_since_and_limit() {
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &[]);
    let first = send(
        &keys,
        &server,
        &["--mode", "asymmetric", "send_msg", "first"],
    );
    // Times are in whole seconds: the next ones arrive in a later one.
    std::thread::sleep(Duration::from_millis(1100));
    let binary = [0xff, 0xfe, 0, b'x', 0x80];
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), binary).unwrap();
    let path = file.path().to_str().unwrap();
    let second = send(&keys, &server, &["send_msg", "--file", path]);
    let third = send(&keys, &server, &["send_msg", "thïrd\nline"]);

    let all = inbox(&keys, &server, &[]);
    assert_eq!(ids(&all), [&first, &second, &third]);
    let fingerprint = keys.pair(cloak_core::keydir::Role::Client).fingerprint();
    for (object, (mode, bytes)) in
        all.iter()
            .zip([("asymmetric", 5), ("hybrid", 5), ("hybrid", 11)])
    {
        assert_eq!(object["sender"], "client", "{object}");
        assert_eq!(object["fingerprint"], fingerprint.to_string(), "{object}");
        assert_eq!(object["mode"], mode, "{object}");
        assert_eq!(object["bytes"], bytes, "{object}");
        let received = object["received"].as_str().unwrap();
        humantime::parse_rfc3339(received).unwrap_or_else(|e| panic!("{e}: {received}"));
    }
    let since = all[1]["received"].as_str().unwrap();
    assert!(all[0]["received"].as_str().unwrap() < since);
    assert_eq!(
        ids(&inbox(&keys, &server, &["--since", since])),
        [&second, &third]
    );
    assert_eq!(
        ids(&inbox(&keys, &server, &["--limit", "2"])),
        [&first, &second]
    );
    let both = ["--since", since, "--limit", "1"];
    assert_eq!(ids(&inbox(&keys, &server, &both)), [&second]);
    let later = ["inbox", "--json", "--since", "2999-01-01T00:00:00Z"];
    assert_eq!(ok_stdout(&server.operator(keys.path(), &later)), "");
    read_and_clients(&keys, &server, (&second, &binary), &third);
}

/// `read --json` of a text and of bytes that are not UTF-8, then
/// `clients --json`.
fn read_and_clients(keys: &Keys, server: &Server, (second, binary): (&str, &[u8]), third: &str) {
    let read = |id: &str| {
        let out = ok_stdout(&server.operator(keys.path(), &["read", "--json", id]));
        let mut lines = objects(&out);
        assert_eq!(lines.len(), 1, "{out}");
        lines.remove(0)
    };
    let shown = read(third);
    assert_eq!(shown["text"], "thïrd\nline");
    assert_eq!(shown["id"], third);
    assert!(shown.get("text_base64").is_none(), "{shown}");
    let shown = read(second);
    assert!(shown.get("text").is_none(), "{shown}");
    let decoded = Base64::decode_vec(shown["text_base64"].as_str().unwrap()).unwrap();
    assert_eq!(decoded, binary);

    ok_stdout(&server.operator(keys.path(), &["post", "--to", "client", "queued"]));
    let clients = objects(&ok_stdout(
        &server.operator(keys.path(), &["clients", "--json"]),
    ));
    assert_eq!(clients.len(), 1, "{clients:?}");
    assert_eq!(clients[0]["kind"], "client");
    assert_eq!(clients[0]["name"], "client");
    assert_eq!(clients[0]["queued"], 1);
    assert_eq!(clients[0]["revoked"], false);
    server.assert_no_panic();
}

#[test]
fn since_and_limit_never_read_the_rows_they_leave_out() {
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &[]);
    let old = send(&keys, &server, &["send_msg", "old"]);
    std::thread::sleep(Duration::from_millis(1100));
    let new = send(&keys, &server, &["send_msg", "new"]);
    let newer = send(&keys, &server, &["send_msg", "newer"]);
    let all = inbox(&keys, &server, &[]);
    let since = all[1]["received"].as_str().unwrap().to_owned();
    // The oldest and the newest rows no longer decode.
    let db = rusqlite::Connection::open(server.data.join("cloakroom.db")).unwrap();
    let damaged = db
        .execute(
            "UPDATE inbound SET mode = 'garbled' WHERE id IN (?1, ?2)",
            [&old, &newer],
        )
        .unwrap();
    assert_eq!(damaged, 2);
    drop(db);
    let whole = server.operator(keys.path(), &["inbox", "--json"]);
    assert!(!whole.status.success(), "{}", texts(&whole).0);
    let args = ["--since", since.as_str(), "--limit", "1"];
    assert_eq!(ids(&inbox(&keys, &server, &args)), [&new]);
    let bad = server.operator(keys.path(), &["inbox", "--since", "yesterday"]);
    let (_, stderr) = texts(&bad);
    assert_eq!(bad.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("RFC 3339"), "{stderr}");
}
