//! The PostgreSQL store's own behaviour on a real, throwaway cluster:
//! what the contract suite cannot see from one store alone (two instances
//! racing, a dead instance's streams, the schema version, the URL checks).

use cloak_core::{Fingerprint, MessageId, Mode};
use cloak_pgtest::PgCluster;

use super::PgStore;
use crate::store::contract::{Fixture, contract_tests};
use crate::store::{Content, Inbound, Insert, Limits, MessageStore, StoreError};

/// A database of its own on the throwaway cluster: every open is another
/// instance on it (as the server opens it, sweeping dead instances'
/// streams), which is what a restart is too.
struct PgFixture {
    cluster: &'static PgCluster,
    url: String,
}

impl PgFixture {
    fn new() -> Option<Self> {
        let cluster = PgCluster::shared()?;
        Some(PgFixture {
            cluster,
            url: cluster.fresh_database(),
        })
    }
}

impl Fixture for PgFixture {
    fn open(&self, limits: Limits) -> Box<dyn MessageStore> {
        Box::new(open(self.cluster, &self.url, limits, true))
    }

    fn open_beside(&self, limits: Limits) -> Box<dyn MessageStore> {
        Box::new(open(self.cluster, &self.url, limits, false))
    }
}

contract_tests!(PgFixture::new());

fn open(pg: &PgCluster, url: &str, limits: Limits, as_server: bool) -> PgStore {
    PgStore::open_with_password(url, pg.password(), limits, as_server).unwrap()
}

fn inbound(sender: u8, id: u8, bytes: usize) -> Inbound {
    Inbound {
        message_id: MessageId([id; 16]),
        sender: Fingerprint([sender; 32]),
        sender_name: format!("c{sender}"),
        received_at: 1,
        mode: Mode::Hybrid,
        size: 5,
        text_digest: Some([id; 32]),
        content: Content::Envelope(vec![0xee; bytes]),
    }
}

#[test]
fn a_stream_round_trips_and_a_duplicate_from_another_instance_is_discarded() {
    let pg = cloak_pgtest::cluster_or_skip!();
    let url = pg.fresh_database();
    let one = open(pg, &url, Limits::default(), true);
    let two = open(pg, &url, Limits::default(), true);
    let frames: Vec<Vec<u8>> = (0..40u32)
        .map(|i| vec![i as u8; 100_000 + i as usize])
        .collect();
    let write = |store: &PgStore| {
        let mut sink = store.begin_stream().unwrap();
        for frame in &frames {
            sink.write_frame(frame).unwrap();
        }
        sink.commit().unwrap()
    };
    let mut message = inbound(1, 1, 0);
    message.content = Content::Stream(write(&one));
    assert_eq!(one.store_inbound(&message).unwrap(), Insert::Stored);
    let mut retry = message.clone();
    let lost = write(&two);
    retry.content = Content::Stream(lost.clone());
    assert_eq!(two.store_inbound(&retry).unwrap(), Insert::Duplicate);
    assert!(matches!(
        two.open_stream(&lost),
        Err(StoreError::NotFound(_))
    ));

    let found = two.find_inbound("0101").unwrap();
    let Content::Stream(stream) = found.content else {
        panic!("a stream")
    };
    let mut reader = two.open_stream(&stream).unwrap();
    for frame in &frames {
        assert_eq!(&reader.next_frame().unwrap().unwrap(), frame);
    }
    assert!(reader.next_frame().unwrap().is_none());
    let in_flight = pg.psql(&url, "SELECT count(*) FROM streams WHERE owner IS NOT NULL");
    assert_eq!(in_flight.trim(), "0");
}

#[test]
fn the_size_limit_holds_across_instances() {
    let pg = cloak_pgtest::cluster_or_skip!();
    let url = pg.fresh_database();
    let limits = Limits {
        max_bytes: 10_000,
        ..Limits::default()
    };
    let stores: Vec<PgStore> = (0..2).map(|_| open(pg, &url, limits, true)).collect();
    let stored = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for (n, store) in stores.iter().enumerate() {
            let stored = &stored;
            scope.spawn(move || {
                for id in 0..60u8 {
                    match store.store_inbound(&inbound(n as u8, id, 300)) {
                        Ok(Insert::Stored) => {
                            stored.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        Err(StoreError::Full { .. }) => {}
                        other => panic!("{other:?}"),
                    }
                }
            });
        }
    });
    assert_eq!(
        stored.into_inner(),
        33,
        "exactly what fits: 33 × 300 ≤ 10,000"
    );
    assert_eq!(stores[0].usage().unwrap().used_bytes, 9_900);
}

