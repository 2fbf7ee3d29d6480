//! The SQLite store on real files in a temporary folder.

use super::*;
use crate::store::Queue;
use cloak_core::Mode;

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
fn inbound_is_stored_once_survives_reopen_and_is_found_by_prefix() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SqliteStore::open(dir.path(), Limits::default()).unwrap();
        assert_eq!(
            store.store_inbound(&inbound(1, 0xab, 20, 10)).unwrap(),
            Insert::Stored
        );
        assert_eq!(
            store.store_inbound(&inbound(1, 0xab, 21, 10)).unwrap(),
            Insert::Duplicate
        );
        // Same id from another sender is another message.
        assert_eq!(
            store.store_inbound(&inbound(2, 0xab, 10, 10)).unwrap(),
            Insert::Stored
        );
        assert_eq!(
            store.store_inbound(&inbound(2, 0xcd, 30, 10)).unwrap(),
            Insert::Stored
        );
    }
    let store = SqliteStore::open(dir.path(), Limits::default()).unwrap();
    let inbox = store.inbox(&InboxQuery::default()).unwrap();
    let order: Vec<_> = inbox.iter().map(|m| m.received_at).collect();
    assert_eq!(order, [10, 20, 30], "oldest first");
    assert!(inbox.iter().all(|m| m.content == Content::Unloaded));

    let found = store.find_inbound("CDCD").unwrap();
    assert_eq!(found, inbound(2, 0xcd, 30, 10));
    assert!(matches!(
        store.find_inbound("abab"),
        Err(StoreError::Ambiguous(_))
    ));
    assert!(matches!(
        store.find_inbound("ffff"),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.find_inbound("' OR 1=1 --"),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn mailboxes_are_ordered_acknowledged_per_recipient_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_mailbox: 3,
        ..Limits::default()
    };
    let store = SqliteStore::open(dir.path(), limits).unwrap();
    for id in [3, 1, 2] {
        store.enqueue(&outbound(7, id)).unwrap();
    }
    store.enqueue(&outbound(8, 9)).unwrap();
    assert!(matches!(
        store.enqueue(&outbound(7, 4)),
        Err(StoreError::MailboxFull { max: 3, .. })
    ));

    let (first, total) = store.pending(&Fingerprint([7; 32]), 2).unwrap();
    assert_eq!(total, 3);
    let ids: Vec<_> = first.iter().map(|m| m.message_id.0[0]).collect();
    assert_eq!(ids, [3, 1], "in queue order, limited");

    // Client 8 cannot remove client 7's messages.
    let ids = [MessageId([3; 16]), MessageId([1; 16])];
    assert_eq!(store.acknowledge(&Fingerprint([8; 32]), &ids).unwrap(), 0);
    assert_eq!(store.acknowledge(&Fingerprint([7; 32]), &ids).unwrap(), 2);
    assert_eq!(store.acknowledge(&Fingerprint([7; 32]), &ids).unwrap(), 0);
    let counts = store.queued_counts().unwrap();
    assert_eq!(counts[&Fingerprint([7; 32])], 1);
    assert_eq!(counts[&Fingerprint([8; 32])], 1);
}

#[test]
fn total_size_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_bytes: 100,
        ..Limits::default()
    };
    let store = SqliteStore::open(dir.path(), limits).unwrap();
    store.store_inbound(&inbound(1, 1, 1, 60)).unwrap();
    let err = store.store_inbound(&inbound(1, 2, 2, 60)).unwrap_err();
    assert!(
        matches!(err, StoreError::Full { used: 60, max: 100 }),
        "{err}"
    );
    assert_eq!(
        store.inbox(&InboxQuery::default()).unwrap().len(),
        1,
        "nothing partial"
    );
    store.store_inbound(&inbound(1, 3, 3, 40)).unwrap();
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

#[test]
fn streams_commit_to_files_and_leftovers_are_swept() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), Limits::default()).unwrap();
    let mut spool = store.begin_stream().unwrap();
    spool.write_frame(b"head").unwrap();
    spool.write_frame(&[7u8; 1000]).unwrap();
    let path = spool.commit().unwrap();
    let mut message = inbound(1, 9, 5, 0);
    message.content = Content::Stream(path.clone());
    assert_eq!(store.store_inbound(&message).unwrap(), Insert::Stored);
    let found = store.find_inbound("0909").unwrap();
    assert_eq!(found.content, Content::Stream(path.clone()));
    let mut reader = store.open_stream(&path).unwrap();
    assert_eq!(reader.next_frame().unwrap().unwrap(), b"head");
    assert_eq!(reader.next_frame().unwrap().unwrap(), vec![7u8; 1000]);
    assert!(reader.next_frame().unwrap().is_none());

    // A retry of the same message: its new file is removed, the old kept.
    let mut again = store.begin_stream().unwrap();
    again.write_frame(b"head").unwrap();
    let second = again.commit().unwrap();
    message.content = Content::Stream(second.clone());
    assert_eq!(store.store_inbound(&message).unwrap(), Insert::Duplicate);
    assert!(!file(&store, &second).exists() && file(&store, &path).exists());

    // An abandoned spool leaves nothing; a crash's leftovers are swept.
    let abandoned = store.begin_stream().unwrap();
    drop(abandoned);
    let orphan = dir.path().join(MESSAGES_DIR).join("orphan.stream");
    std::fs::write(&orphan, b"x").unwrap();
    std::fs::write(dir.path().join(SPOOL_DIR).join("crashed.part"), b"x").unwrap();
    drop(store);
    // An operator's open leaves them: a server may be writing them.
    let operator = SqliteStore::open(dir.path(), Limits::default()).unwrap();
    assert!(orphan.exists());
    drop(operator);
    let store = SqliteStore::open_as_server(dir.path(), Limits::default()).unwrap();
    assert!(!orphan.exists() && file(&store, &path).exists());
    assert_eq!(
        std::fs::read_dir(dir.path().join(SPOOL_DIR))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn spool_is_bounded_by_the_room_left() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_bytes: 100,
        ..Limits::default()
    };
    let store = SqliteStore::open(dir.path(), limits).unwrap();
    store.store_inbound(&inbound(1, 1, 1, 40)).unwrap();
    let mut spool = store.begin_stream().unwrap();
    spool.write_frame(&[0u8; 50]).unwrap();
    assert!(matches!(
        spool.write_frame(&[0u8; 10]),
        Err(StoreError::Full { .. })
    ));
}

