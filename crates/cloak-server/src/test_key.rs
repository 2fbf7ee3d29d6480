//! The server key the unit tests seal and open with: generated once per
//! test binary, since generating RSA keys is slow.

use std::sync::OnceLock;

use cloak_core::KeyPair;

/// The shared test key.
pub(crate) fn key() -> &'static KeyPair {
    static KEY: OnceLock<KeyPair> = OnceLock::new();
    KEY.get_or_init(|| KeyPair::generate(2048).unwrap())
}
