//! The SQLite store on real files in a temporary folder: the contract
//! every store keeps, and what is SQLite's own (its pragmas, schema
//! upgrades, files, sweeping and the data folder's lock).

use super::*;
use crate::store::Queue;
use crate::store::contract::{Fixture, contract_tests};
use cloak_core::Mode;

/// A data folder of its own, opened as the server opens it.
struct SqliteFixture {
    dir: tempfile::TempDir,
}

/// Opens `dir` as its server again. The data folder's lock is an flock: a
/// process another test thread spawns at that moment shares it between
/// fork and exec, so the lock of a store just dropped may outlive it by
/// that moment. (A server spawns nothing.)
fn reopen_as_server(dir: &std::path::Path, limits: Limits) -> SqliteStore {
    for _ in 0..100 {
        match SqliteStore::open_as_server(dir, limits) {
            Err(StoreError::Locked { .. }) => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            opened => return opened.unwrap(),
        }
    }
    panic!("the data folder stayed locked");
}

impl SqliteFixture {
    fn new() -> Self {
        SqliteFixture {
            dir: tempfile::tempdir().unwrap(),
        }
    }
}

impl Fixture for SqliteFixture {
    fn open(&self, limits: Limits) -> Box<dyn MessageStore> {
        Box::new(reopen_as_server(self.dir.path(), limits))
    }

    fn open_beside(&self, limits: Limits) -> Box<dyn MessageStore> {
        Box::new(SqliteStore::open(self.dir.path(), limits).unwrap())
    }
}

contract_tests!(Some(SqliteFixture::new()));

fn inbound(sender: u8, id: u8, at: u64, bytes: usize) -> Inbound {
    Inbound {
        message_id: MessageId([id; 16]),
        sender: Fingerprint([sender; 32]),
        sender_name: format!("c{sender}"),
        received_at: at,
        mode: Mode::Hybrid,
        size: 5,
        text_digest: Some([id; 32]),
        content: Content::Envelope(vec![0xee; bytes]),
    }
}

fn outbound(to: u8, id: u8) -> Outbound {
    Outbound {
        message_id: MessageId([id; 16]),
        recipient: Fingerprint([to; 32]),
        recipient_name: format!("c{to}"),
        created_at: 1,
        size: 3,
        envelope: vec![id; 10],
        stream: None,
    }
}

#[test]
fn wal_and_full_sync_are_in_force() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), Limits::default()).unwrap();
    let conn = store.conn();
    let journal: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    let sync: i64 = conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap();
    assert_eq!(journal, "wal");
    assert_eq!(sync, 2, "FULL");
}

/// The bytes in store as the triggers keep them, and as a full sum says.
fn usage_and_sum(store: &SqliteStore) -> (i64, i64) {
    let conn = store.conn();
    let usage = conn
        .query_row("SELECT bytes FROM usage WHERE id = 0", [], |r| r.get(0))
        .unwrap();
    let sum = conn
        .query_row(
            "SELECT (SELECT COALESCE(SUM(bytes), 0) FROM inbound)
                  + (SELECT COALESCE(SUM(bytes), 0) FROM outbound)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    (usage, sum)
}

#[test]
fn the_usage_counter_follows_inserts_duplicates_refusals_and_acks() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_bytes: 1000,
        ..Limits::default()
    };
    let store = SqliteStore::open(dir.path(), limits).unwrap();
    assert_eq!(usage_and_sum(&store), (0, 0));
    store.store_inbound(&inbound(1, 1, 1, 300)).unwrap();
    store.store_inbound(&inbound(1, 1, 1, 300)).unwrap(); // duplicate
    store.enqueue(&outbound(7, 1)).unwrap();
    store.enqueue(&outbound(7, 2)).unwrap();
    assert!(store.store_inbound(&inbound(1, 2, 2, 900)).is_err()); // full
    let (usage, sum) = usage_and_sum(&store);
    assert_eq!(usage, sum);
    assert!(usage > 300, "{usage}");
    store
        .acknowledge(&Fingerprint([7; 32]), &[MessageId([1; 16])])
        .unwrap();
    let (usage, sum) = usage_and_sum(&store);
    assert_eq!(usage, sum);
    // What the acknowledgement freed is room again.
    let free = 1000 - usage as usize;
    store.store_inbound(&inbound(2, 3, 3, free - 64)).unwrap();
    drop(store);
    let store = SqliteStore::open(dir.path(), limits).unwrap();
    let (usage, sum) = usage_and_sum(&store);
    assert_eq!(usage, sum, "after reopening");
}

