//! What every fuzz target shares: a capped allocator, the fixture keys,
//! and the structure-aware descriptions of the `structured` target.
//!
//! The allocator is why this crate exists. Without a sanitizer libFuzzer
//! cannot limit allocations (`-malloc_limit_mb` needs the sanitizer's
//! malloc hooks), so a forged length that makes the code reserve gigabytes
//! would pass unnoticed whenever the system grants it. Under the cap any
//! allocation beyond it fails, Rust aborts on the failure, and libFuzzer
//! reports the abort as a crash and saves the input. A target links the
//! cap by naming this crate, which each one does.

pub mod cases;
pub mod seal;
pub mod wire;

use std::alloc::System;
use std::path::Path;
use std::sync::OnceLock;

use cloak_core::KeyPair;
use rsa::pkcs1::DecodeRsaPublicKey;

/// Most memory a target may hold at once. Handling the largest frame
/// (16 MiB + 68 KiB) needs a few copies of it: the frame, the decoded
/// envelope, a canonical re-encoding, the plaintext, about 100 MiB at
/// worst. 512 MiB leaves room for that five times over, and still flags
/// any input that costs 30 times its own size: in the server that is
/// memory an attacker multiplies by its connections.
pub const ALLOCATION_LIMIT: usize = 512 * 1024 * 1024;

#[global_allocator]
static ALLOCATOR: cap::Cap<System> = cap::Cap::new(System, ALLOCATION_LIMIT);

/// One side of the fixture sessions: its key pair, and its public key in
/// the form the RSA crate encrypts to (anyone can wrap a key to it).
pub struct Party {
    /// The key pair, for opening.
    pub keys: KeyPair,
    /// The public key, for sealing as an attacker would.
    pub public: rsa::PublicKey,
}

/// The repository's test keys: the recorded seeds are sessions between
/// them, so a seed decrypts and reaches every check.
pub struct Fixture {
    /// The client (sender of `send_msg`, recipient of deliveries).
    pub client: Party,
    /// The server.
    pub server: Party,
}

/// The fixture keys, parsed once per process.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let party = |private: &str, public: &str| Party {
            keys: KeyPair::from_pem(private, Path::new("fixture")).expect("fixture key"),
            public: rsa::PublicKey::from_pkcs1_pem(public).expect("fixture public key"),
        };
        Fixture {
            client: party(
                include_str!("../../tests/fixtures/python-keys/client_private.pem"),
                include_str!("../../tests/fixtures/python-keys/client_public.pem"),
            ),
            server: party(
                include_str!("../../tests/fixtures/python-keys/server_private.pem"),
                include_str!("../../tests/fixtures/python-keys/server_public.pem"),
            ),
        }
    })
}
