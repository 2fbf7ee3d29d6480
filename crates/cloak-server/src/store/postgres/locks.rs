//! The advisory lock keys of the PostgreSQL store, in one place so that
//! no two uses can collide.

/// The first key of the two-key advisory locks this store takes
/// (migrations, liveness), so that they cannot collide with another
/// application's locks on the same database.
pub(super) const LOCK_SPACE: i32 = 0x436c_6b52; // "ClkR"

/// The transaction locks that make a check and its insert one step for
/// one mailbox or one sender (see `messages`) take single 64-bit keys,
/// which PostgreSQL keeps apart from the two-key locks above; these tell
/// mailboxes from senders.
pub(super) const MAILBOX_LOCKS: i64 = 0x436c_6b52_4d42_4f58; // "ClkRMBOX"
pub(super) const SENDER_LOCKS: i64 = 0x436c_6b52_5345_4e44; // "ClkRSEND"