#[test]
fn older_schemas_are_upgraded_with_their_usage_counted() {
    for version in [1, 2, 3] {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SqliteStore::open(dir.path(), Limits::default()).unwrap();
            store.store_inbound(&inbound(1, 1, 1, 120)).unwrap();
            store.enqueue(&outbound(7, 1)).unwrap();
            // Take the database back to the older schema.
            let conn = store.conn();
            let mut downgrade = String::from(
                "ALTER TABLE outbound DROP COLUMN seal;
                 ALTER TABLE outbound DROP COLUMN quarantined;
                 ALTER TABLE inbound DROP COLUMN text_digest;",
            );
            if version < 3 {
                downgrade.push_str(
                    "DROP TRIGGER inbound_added; DROP TRIGGER inbound_removed;
                     DROP TRIGGER inbound_resized; DROP TRIGGER outbound_added;
                     DROP TRIGGER outbound_removed; DROP TRIGGER outbound_resized;
                     DROP TABLE usage; ALTER TABLE outbound DROP COLUMN path;",
                );
            }
            if version == 1 {
                downgrade.push_str("ALTER TABLE inbound DROP COLUMN path;");
            }
            downgrade.push_str(&format!("PRAGMA user_version = {version};"));
            conn.execute_batch(&downgrade).unwrap();
        }
        let store = SqliteStore::open(dir.path(), Limits::default()).unwrap();
        let (usage, sum) = usage_and_sum(&store);
        assert_eq!((usage, sum), (sum, 120 + 10), "from version {version}");
        store.store_inbound(&inbound(1, 2, 2, 5)).unwrap();
        assert_eq!(usage_and_sum(&store).0, 135, "from version {version}");
        assert_eq!(store.inbox(&InboxQuery::default()).unwrap().len(), 2);
        // What older versions queued is there, to be re-sealed by the server.
        assert_eq!(
            store.legacy_sealed().unwrap().len(),
            1,
            "from version {version}"
        );
    }
}

#[test]
fn one_server_per_data_folder() {
    let dir = tempfile::tempdir().unwrap();
    let first = SqliteStore::open_as_server(dir.path(), Limits::default()).unwrap();
    let pid = std::process::id().to_string();
    match SqliteStore::open_as_server(dir.path(), Limits::default()) {
        Err(StoreError::Locked { holder, lock }) => {
            assert_eq!(holder, pid);
            assert!(lock.ends_with(LOCK_FILE));
        }
        other => panic!("a second server opened the folder: {:?}", other.err()),
    }
    // Operator commands still open it beside the server.
    SqliteStore::open(dir.path(), Limits::default()).unwrap();
    drop(first);
    reopen_as_server(dir.path(), Limits::default());
}

#[test]
fn an_inbox_query_reads_only_the_rows_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), Limits::default()).unwrap();
    for (id, at) in [(1u8, 10u64), (2, 20), (3, 30), (4, 40)] {
        store.store_inbound(&inbound(1, id, at, 10)).unwrap();
    }
    // The oldest and the newest rows no longer decode: a listing that read
    // them, to filter them out afterwards, would fail.
    store
        .conn()
        .execute(
            "UPDATE inbound SET mode = 'garbled' WHERE received_at IN (10, 40)",
            [],
        )
        .unwrap();
    assert!(store.inbox(&InboxQuery::default()).is_err());
    let query = InboxQuery {
        since: Some(20),
        limit: Some(2),
    };
    let listed = store.inbox(&query).unwrap();
    let times: Vec<_> = listed.iter().map(|m| m.received_at).collect();
    assert_eq!(times, [20, 30]);
    let one = InboxQuery {
        since: Some(11),
        limit: Some(1),
    };
    assert_eq!(store.inbox(&one).unwrap()[0].received_at, 20);
    let none = InboxQuery {
        since: Some(41),
        limit: None,
    };
    assert!(store.inbox(&none).unwrap().is_empty());
}

#[test]
fn a_row_from_before_digests_is_taken_as_a_retry() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), Limits::default()).unwrap();
    let first = inbound(1, 1, 1, 10);
    assert_eq!(store.store_inbound(&first).unwrap(), Insert::Stored);
    store
        .conn()
        .execute("UPDATE inbound SET text_digest = NULL", [])
        .unwrap();
    let mut other = first.clone();
    other.text_digest = Some([0xaa; 32]);
    other.content = Content::Envelope(vec![0xbb; 10]);
    // Such a row cannot tell another text from a retry: taken as a retry,
    // as it was when it was written.
    assert_eq!(store.store_inbound(&other).unwrap(), Insert::Duplicate);
}

/// Commits a stream of `frames` in `store`.
fn commit(store: &SqliteStore, frames: &[&[u8]]) -> crate::store::StreamRef {
    let mut spool = store.begin_stream().unwrap();
    for frame in frames {
        spool.write_frame(frame).unwrap();
    }
    spool.commit().unwrap()
}

#[test]
fn leftovers_are_swept_by_the_server_not_by_an_operator() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), Limits::default()).unwrap();
    let kept = commit(&store, &[b"head", &[7u8; 1000]]);
    let mut message = inbound(1, 9, 5, 0);
    message.content = Content::Stream(kept.clone());
    store.store_inbound(&message).unwrap();
    drop(store);
    let orphan = dir.path().join(MESSAGES_DIR).join("orphan.stream");
    std::fs::write(&orphan, b"x").unwrap();
    std::fs::write(dir.path().join(SPOOL_DIR).join("crashed.part"), b"x").unwrap();
    // An operator's open leaves them: a server may be writing them.
    let operator = SqliteStore::open(dir.path(), Limits::default()).unwrap();
    assert!(orphan.exists());
    drop(operator);
    let store = SqliteStore::open_as_server(dir.path(), Limits::default()).unwrap();
    assert!(!orphan.exists() && file(&store, &kept).exists());
    assert_eq!(
        std::fs::read_dir(dir.path().join(SPOOL_DIR))
            .unwrap()
            .count(),
        0
    );
}