#[test]
fn a_dead_instances_streams_are_swept_and_a_live_ones_kept() {
    let pg = cloak_pgtest::cluster_or_skip!();
    let url = pg.fresh_database();
    let live = open(pg, &url, Limits::default(), true);
    let mut writing = live.begin_stream().unwrap();
    writing.write_frame(&[1; 300_000]).unwrap();
    // What a killed instance leaves: a stream whose owner's liveness lock
    // nobody holds, with its chunks and its room.
    pg.psql(
        &url,
        "INSERT INTO streams (owner) VALUES (424242);
         INSERT INTO stream_chunks SELECT id, 0, '\\x00' FROM streams WHERE owner = 424242;
         UPDATE room SET used = used + 1000 WHERE shard = 3;
         INSERT INTO stream_room SELECT id, 3, 1000 FROM streams WHERE owner = 424242;",
    );
    let owners = |pg: &PgCluster| {
        pg.psql(
            &url,
            "SELECT count(DISTINCT owner) FROM streams WHERE owner IS NOT NULL",
        )
    };
    assert_eq!(owners(pg).trim(), "2");
    let _restarted = open(pg, &url, Limits::default(), true);
    assert_eq!(owners(pg).trim(), "1", "the dead one's stream is gone");
    writing.write_frame(&[3; 10]).unwrap();
    let kept = writing.commit().unwrap();
    assert!(live.open_stream(&kept).is_ok());
    let usage = live.usage().unwrap();
    assert_eq!(usage.reserved_bytes, 300_004 + 14);
    assert_eq!(usage.used_bytes, 0, "the dead stream's room is given back");
}

#[test]
fn a_newer_schema_is_refused_and_a_password_in_the_url_too() {
    let pg = cloak_pgtest::cluster_or_skip!();
    let url = pg.fresh_database();
    drop(open(pg, &url, Limits::default(), true));
    pg.psql(&url, "UPDATE cloak_schema SET version = 99");
    let refused = PgStore::open_with_password(&url, pg.password(), Limits::default(), true);
    let Err(StoreError::Unfit(why)) = refused else {
        panic!("refused")
    };
    assert!(why.contains("schema version 99"), "{why}");

    let with_password = url.replacen("cloak@", "cloak:secret@", 1);
    let Err(StoreError::Unfit(why)) = PgStore::open(&with_password, Limits::default(), 2, false)
    else {
        panic!("refused")
    };
    assert!(why.contains("PGPASSWORD"), "{why}");
}

/// Runs openssl with `args` in `dir`.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`NAME-ca.pem`) and, signed by it, a server certificate for the IP
/// address 127.0.0.1 only (`NAME-server.pem`, `NAME-server.key`).
fn certificates(dir: &std::path::Path, name: &str) {
    let (ca, ca_key) = (format!("{name}-ca.pem"), format!("{name}-ca.key"));
    let (cert, key, csr) = (
        format!("{name}-server.pem"),
        format!("{name}-server.key"),
        format!("{name}.csr"),
    );
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    let ca_args = [
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
    ];
    openssl(
        dir,
        &[
            &ca_args[..],
            &["-keyout", &ca_key, "-out", &ca, "-subj", "/CN=ca"],
        ]
        .concat(),
    );
    let req = [
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
    ];
    openssl(dir, &[&req[..], &["-keyout", &key, "-out", &csr]].concat());
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            &cert,
        ],
    );
}

