//! The PostgreSQL schema and its migrations. Every instance migrates at
//! start under one advisory lock, so two instances starting together do
//! not both run a migration; a database whose schema is newer than this
//! server is refused, never written.
//!
//! Migrations only add (tables, columns with defaults, indexes), so that
//! during a rolling upgrade the instances still on the old version keep
//! working on the migrated schema until they are replaced.

use postgres::Client;

use super::locks::LOCK_SPACE;
use crate::store::StoreError;

/// The schema version this server writes.
pub(super) const SCHEMA_VERSION: i32 = 1;

/// The key (in [`LOCK_SPACE`]) of the lock migrations run under; instance
/// liveness locks never take it (see `liveness`).
const MIGRATION_LOCK: i32 = 0;

/// Shards of the size limit (see `room`): enough that concurrent messages
/// seldom touch the same row, few enough that summing them is trivial.
pub(super) const SHARDS: i32 = 16;

/// Version 1. Streams are rows of chunks, written while they arrive and
/// owned by the instance writing them until a message row names them.
/// A message's room is charged to one shard of `room` (an envelope) or to
/// its stream's grants in `stream_room`; the triggers give it back, and
/// take a message's stream with it, in the transaction that deletes the
/// message, whichever statement does.
const V1: &str = "
CREATE TABLE room (
    shard integer PRIMARY KEY,
    used  bigint NOT NULL DEFAULT 0,
    cap   bigint NOT NULL DEFAULT 0
);
INSERT INTO room (shard) SELECT generate_series(0, 15);
CREATE TABLE streams (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner     integer,
    bytes     bigint NOT NULL DEFAULT 0,
    rows      integer NOT NULL DEFAULT 0,
    committed boolean NOT NULL DEFAULT false
);
CREATE INDEX streams_owner ON streams (owner) WHERE owner IS NOT NULL;
CREATE TABLE stream_chunks (
    stream bigint NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    seq    integer NOT NULL,
    data   bytea NOT NULL,
    PRIMARY KEY (stream, seq)
);
-- Sealed bytes do not compress: spare PostgreSQL the attempt.
ALTER TABLE stream_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
CREATE TABLE stream_room (
    stream bigint NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    shard  integer NOT NULL,
    bytes  bigint NOT NULL,
    PRIMARY KEY (stream, shard)
);
CREATE TABLE inbound (
    sender      bytea NOT NULL,
    id          text NOT NULL,
    sender_name text NOT NULL,
    received_at bigint NOT NULL,
    mode        text NOT NULL,
    size        bigint NOT NULL,
    bytes       bigint NOT NULL,
    envelope    bytea NOT NULL,
    stream      bigint REFERENCES streams (id),
    shard       integer,
    text_digest bytea,
    seq         bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (sender, id)
);
CREATE INDEX inbound_id ON inbound (id text_pattern_ops);
CREATE INDEX inbound_received ON inbound (received_at, seq);
CREATE TABLE outbound (
    seq            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id             text NOT NULL UNIQUE,
    recipient      bytea NOT NULL,
    recipient_name text NOT NULL,
    created_at     bigint NOT NULL,
    size           bigint NOT NULL,
    bytes          bigint NOT NULL,
    envelope       bytea NOT NULL,
    stream         bigint REFERENCES streams (id),
    shard          integer,
    seal           integer NOT NULL DEFAULT 2,
    quarantined    boolean NOT NULL DEFAULT false
);
CREATE INDEX outbound_recipient ON outbound (recipient, seq);
CREATE FUNCTION cloak_release() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.shard IS NOT NULL THEN
        UPDATE room SET used = used - OLD.bytes WHERE shard = OLD.shard;
    END IF;
    IF OLD.stream IS NOT NULL THEN
        DELETE FROM streams WHERE id = OLD.stream;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER inbound_release AFTER DELETE ON inbound
    FOR EACH ROW EXECUTE FUNCTION cloak_release();
CREATE TRIGGER outbound_release AFTER DELETE ON outbound
    FOR EACH ROW EXECUTE FUNCTION cloak_release();
CREATE FUNCTION cloak_release_grant() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE room SET used = used - OLD.bytes WHERE shard = OLD.shard;
    RETURN NULL;
END $$;
CREATE TRIGGER stream_room_release AFTER DELETE ON stream_room
    FOR EACH ROW EXECUTE FUNCTION cloak_release_grant();
";

/// Each version's migration from the one before, in order.
const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = [V1];

/// Brings the database to [`SCHEMA_VERSION`], or refuses a newer one.
pub(super) fn migrate(client: &mut Client, shown: &str) -> Result<(), StoreError> {
    // Waiting for another instance's migration, or a long one, is not a
    // stuck statement: no timeout in this session (its own connection).
    client.batch_execute("SET statement_timeout = 0")?;
    client.execute(
        "SELECT pg_advisory_lock($1, $2)",
        &[&LOCK_SPACE, &MIGRATION_LOCK],
    )?;
    let result = migrate_locked(client, shown);
    let unlocked = client.execute(
        "SELECT pg_advisory_unlock($1, $2)",
        &[&LOCK_SPACE, &MIGRATION_LOCK],
    );
    result.and(unlocked.map(drop).map_err(StoreError::from))
}

fn migrate_locked(client: &mut Client, shown: &str) -> Result<(), StoreError> {
    client.batch_execute(
        "CREATE TABLE IF NOT EXISTS cloak_schema (
             id      integer PRIMARY KEY CHECK (id = 0),
             version integer NOT NULL
         );
         INSERT INTO cloak_schema (id, version) VALUES (0, 0) ON CONFLICT DO NOTHING;",
    )?;
    let version: i32 = client
        .query_one("SELECT version FROM cloak_schema WHERE id = 0", &[])?
        .get(0);
    if version > SCHEMA_VERSION {
        return Err(StoreError::Unfit(format!(
            "{shown} has schema version {version}; this server knows version {SCHEMA_VERSION} \
             (upgrade this server)"
        )));
    }
    for (done, migration) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        let mut tx = client.transaction()?;
        tx.batch_execute(migration)?;
        tx.execute(
            "UPDATE cloak_schema SET version = $1 WHERE id = 0",
            &[&(done as i32 + 1)],
        )?;
        tx.commit()?;
    }
    Ok(())
}