/// The names of the files in the data folder's `sub` folder.
fn files_in(dir: &std::path::Path, sub: &str) -> Vec<String> {
    std::fs::read_dir(dir.join(sub))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn a_stream_no_row_keeps_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_mailbox: 1,
        ..Limits::default()
    };
    let store = SqliteStore::open(dir.path(), limits).unwrap();
    let mut abandoned = store.begin_stream().unwrap();
    abandoned.write_frame(b"head").unwrap();
    assert_eq!(files_in(dir.path(), SPOOL_DIR).len(), 1);
    drop(abandoned);
    assert!(files_in(dir.path(), SPOOL_DIR).is_empty(), "abandoned");

    let mut message = inbound(1, 9, 5, 0);
    message.content = Content::Stream(commit(&store, &[b"head"]));
    store.store_inbound(&message).unwrap();
    let retried = commit(&store, &[b"head"]);
    message.content = Content::Stream(retried.clone());
    assert_eq!(store.store_inbound(&message).unwrap(), Insert::Duplicate);
    assert!(!file(&store, &retried).exists(), "retried");

    let mut queued = outbound(7, 1);
    queued.envelope = Vec::new();
    queued.stream = Some(commit(&store, &[&[9u8; 5000]]));
    store.enqueue(&queued).unwrap();
    // The file's length is what its row counts.
    assert_eq!(usage_and_sum(&store), (4 + 4 + 5004, 4 + 4 + 5004));
    let refused = commit(&store, &[b"x"]);
    queued.message_id = MessageId([2; 16]);
    queued.stream = Some(refused.clone());
    assert!(store.enqueue(&queued).is_err());
    assert!(!file(&store, &refused).exists(), "refused");

    store
        .acknowledge(&Fingerprint([7; 32]), &[MessageId([1; 16])])
        .unwrap();
    store.delete(&[MessageId([9; 16])]).unwrap();
    assert!(
        files_in(dir.path(), MESSAGES_DIR).is_empty(),
        "removed with rows"
    );
}

/// The file a committed stream of `store` is kept in.
fn file(store: &SqliteStore, stream: &crate::store::StreamRef) -> std::path::PathBuf {
    store.stream_path(stream.name()).unwrap()
}

#[test]
fn a_stream_name_that_is_not_the_stores_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), Limits::default()).unwrap();
    let mut message = inbound(1, 9, 5, 0);
    message.content = Content::Stream(commit(&store, &[b"head"]));
    store.store_inbound(&message).unwrap();
    // Written into the database by someone else, a name must not lead
    // outside `messages/`.
    store
        .conn()
        .execute("UPDATE inbound SET path = '../cloakroom.db'", [])
        .unwrap();
    assert!(matches!(
        store.find_inbound("09"),
        Err(StoreError::Damaged(_))
    ));
    let foreign = crate::store::StreamRef::new("../cloakroom.db");
    assert!(matches!(
        store.open_stream(&foreign),
        Err(StoreError::Damaged(_))
    ));
    assert_eq!(store.delete(&[MessageId([9; 16])]).unwrap().len(), 1);
    assert!(dir.path().join(DB_FILE).exists(), "nothing outside removed");
}

#[test]
fn a_message_that_fails_after_its_room_was_checked_gives_the_room_back() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_bytes: 100,
        ..Limits::default()
    };
    let store = SqliteStore::open(dir.path(), limits).unwrap();
    store.enqueue(&outbound(7, 1)).unwrap();
    let mut sink = store.begin_stream().unwrap();
    // Its room fits; its row does not (the id is taken), after the check.
    assert!(matches!(
        store.enqueue(&outbound(8, 1)),
        Err(StoreError::Database(_))
    ));
    // 10 stored: the 90 left are the sink's.
    sink.write_frame(&[0u8; 86]).unwrap();
}

/// The embedded store gives a committed stream's room back until its row
/// comes: a message may take it meanwhile, and the row is then refused and
/// the stream file removed.
#[test]
fn a_committed_stream_refused_for_room_at_its_row_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_bytes: 100,
        ..Limits::default()
    };
    let store = SqliteStore::open_as_server(dir.path(), limits).unwrap();
    let mut sink = store.begin_stream().unwrap();
    sink.write_frame(&[0u8; 56]).unwrap();
    let stream = sink.commit().unwrap();
    store.store_inbound(&inbound(2, 1, 1, 50)).unwrap();
    let mut message = inbound(1, 2, 2, 0);
    message.content = Content::Stream(stream.clone());
    assert!(matches!(
        store.store_inbound(&message),
        Err(StoreError::Full { .. })
    ));
    assert!(!file(&store, &stream).exists());
    assert_eq!(store.usage().unwrap().used_bytes, 50);
}
