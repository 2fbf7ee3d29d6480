//! Several server instances on one PostgreSQL store, end to end: the real
//! binaries over loopback TCP, each test on a database of its own in one
//! throwaway cluster. What the shared store promises only shows across
//! processes: any instance serves what another stored; an instance killed
//! mid-stream loses nothing it receipted and leaves nothing behind once an
//! instance starts again; two instances draining one mailbox lose nothing;
//! streams of hundreds of megabytes go through rows and come back
//! identical; a store that cannot be used is refused at start in one line;
//! `migrate` moves a data folder whole; and a retry landing on another
//! instance is stored once. Without the PostgreSQL server binaries the
//! tests skip (see `cloak-pgtest`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use cloak_core::MessageId;
use cloak_pgtest::PgCluster;
use cloak_tests::{
    Keys, LibClient, Server, bin, client, delivered_id, ok_stdout, operator_command, piped_send,
    texts,
};
use serde_json::Value;

/// The keys every test of this binary shares (none changes them).
fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys::new(2048))
}

/// One test's database in the shared cluster, and what runs on it.
struct Store {
    pg: &'static PgCluster,
    url: String,
    /// Where files are written; also the (unused) `--data` of operator
    /// commands, which with `--store` never open it.
    work: tempfile::TempDir,
}

impl Store {
    fn fresh(pg: &'static PgCluster) -> Store {
        Store {
            pg,
            url: pg.fresh_database(),
            work: tempfile::tempdir().unwrap(),
        }
    }

    /// A path in the test's folder.
    fn file(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    /// A server instance on this store, on a port of its own.
    fn server(&self) -> Server {
        Server::start_with_env(
            keys().path(),
            &[("PGPASSFILE", self.pg.passfile())],
            &["--store", &self.url],
        )
    }

    /// An operator command on this store.
    fn operator(&self, args: &[&str]) -> Command {
        let mut command = operator_command(keys().path(), &self.file("data"), args);
        command
            .args(["--store", &self.url])
            .env("PGPASSFILE", self.pg.passfile())
            .env_remove("PGPASSWORD");
        command
    }

    /// Runs an operator command that must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        ok_stdout(&self.operator(args).stdin(Stdio::null()).output().unwrap())
    }

    /// One number a query returns.
    fn number(&self, sql: &str) -> i64 {
        let out = self.pg.psql(&self.url, sql);
        out.trim()
            .parse()
            .unwrap_or_else(|e| panic!("{e}: {sql} gave {out:?}"))
    }