/// Gives the cluster `NAME-server.pem` and its key, and turns TLS on.
fn serve_tls(pg: &PgCluster, dir: &std::path::Path, name: &str) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let data = std::path::PathBuf::from(pg.psql("postgres", "SHOW data_directory").trim());
    let owner = std::fs::metadata(&data).unwrap();
    for file in [format!("{name}-server.pem"), format!("{name}-server.key")] {
        let target = data.join(&file);
        std::fs::copy(dir.join(&file), &target).unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::chown(&target, Some(owner.uid()), Some(owner.gid())).unwrap();
    }
    pg.psql(
        "postgres",
        &format!(
            "ALTER SYSTEM SET ssl_cert_file = '{name}-server.pem';
             ALTER SYSTEM SET ssl_key_file = '{name}-server.key';
             ALTER SYSTEM SET ssl = on;
             SELECT pg_reload_conf();"
        ),
    );
    for _ in 0..100 {
        if pg.psql("postgres", "SHOW ssl").trim() == "on" {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("TLS did not come on");
}

#[test]
fn verify_full_checks_the_certificate_chain_and_the_name() {
    let pg = cloak_pgtest::cluster_or_skip!();
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path(), "real");
    certificates(dir.path(), "other");
    serve_tls(pg, dir.path(), "real");
    let url = pg.fresh_database();
    let with = |url: &str, ca: &str| {
        let root = dir.path().join(format!("{ca}-ca.pem"));
        let url = format!("{url}?sslmode=verify-full&sslrootcert={}", root.display());
        PgStore::open_with_password(&url, pg.password(), Limits::default(), false)
    };
    let store = with(&url, "real").unwrap();
    let ssl: bool = (store.inner.conn().unwrap())
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(ssl, "the connection is encrypted");
    // Another CA: the chain does not verify.
    let Err(StoreError::Unfit(why)) = with(&url, "other") else {
        panic!("refused")
    };
    assert!(why.contains("certificate"), "{why}");
    // The right CA, another name than the certificate's.
    let Err(StoreError::Unfit(why)) = with(&url.replacen("127.0.0.1", "localhost", 1), "real")
    else {
        panic!("refused")
    };
    assert!(why.contains("not valid for name"), "{why}");
    // A mode that may fall back to plain text is refused outright.
    let prefer = format!("{url}?sslmode=prefer");
    let Err(StoreError::Unfit(why)) = PgStore::open(&prefer, Limits::default(), 2, false) else {
        panic!("refused")
    };
    assert!(why.contains("verify-full"), "{why}");
}

#[test]
fn a_stream_row_longer_than_the_store_writes_is_damage_not_an_allocation() {
    let pg = cloak_pgtest::cluster_or_skip!();
    let url = pg.fresh_database();
    let store = open(pg, &url, Limits::default(), true);
    let mut sink = store.begin_stream().unwrap();
    sink.write_frame(b"head").unwrap();
    let stream = sink.commit().unwrap();
    // Someone with write access to the database grows the row to 20 MB.
    pg.psql(
        &url,
        "UPDATE stream_chunks SET data = data || decode(repeat('00', 20000000), 'hex');",
    );
    let mut frames = store.open_stream(&stream).unwrap();
    assert!(matches!(frames.next_frame(), Err(StoreError::Damaged(_))));
}

#[test]
fn rows_not_written_by_the_store_are_damage_not_a_panic_or_an_allocation() {
    let pg = cloak_pgtest::cluster_or_skip!();
    let url = pg.fresh_database();
    let store = open(pg, &url, Limits::default(), true);
    store.store_inbound(&inbound(1, 1, 10)).unwrap();
    store.store_inbound(&inbound(1, 2, 10)).unwrap();
    // What someone with write access to the database could leave: an
    // envelope grown past any frame, a NULL the schema did not allow.
    pg.psql(
        &url,
        "UPDATE inbound SET envelope = decode(repeat('00', 17000000), 'hex')
             WHERE id LIKE '0101%';
         ALTER TABLE inbound ALTER COLUMN sender_name DROP NOT NULL;
         UPDATE inbound SET sender_name = NULL WHERE id LIKE '0202%';",
    );
    assert!(matches!(
        store.find_inbound("0101"),
        Err(StoreError::Damaged(_))
    ));
    assert!(matches!(
        store.find_inbound("0202"),
        Err(StoreError::Damaged(_))
    ));
}