#[test]
fn concurrent_spools_and_stored_messages_share_one_limit() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_bytes: 200,
        ..Limits::default()
    };
    let store = SqliteStore::open(dir.path(), limits).unwrap();
    store.store_inbound(&inbound(1, 1, 1, 40)).unwrap();
    let (mut one, mut two) = (store.begin_stream().unwrap(), store.begin_stream().unwrap());
    // 40 stored + 4 + 96 spooled: the second stream gets the 60 left, not
    // the 160 that were left when it began.
    one.write_frame(&[0u8; 96]).unwrap();
    assert!(matches!(
        two.write_frame(&[0u8; 57]),
        Err(StoreError::Full {
            used: 140,
            max: 200
        })
    ));
    two.write_frame(&[0u8; 56]).unwrap();
    assert!(matches!(
        store.store_inbound(&inbound(2, 1, 1, 1)),
        Err(StoreError::Full { .. })
    ));
    drop(two);
    store.store_inbound(&inbound(2, 1, 1, 60)).unwrap();
    // A committed stream's bytes count through its row.
    let path = one.commit().unwrap();
    let mut stream = inbound(3, 1, 1, 0);
    stream.content = Content::Stream(path);
    store.store_inbound(&stream).unwrap();
    assert!(matches!(
        store.begin_stream().unwrap().write_frame(&[0u8; 1]),
        Err(StoreError::Full {
            used: 200,
            max: 200
        })
    ));
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
fn queued_stream_files_survive_restarts_and_go_with_their_acknowledgement() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), Limits::default()).unwrap();
    let mut spool = store.begin_stream().unwrap();
    spool.write_frame(&[9u8; 5000]).unwrap();
    let path = spool.commit().unwrap();
    let mut message = outbound(7, 1);
    message.envelope = Vec::new();
    message.stream = Some(path.clone());
    store.enqueue(&message).unwrap();
    drop(store);

    // Start-up sweeps unreferenced files, not queued ones.
    let store = SqliteStore::open(dir.path(), Limits::default()).unwrap();
    assert!(file(&store, &path).exists());
    let (queued, _) = store.pending(&Fingerprint([7; 32]), 10).unwrap();
    assert_eq!(queued[0].stream.as_ref(), Some(&path));
    assert_eq!(
        usage_and_sum(&store),
        (5004, 5004),
        "the file's bytes count"
    );

    store
        .acknowledge(&Fingerprint([7; 32]), &[MessageId([1; 16])])
        .unwrap();
    assert!(!file(&store, &path).exists(), "removed with its row");
    assert_eq!(usage_and_sum(&store), (0, 0));

    // A stream the store refuses (mailbox full) is removed at once.
    let limits = Limits {
        max_mailbox: 0,
        ..Limits::default()
    };
    let store = SqliteStore::open(dir.path(), limits).unwrap();
    let mut spool = store.begin_stream().unwrap();
    spool.write_frame(b"x").unwrap();
    let refused = spool.commit().unwrap();
    message.stream = Some(refused.clone());
    assert!(store.enqueue(&message).is_err());
    assert!(!file(&store, &refused).exists());
}

#[test]
fn a_retry_is_a_duplicate_and_another_text_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), Limits::default()).unwrap();
    let first = inbound(1, 1, 1, 10);
    assert_eq!(store.store_inbound(&first).unwrap(), Insert::Stored);
    assert_eq!(store.store_inbound(&first).unwrap(), Insert::Duplicate);
    let mut other = first.clone();
    other.text_digest = Some([0xaa; 32]);
    other.content = Content::Envelope(vec![0xbb; 10]);
    assert_eq!(store.store_inbound(&other).unwrap(), Insert::Conflict);
    let kept = store.find_inbound(&first.message_id.to_string()).unwrap();
    assert_eq!(kept.content, first.content, "the first text stays");
    // A row from before digests were kept: taken as a retry, as then.
    store
        .conn()
        .execute("UPDATE inbound SET text_digest = NULL", [])
        .unwrap();
    assert_eq!(store.store_inbound(&other).unwrap(), Insert::Duplicate);
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
    SqliteStore::open_as_server(dir.path(), Limits::default()).unwrap();
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

/// The file a committed stream of `store` is kept in.
fn file(store: &SqliteStore, stream: &crate::store::StreamRef) -> std::path::PathBuf {
    store.stream_path(stream.name()).unwrap()
}
