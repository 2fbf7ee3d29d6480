//! Shared test keys, generated once per test binary (RSA key generation is
//! by far the slowest step of these tests).
#![allow(dead_code)]

use std::sync::OnceLock;

use cloak_core::KeyPair;

/// A sender, a recipient and a third party, all of one size.
pub struct Trio {
    pub s: KeyPair,
    pub r: KeyPair,
    pub t: KeyPair,
}

fn trio(bits: usize) -> Trio {
    Trio {
        s: KeyPair::generate(bits).expect("keygen"),
        r: KeyPair::generate(bits).expect("keygen"),
        t: KeyPair::generate(bits).expect("keygen"),
    }
}

pub fn keys_2048() -> &'static Trio {
    static KEYS: OnceLock<Trio> = OnceLock::new();
    KEYS.get_or_init(|| trio(2048))
}

pub fn keys_3072() -> &'static Trio {
    static KEYS: OnceLock<Trio> = OnceLock::new();
    KEYS.get_or_init(|| trio(3072))
}

pub const FRESH: &[u8] = b"server challenge 0123456789abcdef";
