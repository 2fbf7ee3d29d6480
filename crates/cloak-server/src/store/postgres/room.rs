//! The size limit shared by every instance, without one row that every
//! message must lock: the limit is split into [`SHARDS`] rows of `room`,
//! each with its own cap, the caps summing to the limit. A charge is one
//! conditional `UPDATE` of one shard (`used + n <= cap`), so it can never
//! pass a check that another instance's charge invalidates, and charges to
//! different shards do not wait for each other. Only when no shard has room
//! for a charge are all shards locked (in shard order, so two such
//! transactions cannot deadlock on each other) and their caps redrawn
//! from the real total: the limit is then exact, and `Full` says so.
//!
//! A message's charge is released by the triggers of the schema, in the
//! transaction that deletes it (see `schema`).

use postgres::Transaction;
use rand::RngExt;

use super::schema::SHARDS;
use crate::store::StoreError;

/// Charges `bytes` to some shard within `tx`; returns that shard.
pub(super) fn charge(tx: &mut Transaction<'_>, bytes: u64, max: u64) -> Result<i32, StoreError> {
    let wanted = bytes as i64;
    let start = rand::rng().random_range(0..SHARDS);
    for step in 0..SHARDS {
        let shard = (start + step) % SHARDS;
        let taken = tx.execute(
            "UPDATE room SET used = used + $2 WHERE shard = $1 AND used + $2 <= cap",
            &[&shard, &wanted],
        )?;
        if taken == 1 {
            return Ok(shard);
        }
    }
    redraw(tx, bytes, max, start)
}

/// Redraws every shard's cap from the real total and charges `bytes` to
/// `shard`, or says the store is full.
fn redraw(tx: &mut Transaction<'_>, bytes: u64, max: u64, shard: i32) -> Result<i32, StoreError> {
    let used = lock_all(tx)?;
    let total: u64 = used.iter().sum();
    if total + bytes > max {
        return Err(StoreError::Full { used: total, max });
    }
    set_caps(tx, &used, max - total - bytes, Some((shard, bytes)))?;
    tx.execute(
        "UPDATE room SET used = used + $2 WHERE shard = $1",
        &[&shard, &(bytes as i64)],
    )?;
    Ok(shard)
}

/// Every shard's bytes in use, the shards locked for the rest of `tx`.
fn lock_all(tx: &mut Transaction<'_>) -> Result<Vec<u64>, StoreError> {
    Ok(tx
        .query("SELECT used FROM room ORDER BY shard FOR UPDATE", &[])?
        .iter()
        .map(|row| row.get::<_, i64>(0).max(0) as u64)
        .collect())
}

/// Shares `free` bytes out evenly as the shards' room above what they
/// use, plus `extra` bytes of cap for one shard about to be charged them.
fn set_caps(
    tx: &mut Transaction<'_>,
    used: &[u64],
    free: u64,
    extra: Option<(i32, u64)>,
) -> Result<(), StoreError> {
    let each = free / used.len().max(1) as u64;
    let mut rest = free - each * used.len() as u64;
    for (shard, used) in used.iter().enumerate() {
        let shard = shard as i32;
        let mut cap = used + each + std::mem::take(&mut rest);
        if let Some((to, bytes)) = extra
            && to == shard
        {
            cap += bytes;
        }
        tx.execute(
            "UPDATE room SET cap = $2 WHERE shard = $1",
            &[&shard, &(cap as i64)],
        )?;
    }
    Ok(())
}

/// Sets the caps to sum to `max` (an instance starting with a new limit):
/// shards already over their share keep what they use and get no more.
pub(super) fn set_limit(tx: &mut Transaction<'_>, max: u64) -> Result<(), StoreError> {
    let used = lock_all(tx)?;
    let total: u64 = used.iter().sum();
    set_caps(tx, &used, max.saturating_sub(total), None)
}

/// Gives `bytes` of `shard` back (what a stream was granted and did not
/// use).
pub(super) fn release(tx: &mut Transaction<'_>, shard: i32, bytes: u64) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE room SET used = used - $2 WHERE shard = $1",
        &[&shard, &(bytes as i64)],
    )?;
    Ok(())
}
