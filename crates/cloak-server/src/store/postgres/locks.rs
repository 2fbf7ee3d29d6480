//! The advisory lock keys of the PostgreSQL store, in one place so that
//! no two uses can collide.

/// The first key of every advisory lock this store takes (migrations,
/// liveness, per-mailbox and per-sender checks), so that they cannot
/// collide with another application's locks on the same database.
pub(super) const LOCK_SPACE: i32 = 0x436c_6b52; // "ClkR"

/// The second key space of the transaction locks that make a check and
/// its insert one step for one mailbox or one sender (see `messages`).
pub(super) const MAILBOX_LOCKS: i32 = LOCK_SPACE + 1;
pub(super) const SENDER_LOCKS: i32 = LOCK_SPACE + 2;
