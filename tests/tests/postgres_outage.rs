//! The database goes away under a running server, and comes back. While
//! it is down a send fails on the client with an error and no receipt
//! (nothing was stored, so none may be claimed), and the server stays up,
//! saying why in its log; once PostgreSQL is back, the same server process
//! stores again within seconds, with no restart, and what it stored before
//! the outage is still there. This test stops the binary's shared cluster,
//! so it has a test binary of its own.

use std::thread;
use std::time::{Duration, Instant};

use cloak_tests::{Keys, Server, client, delivered_id, ok_stdout, operator_command, texts};

/// Sends `text` through `server`: the client's stdout on success, its
/// stderr on failure.
fn send(keys: &Keys, server: &Server, text: &str) -> Result<String, String> {
    let out = client(keys.path(), server.addr, &["send_msg", text]);
    let (stdout, stderr) = texts(&out);
    if out.status.success() {
        Ok(stdout)
    } else {
        assert!(!stdout.contains("receipt verified"), "{stdout}");
        Err(stderr)
    }
}

/// Sends `text` until it is receipted, for up to `limit`; the id, and how
/// long it took.
fn send_until_stored(
    keys: &Keys,
    server: &Server,
    text: &str,
    limit: Duration,
) -> (String, Duration) {
    let started = Instant::now();
    loop {
        match send(keys, server, text) {
            Ok(stdout) => return (delivered_id(&stdout), started.elapsed()),
            Err(stderr) => assert!(
                started.elapsed() < limit,
                "still failing after {limit:?}: {stderr}\nserver log:\n{}",
                server.stderr()
            ),
        }
        thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn a_server_rides_out_a_database_outage_without_a_restart() {
    let pg = cloak_pgtest::cluster_or_skip!();
    let url = pg.fresh_database();
    let keys = Keys::new(2048);
    let env = [("PGPASSFILE", pg.passfile())];
    let mut server = Server::start_with_env(keys.path(), &env, &["--store", &url]);
    let before = delivered_id(&ok_stdout(&client(
        keys.path(),
        server.addr,
        &["send_msg", "before the outage"],
    )));

    pg.stop();
    let refused = send(&keys, &server, "during the outage").expect_err("no receipt while down");
    assert!(refused.starts_with("cloak-client: error:"), "{refused}");
    assert!(server.is_running(), "the server stays up");
    let log = server.wait_stderr("could not store message");
    assert!(log.contains("message store"), "a reason logged:\n{log}");

    pg.start();
    let (after, took) =
        send_until_stored(&keys, &server, "after the outage", Duration::from_secs(20));
    eprintln!("stored again {took:?} after the database came back");
    assert!(server.is_running());

    let data = tempfile::tempdir().unwrap();
    let inbox = operator_command(keys.path(), data.path(), &["inbox", "--store", &url])
        .env("PGPASSFILE", pg.passfile())
        .env_remove("PGPASSWORD")
        .output()
        .unwrap();
    let inbox = ok_stdout(&inbox);
    assert!(inbox.contains(&before), "{inbox}");
    assert!(inbox.contains(&after), "{inbox}");
    assert_eq!(
        pg.psql(&url, "SELECT count(*) FROM inbound;").trim(),
        "2",
        "nothing of the refused message: {inbox}"
    );
}
