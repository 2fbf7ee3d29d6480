//! A seeded generator for the backend, in test builds only: sealing is
//! randomized (keys, ids, OAEP seeds, PSS salts), so reproducing a
//! known-answer vector byte for byte needs every random byte to come from
//! a generator the test chose. Nothing here is compiled into a library or
//! binary that is not a test.

use std::cell::RefCell;

use rand::CryptoRng;
use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;

thread_local! {
    /// Per thread, so that tests running side by side draw from their own
    /// generator (or from the system's) and never from another test's.
    static SEEDED: RefCell<Option<ChaCha20Rng>> = const { RefCell::new(None) };
}

/// Runs `f` with every random byte of the backend on this thread drawn
/// from ChaCha20 seeded with `seed` (a named algorithm, unlike `StdRng`,
/// whose output may change between versions of `rand`).
pub(crate) fn with_seeded_rng<T>(seed: u64, f: impl FnOnce() -> T) -> T {
    /// Back to the system generator even if `f` panics, so that a failed
    /// test does not leave later tests on this thread seeded.
    struct Restore(Option<ChaCha20Rng>);
    impl Drop for Restore {
        fn drop(&mut self) {
            SEEDED.set(self.0.take());
        }
    }
    let _restore = Restore(SEEDED.replace(Some(ChaCha20Rng::seed_from_u64(seed))));
    f()
}

/// Calls `f` with the seeded generator if one is set on this thread, or
/// hands `f` back to be called with the system's.
pub(super) fn try_with<T, F>(f: F) -> Result<T, F>
where
    F: FnOnce(&mut dyn CryptoRng) -> T,
{
    SEEDED.with_borrow_mut(|seeded| match seeded {
        Some(rng) => Ok(f(rng)),
        None => Err(f),
    })
}