    /// The ids `inbox --json` lists, in its order.
    fn inbox_ids(&self) -> Vec<String> {
        objects(&self.ok(&["inbox", "--json"]))
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The text of a received message, read back with `read --json`.
    fn read_text(&self, id: &str) -> String {
        let [object] = objects(&self.ok(&["read", id, "--json"]))
            .try_into()
            .unwrap();
        object["text"].as_str().unwrap().to_owned()
    }

    /// The digest of a received message, read back with `read --out`
    /// (the file is removed again).
    fn read_digest(&self, id: &str) -> blake3::Hash {
        let out = self.file(&format!("read-{id}"));
        let shown = self.ok(&["read", id, "--out", out.to_str().unwrap()]);
        assert!(
            shown.contains("Message integrity & sender authentication passed."),
            "{shown}"
        );
        let digest = file_digest(&out);
        std::fs::remove_file(&out).unwrap();
        digest
    }

    /// Queues the file `input` for the client with `post --to client -`.
    fn post_file(&self, input: &Path) -> String {
        let posted = self
            .operator(&["post", "--to", "client", "-"])
            .stdin(std::fs::File::open(input).unwrap())
            .output()
            .unwrap();
        ok_stdout(&posted)
    }

    /// Messages queued for the client, as `clients --json` counts them.
    fn queued(&self) -> u64 {
        objects(&self.ok(&["clients", "--json"]))
            .iter()
            .find(|o| o["kind"] == "client" && o["name"] == "client")
            .and_then(|o| o["queued"].as_u64())
            .expect("the client listed")
    }

    /// Chunk rows of the streams being written, per owning instance.
    fn writing(&self) -> Vec<(i64, i64)> {
        let rows = self.pg.psql(
            &self.url,
            "SELECT s.owner, count(*) FROM streams s JOIN stream_chunks c ON c.stream = s.id
             WHERE s.owner IS NOT NULL GROUP BY s.owner ORDER BY s.owner;",
        );
        rows.lines()
            .map(|row| {
                let (owner, count) = row.split_once('|').unwrap();
                (owner.parse().unwrap(), count.parse().unwrap())
            })
            .collect()
    }

    /// Nothing half-written left, and the size limit's books balance: the
    /// room in use is exactly what the messages take, and every stream is
    /// a message's.
    fn assert_settled(&self) {
        let owned = self.number("SELECT count(*) FROM streams WHERE owner IS NOT NULL;");
        assert_eq!(owned, 0, "no stream is being written any more");
        let used = self.number("SELECT COALESCE(sum(used), 0) FROM room;");
        let held = self.number("SELECT COALESCE(sum(bytes), 0) FROM inbound;")
            + self.number("SELECT COALESCE(sum(bytes), 0) FROM outbound;");
        assert_eq!(used, held, "room in use = the messages' bytes");
        let streams = self.number("SELECT count(*) FROM streams;");
        let named = self.number("SELECT count(*) FROM inbound WHERE stream IS NOT NULL;")
            + self.number("SELECT count(*) FROM outbound WHERE stream IS NOT NULL;");
        assert_eq!(streams, named, "every stream left is a message's");
    }
}

/// The JSON objects of a `--json` output, one per line.
fn objects(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// Bytes of a pattern seeded by `seed`, `len` of them, so that any damage
/// or mix-up shows in a digest.
struct Pattern {
    state: u64,
}

impl Pattern {
    fn new(seed: u64) -> Pattern {
        Pattern {
            state: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
        }
    }

    fn fill(&mut self, block: &mut [u8]) {
        for word in block.chunks_mut(8) {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            word.copy_from_slice(&self.state.to_le_bytes()[..word.len()]);
        }
    }
}

/// Writes `len` bytes of the pattern `seed` to `path` a mebibyte at a
/// time; returns their digest.
fn write_pattern(path: &Path, len: usize, seed: u64) -> blake3::Hash {
    let mut file = std::fs::File::create(path).unwrap();
    let mut pattern = Pattern::new(seed);
    let mut hasher = blake3::Hasher::new();
    let mut block = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(block.len());
        pattern.fill(&mut block[..n]);
        hasher.update(&block[..n]);
        file.write_all(&block[..n]).unwrap();
        left -= n;
    }
    hasher.finalize()
}

/// The digest of a file, read a mebibyte at a time.
fn file_digest(path: &Path) -> blake3::Hash {
    let mut hasher = blake3::Hasher::new();
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    hasher.update_reader(file).unwrap();
    hasher.finalize()
}

/// Waits up to `limit` for `done`, failing the test with `what`.
fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// A `cloak-client send_msg -` reading the message from a pipe the test
/// feeds, so the test decides how far the stream has got; killed on drop.
struct PipedSend {
    child: Option<Child>,
    pattern: Pattern,
    hasher: blake3::Hasher,
}

impl PipedSend {
    fn start(addr: std::net::SocketAddr, seed: u64) -> PipedSend {
        PipedSend {
            child: Some(piped_send(keys().path(), addr)),
            pattern: Pattern::new(seed),
            hasher: blake3::Hasher::new(),
        }
    }

