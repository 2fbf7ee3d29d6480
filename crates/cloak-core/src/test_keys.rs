//! Keys for the unit tests, made once per test binary: RSA key generation
//! is the slowest step of any test that needs a key.

use std::sync::OnceLock;

use crate::KeyPair;

/// Three parties: a sender S, a recipient R and a third party T.
pub(crate) struct Keys {
    pub s: KeyPair,
    pub r: KeyPair,
    pub t: KeyPair,
}

/// The unit tests' keys, 2048 bits.
pub(crate) fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        s: KeyPair::generate(2048).unwrap(),
        r: KeyPair::generate(2048).unwrap(),
        t: KeyPair::generate(2048).unwrap(),
    })
}
