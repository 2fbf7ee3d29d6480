//! The at-rest seal is bound to its place; old seals are upgraded, and a
//! row that does not open is set aside, with a real store and real keys.

use cloak_core::{Fingerprint, KeyPair, MessageId};

use super::*;
use crate::store::sqlite::SqliteStore;
use crate::store::{Limits, MessageStore, Outbound, Queue};

fn key() -> &'static KeyPair {
    static KEY: std::sync::OnceLock<KeyPair> = std::sync::OnceLock::new();
    KEY.get_or_init(|| KeyPair::generate(2048).unwrap())
}

fn place(recipient: u8, id: u8) -> Place {
    Place {
        recipient: Fingerprint([recipient; 32]),
        message_id: MessageId([id; 16]),
    }
}

#[test]
fn a_seal_opens_only_in_its_place() {
    let here = place(1, 1);
    let sealed = seal(key(), here, b"for one mailbox").unwrap();
    assert_eq!(
        open(key(), here, &sealed.bytes).unwrap().plaintext,
        b"for one mailbox"
    );
    assert!(
        open(key(), place(2, 1), &sealed.bytes).is_err(),
        "moved to another mailbox"
    );
    assert!(
        open(key(), place(1, 2), &sealed.bytes).is_err(),
        "re-queued under another id"
    );
    assert!(open_legacy(key(), &sealed.bytes).is_err());
    assert!(here.freshness().len() <= cloak_core::limits::MAX_FRESHNESS_LEN);
}

fn queued(place: Place, envelope: Vec<u8>) -> Outbound {
    Outbound {
        message_id: place.message_id,
        recipient: place.recipient,
        recipient_name: "client".into(),
        created_at: 1,
        size: 3,
        envelope,
        stream: None,
    }
}

#[test]
fn old_seals_are_upgraded_and_unopenable_ones_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), Limits::default()).unwrap();
    // Sealed the old way (bound to nothing), and one that does not open.
    let old = cloak_core::seal(
        key(),
        key().public(),
        Mode::Hybrid,
        LEGACY_FRESHNESS,
        b"old",
        &SealOptions::default(),
    )
    .unwrap();
    let good = place(1, 0).with_id(old.message_id);
    store.enqueue(&queued(good, old.bytes.clone())).unwrap();
    let mut damaged = old.bytes.clone();
    damaged[100] ^= 1;
    store.enqueue(&queued(place(1, 9), damaged)).unwrap();
    store.mark_legacy();
    assert_eq!(store.legacy_sealed().unwrap().len(), 2);

    assert_eq!(upgrade(&store, key()).unwrap(), 1);
    assert!(store.legacy_sealed().unwrap().is_empty());
    let (pending, total) = store.pending(&good.recipient, 10).unwrap();
    assert_eq!(
        (pending.len(), total),
        (1, 1),
        "the damaged one is set aside"
    );
    assert_eq!(
        open(key(), good, &pending[0].envelope).unwrap().plaintext,
        b"old"
    );
    let aside = store.quarantined().unwrap();
    assert_eq!(aside.len(), 1);
    assert_eq!(aside[0].message_id, MessageId([9; 16]));
}

impl Place {
    fn with_id(mut self, id: MessageId) -> Place {
        self.message_id = id;
        self
    }
}