    /// Writes `mib` more mebibytes of the pattern; whether the client took
    /// them all (it stops reading once its connection is gone).
    fn feed(&mut self, mib: usize) -> bool {
        let stdin = self.child.as_mut().unwrap().stdin.as_mut().unwrap();
        let mut block = vec![0u8; 1 << 20];
        for _ in 0..mib {
            self.pattern.fill(&mut block);
            if stdin.write_all(&block).is_err() {
                return false;
            }
            self.hasher.update(&block);
        }
        true
    }

    /// Ends the message and waits for the client: its output, and the
    /// digest of what was fed.
    fn finish(mut self) -> (Output, blake3::Hash) {
        let mut child = self.child.take().unwrap();
        drop(child.stdin.take());
        (child.wait_with_output().unwrap(), self.hasher.finalize())
    }
}

impl Drop for PipedSend {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Sends `text` in `mode` through `server`; the receipted id.
fn send_text(server: &Server, mode: &str, text: &str) -> String {
    let stdout = ok_stdout(&client(
        keys().path(),
        server.addr,
        &["--mode", mode, "send_msg", text],
    ));
    assert!(stdout.contains("receipt verified"), "{stdout}");
    delivered_id(&stdout)
}

/// Sends the file `input` (as a stream) through `server`; the receipted id.
fn send_file(server: &Server, input: &Path) -> String {
    let stdout = ok_stdout(&client(
        keys().path(),
        server.addr,
        &["send_msg", "--file", input.to_str().unwrap()],
    ));
    assert!(stdout.contains("receipt verified"), "{stdout}");
    delivered_id(&stdout)
}

#[test]
fn two_instances_serve_one_store_in_both_modes() {
    let pg = cloak_pgtest::cluster_or_skip!();
    let store = Store::fresh(pg);
    let servers = [store.server(), store.server()];
    let mut sent = Vec::new();
    for n in 0..20 {
        let via = n % 2;
        let mode = if n / 2 % 2 == 0 {
            "asymmetric"
        } else {
            "hybrid"
        };
        let text = format!("message {n:02}, {mode}, through instance {via}");
        let id = send_text(&servers[via], mode, &text);
        sent.push((id, via, mode, text));
    }
    for (id, via, _, _) in &sent {
        servers[*via].wait_stdout(&format!("Stored as {id}."));
        assert!(
            !servers[1 - via].stdout().contains(id.as_str()),
            "{id} went to instance {via} only"
        );
    }
    let listed = objects(&store.ok(&["inbox", "--json"]));
    assert_eq!(listed.len(), 20, "{listed:?}");
    for (id, _, mode, text) in &sent {
        let found: Vec<&Value> = listed.iter().filter(|o| o["id"] == id.as_str()).collect();
        assert_eq!(found.len(), 1, "{id} listed once: {listed:?}");
        assert_eq!(found[0]["mode"], *mode, "{id}");
        assert_eq!(store.read_text(id), *text, "{id} reads back");
    }
    store.assert_settled();
}

/// Waits until an instance other than those in `known` has written at
/// least `rows` rows of a stream; returns its owner key.
fn new_writer(store: &Store, known: &[i64], rows: i64) -> i64 {
    let mut found = None;
    wait_until(
        "a stream's rows in the store",
        Duration::from_secs(20),
        || {
            found = store
                .writing()
                .into_iter()
                .find(|(owner, count)| !known.contains(owner) && *count >= rows)
                .map(|(owner, _)| owner);
            found.is_some()
        },
    );
    found.unwrap()
}

/// Whether PostgreSQL still holds the liveness lock of instance `owner`.
fn lock_held(store: &Store, owner: i64) -> bool {
    let sql = format!(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = {owner} \
         AND objsubid = 2 AND granted;"
    );
    store.number(&sql) > 0
}

/// What a test sent, to read back: a text, or a stream's digest.
enum Sent {
    Text(&'static str),
    Stream(blake3::Hash),
}

/// Two texts and a 3 MiB stream sent through `server`, by id.
fn send_some(store: &Store, server: &Server) -> Vec<(String, Sent)> {
    let mut sent = Vec::new();
    for (mode, text) in [
        ("asymmetric", "sent early, one"),
        ("hybrid", "sent early, two"),
    ] {
        sent.push((send_text(server, mode, text), Sent::Text(text)));
    }
    let input = store.file("early.bin");
    let digest = write_pattern(&input, 3 << 20, 1);
    sent.push((send_file(server, &input), Sent::Stream(digest)));
    sent
}

/// Each message of `sent` reads back through the store as it was sent.
fn assert_reads_back(store: &Store, sent: &[(String, Sent)]) {
    for (id, what) in sent {
        match what {
            Sent::Text(text) => assert_eq!(store.read_text(id), *text, "{id}"),
            Sent::Stream(digest) => assert_eq!(store.read_digest(id), *digest, "{id}"),
        }
    }
}

#[test]
fn an_instance_killed_mid_stream_loses_nothing_receipted_and_its_upload_is_swept() {
    let pg = cloak_pgtest::cluster_or_skip!();
    let store = Store::fresh(pg);
    let (a, b) = (store.server(), store.server());
    let sent = send_some(&store, &a);

    // B is writing a stream of its own all along; then A starts one.
    let mut to_b = PipedSend::start(b.addr, 2);
    assert!(to_b.feed(4));
    let owner_b = new_writer(&store, &[], 4);
    let mut to_a = PipedSend::start(a.addr, 3);
    assert!(to_a.feed(4));
    let owner_a = new_writer(&store, &[owner_b], 4);
    a.kill9();
    // The rest of a 64 MiB message, as far as the client takes it.
    to_a.feed(56);
    let (cut, _) = to_a.finish();
    let (stdout, stderr) = texts(&cut);
    assert_eq!(cut.status.code(), Some(1), "{stdout}{stderr}");
    assert!(!stdout.contains("receipt verified"), "{stdout}");

    assert_reads_back(&store, &sent);
    assert_eq!(store.inbox_ids().len(), 3, "nothing of the cut stream");
    let _a = restart_sweeps(&store, owner_a, owner_b);
    b_finishes_its_stream(&store, &b, to_b);
    store.assert_settled();
}

/// Starts A again once PostgreSQL has let go of dead A's liveness lock:
/// A's upload, still there until then, is swept as A starts; B's is left
/// alone. Returns the new A.
fn restart_sweeps(store: &Store, owner_a: i64, owner_b: i64) -> Server {
    wait_until(
        "the dead instance's lock released",
        Duration::from_secs(10),
        || !lock_held(store, owner_a),
    );
    let rows = |owner: i64| {
        let writing = store.writing();
        writing.iter().find(|w| w.0 == owner).map_or(0, |w| w.1)
    };
    assert!(
        rows(owner_a) > 0,
        "A's upload is there until A starts again"
    );
    let b_rows = rows(owner_b);
    let a = store.server();
    assert_eq!(rows(owner_a), 0, "A's upload swept as A started");
    assert!(rows(owner_b) >= b_rows, "B's upload kept");
    a
}

/// B's stream, fed to its end, is receipted and reads back identical.
fn b_finishes_its_stream(store: &Store, b: &Server, mut to_b: PipedSend) {
    assert!(to_b.feed(12));
    let (sent, digest) = to_b.finish();
    let id = delivered_id(&ok_stdout(&sent));
    b.wait_stdout(&format!("Stored as {id}."));
    assert_eq!(store.read_digest(&id), digest, "B's stream whole");
    assert_eq!(store.inbox_ids().len(), 4);
}

/// Runs `recv_msg` through `addr` in the background.
fn receive_in_background(addr: std::net::SocketAddr) -> Child {
    Command::new(bin("cloak-client"))
        .arg("--keys")
        .arg(keys().path())
        .args(["--addr", &addr.to_string(), "--timeout", "20", "recv_msg"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cloak-client")
}

#[test]
fn two_instances_fetching_one_mailbox_at_once_lose_nothing() {
    let pg = cloak_pgtest::cluster_or_skip!();
    let store = Store::fresh(pg);
    let (a, b) = (store.server(), store.server());
    for round in 0..3 {
        let marks: Vec<String> = (0..10)
            .map(|n| format!("round {round}, queued message {n:02}"))
            .collect();
        for mark in &marks {
            store.ok(&["post", "--to", "client", mark]);
        }
        assert_eq!(store.queued(), 10);
        let fetching = [receive_in_background(a.addr), receive_in_background(b.addr)];
        let outputs = fetching.map(|child| child.wait_with_output().unwrap());
        let printed: String = outputs.iter().map(ok_stdout).collect();
        for mark in &marks {
            assert!(printed.contains(mark.as_str()), "{mark} lost:\n{printed}");
        }
        assert_eq!(store.queued(), 0, "round {round}: the mailbox drained");
    }
    store.assert_settled();
}

#[test]
fn hundreds_of_megabytes_go_through_rows_and_come_back_identical() {
    let pg = cloak_pgtest::cluster_or_skip!();
    let store = Store::fresh(pg);
    let (a, b) = (store.server(), store.server());
    let input = store.file("in.bin");
    let digest = write_pattern(&input, 256 << 20, 4);
    let started = Instant::now();
    let id = send_file(&a, &input);
    let sent = started.elapsed();
    std::fs::remove_file(&input).unwrap();
    let started = Instant::now();
    assert_eq!(store.read_digest(&id), digest, "256 MiB read back");
    let read = started.elapsed();

    let posted = store.file("post.bin");
    let posted_digest = write_pattern(&posted, 64 << 20, 5);
    let started = Instant::now();
    store.post_file(&posted);
    std::fs::remove_file(&posted).unwrap();
    let out = store.file("got.bin");
    let got = ok_stdout(&client(
        keys().path(),
        b.addr,
        &["recv_msg", "--out", out.to_str().unwrap()],
    ));
    assert!(
        got.contains(&format!("[{} bytes written to", 64 << 20)),
        "{got}"
    );
    assert_eq!(file_digest(&out), posted_digest, "64 MiB delivered");
    assert_eq!(store.queued(), 0);
    store.assert_settled();
    eprintln!(
        "256 MiB sent in {sent:?}, read back in {read:?}; 64 MiB posted and received in {:?}",
        started.elapsed()
    );
}

/// Runs `cloak-server` with `args` (serving, or a command) and the
/// environment variables `vars` (no other `PG*` password settings), and
/// waits up to 30 s for it to exit: its exit code, stderr, and how long it
/// took.
fn refused(args: &[&str], vars: &[(&str, &str)]) -> (Option<i32>, String, Duration) {
    let data = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut child = Command::new(bin("cloak-server"))
        .arg("--keys")
        .arg(keys().path())
        .arg("--data")
        .arg(data.path().join("data"))
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .env_remove("PGPASSFILE")
        .env_remove("PGPASSWORD")
        .envs(vars.iter().copied())
        .env_remove("CLOAK_LOG")
        .env_remove("CLOAK_STORE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cloak-server");
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("still running after 30 s: {}", texts(&out).1);
        }
        thread::sleep(Duration::from_millis(20));
    }
    let elapsed = started.elapsed();
    let out = child.wait_with_output().unwrap();
    (out.status.code(), texts(&out).1, elapsed)
}

/// A refusal: exit code 1 and one line on stderr, which contains `needles`.
fn assert_one_line(
    what: &str,
    (code, stderr, _): &(Option<i32>, String, Duration),
    needles: &[&str],
) {
    assert_eq!(*code, Some(1), "{what}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{what}: one line:\n{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "{what}: no {needle:?} in {stderr}");
    }
}

#[test]
fn a_database_out_of_reach_is_refused_at_start_in_one_line_saying_why() {
    let pg = cloak_pgtest::cluster_or_skip!();
    let passfile = [("PGPASSFILE", pg.passfile().to_str().unwrap())];
    let closed = "postgres://cloak@127.0.0.1:1/x";
    for args in [&["--store", closed][..], &["inbox", "--store", closed]] {
        let outcome = refused(args, &passfile);
        let why = ["127.0.0.1:1/x", "Connection refused"];
        assert_one_line("a closed port", &outcome, &why);
        assert!(outcome.2 < Duration::from_secs(15), "{:?}", outcome.2);
    }
    let store = Store::fresh(pg);
    let wrong = [("PGPASSWORD", "not the password")];
    for args in [
        &["--store", &store.url][..],
        &["inbox", "--store", &store.url],
    ] {
        let outcome = refused(args, &wrong);
        let why = [store.url.as_str(), "password authentication failed"];
        assert_one_line("a wrong password", &outcome, &why);
    }
}

#[test]
fn a_password_in_the_url_or_a_newer_schema_is_refused_in_one_line() {
    let pg = cloak_pgtest::cluster_or_skip!();
    let passfile = [("PGPASSFILE", pg.passfile().to_str().unwrap())];
    let store = Store::fresh(pg);
    let with_password = store.url.replacen("cloak@", "cloak:hunter2@", 1);
    let outcome = refused(&["--store", &with_password], &passfile);
    let pointer = ["PGPASSWORD", "PGPASSFILE"];
    assert_one_line("a password in the URL", &outcome, &pointer);
    assert!(!outcome.1.contains("hunter2"), "{}", outcome.1);

    // A store from a later version: refused, and left as it was.
    store.ok(&["inbox"]);
    store
        .pg
        .psql(&store.url, "UPDATE cloak_schema SET version = 99;");
    for args in [
        &["--store", &store.url][..],
        &["inbox", "--store", &store.url],
    ] {
        let outcome = refused(args, &passfile);
        let why = [store.url.as_str(), "schema version 99", "upgrade"];
        assert_one_line("a newer schema", &outcome, &why);
    }
    assert_eq!(store.number("SELECT version FROM cloak_schema;"), 99);
}

/// A data folder (the embedded SQLite store) and what it holds.
struct Embedded {
    data: tempfile::TempDir,
    /// Received texts, by id.
    texts: Vec<(String, String)>,
    /// A received stream's id and digest.
    stream: (String, blake3::Hash),
    /// The digest of a stream queued for the client (after a queued text).
    queued_stream: blake3::Hash,
}

/// A server on a data folder of its own, given two texts and a stream,
/// with a text and a stream queued for the client; then stopped.
fn embedded_store(store: &Store) -> Embedded {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_with_data(keys().path(), data.path(), &[]);
    let texts = ["asymmetric", "hybrid"]
        .map(|mode| {
            let text = format!("kept in SQLite, {mode}");
            (send_text(&server, mode, &text), text)
        })
        .to_vec();
    let input = store.file("embedded.bin");
    let digest = write_pattern(&input, 5 << 20, 6);
    let stream = (send_file(&server, &input), digest);
    ok_stdout(&server.operator(
        keys().path(),
        &["post", "--to", "client", "queued in SQLite"],
    ));
    let queued = store.file("queued.bin");
    let queued_stream = write_pattern(&queued, 2 << 20, 7);
    let posted = operator_command(keys().path(), data.path(), &["post", "--to", "client", "-"])
        .stdin(std::fs::File::open(&queued).unwrap())
        .output()
        .unwrap();
    ok_stdout(&posted);
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    Embedded {
        data,
        texts,
        stream,
        queued_stream,
    }
}

#[test]
fn migrate_moves_a_data_folder_whole_and_only_into_an_empty_store() {
    let pg = cloak_pgtest::cluster_or_skip!();
    let store = Store::fresh(pg);
    let old = embedded_store(&store);
    let from = old.data.path().to_str().unwrap();
    let migrate = || {
        operator_command(
            keys().path(),
            &store.file("data"),
            &["migrate", "--from-data", from, "--to", &store.url],
        )
        .env("PGPASSFILE", pg.passfile())
        .env_remove("PGPASSWORD")
        .output()
        .unwrap()
    };
    let moved = ok_stdout(&migrate());
    assert!(
        moved.contains("Moved 3 received and 2 queued message(s), 2 of them streams"),
        "{moved}"
    );

    let server = store.server();
    let mut listed = store.inbox_ids();
    listed.sort();
    let mut expected: Vec<String> = old.texts.iter().map(|(id, _)| id.clone()).collect();
    expected.push(old.stream.0.clone());
    expected.sort();
    assert_eq!(listed, expected);
    for (id, text) in &old.texts {
        assert_eq!(store.read_text(id), *text);
    }
    assert_eq!(store.read_digest(&old.stream.0), old.stream.1);

    let first = ok_stdout(&client(keys().path(), server.addr, &["recv_msg"]));
    assert!(first.contains("queued in SQLite"), "{first}");
    let out = store.file("delivered.bin");
    let out_arg = out.to_str().unwrap();
    ok_stdout(&client(
        keys().path(),
        server.addr,
        &["recv_msg", "--out", out_arg],
    ));
    assert_eq!(file_digest(&out), old.queued_stream);
    assert_eq!(store.queued(), 0);
    store.assert_settled();

    let again = migrate();
    let (stdout, stderr) = texts(&again);
    assert_eq!(again.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("already holds 3 received"), "{stderr}");
    assert_eq!(store.inbox_ids().len(), 3, "nothing added");
}

#[test]
fn a_retry_landing_on_another_instance_is_stored_once() {
    let pg = cloak_pgtest::cluster_or_skip!();
    let store = Store::fresh(pg);
    let (a, b) = (store.server(), store.server());
    let lib = LibClient::new(keys().path());
    let id = MessageId([0x7a; 16]);
    assert!(lib.send(a.addr, b"sent twice", id), "first attempt, to A");
    a.wait_stdout(&format!("Stored as {id}."));
    assert!(lib.send(b.addr, b"sent twice", id), "the retry, to B");
    b.wait_stdout("the client retried");
    assert!(
        !lib.send(b.addr, b"another text", id),
        "another text, same id"
    );
    b.wait_stdout("another message from this sender is already stored");

    assert_eq!(store.inbox_ids(), [id.to_string()]);
    assert_eq!(store.read_text(&id.to_string()), "sent twice");
    assert_eq!(store.number("SELECT count(*) FROM inbound;"), 1);
    store.assert_settled();
}

/// A client that gives up mid-stream costs the server nothing but the
/// stream: the server stays up (its abandoned stream's rows are deleted
/// from an async task's drop, which must not run the blocking client
/// there), the rows and their room are given back, and it goes on storing.
#[test]
fn an_upload_abandoned_mid_stream_leaves_the_server_up_and_nothing_behind() {
    let pg = cloak_pgtest::cluster_or_skip!();
    let store = Store::fresh(pg);
    let mut server = store.server();
    for round in 0..3 {
        let mut upload = PipedSend::start(server.addr, round);
        assert!(upload.feed(3));
        wait_until("rows of the upload", Duration::from_secs(20), || {
            !store.writing().is_empty()
        });
        drop(upload);
        server.wait_stderr_count("stream abandoned", round as usize + 1);
    }
    assert!(server.is_running(), "{}", server.stderr());
    let id = send_text(&server, "hybrid", "still storing");
    assert_eq!(store.read_text(&id), "still storing");
    wait_until(
        "the abandoned rows deleted",
        Duration::from_secs(20),
        || store.number("SELECT count(*) FROM streams WHERE owner IS NOT NULL;") == 0,
    );
    store.assert_settled();
    server.assert_no_panic();
}
