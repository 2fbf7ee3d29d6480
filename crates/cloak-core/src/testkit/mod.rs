//! The generator of the known-answer vectors in
//! `tests/testdata/testkit/` (their format is in that folder's README).
//!
//! Valid vectors are sealed with the backend's generator seeded
//! (`backend::seeded`), so sealing them again under their seed gives the
//! same bytes: [`tests::the_committed_vectors_are_regenerated_byte_for_byte`]
//! does, and so fails on any change to the format. Failing vectors are
//! derived from the valid ones by the mutations in [`derived`], each named in
//! its file. `scripts/make-testkit.sh` rewrites the folder.

mod derived;
mod valid;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::KeyPair;

/// The fixed keys, committed beside the vectors (2048 bits: fast enough
/// for every test run).
pub(crate) struct Keys {
    pub client: KeyPair,
    pub server: KeyPair,
}

pub(crate) const CLIENT_KEY_FILE: &str = "client_private.pem";
pub(crate) const SERVER_KEY_FILE: &str = "server_private.pem";

pub(crate) fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        // On the RustCrypto backend whatever the build's default: only its
        // randomness can be seeded, so only it reproduces a vector.
        let load = |pem| {
            KeyPair::from_pem(pem, Path::new("testkit"))
                .expect("testkit key")
                .with_backend(crate::Backend::RustCrypto)
        };
        Keys {
            client: load(include_str!(
                "../../tests/testdata/testkit/client_private.pem"
            )),
            server: load(include_str!(
                "../../tests/testdata/testkit/server_private.pem"
            )),
        }
    })
}

/// The folder the vectors live in.
pub(crate) fn folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/testkit")
}

/// One vector file: `key: value` lines, a blank line, then `[name]`
/// sections of hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Vector {
    pub name: String,
    pub fields: Vec<(&'static str, String)>,
    pub sections: Vec<(&'static str, Vec<u8>)>,
}

/// Bytes per hex line, so that a diff of two vectors points at the bytes
/// that changed.
const HEX_LINE_BYTES: usize = 32;

impl Vector {
    pub(crate) fn new(name: &str) -> Self {
        Vector {
            name: name.to_owned(),
            fields: Vec::new(),
            sections: Vec::new(),
        }
    }

    pub(crate) fn field(mut self, key: &'static str, value: impl ToString) -> Self {
        self.set(key, value);
        self
    }

    /// Replaces `key`'s value where it stands, or appends it.
    pub(crate) fn set(&mut self, key: &'static str, value: impl ToString) {
        let value = value.to_string();
        match self.fields.iter_mut().find(|(k, _)| *k == key) {
            Some(field) => field.1 = value,
            None => self.fields.push((key, value)),
        }
    }

    pub(crate) fn section(mut self, name: &'static str, bytes: impl Into<Vec<u8>>) -> Self {
        self.sections.push((name, bytes.into()));
        self
    }

    /// The bytes of the one section called `name`.
    pub(crate) fn bytes(&self, name: &str) -> &[u8] {
        let mut found = self.sections.iter().filter(|(n, _)| *n == name);
        let bytes = found.next().expect("the section is there");
        assert!(found.next().is_none(), "one section called {name}");
        &bytes.1
    }

    /// The bytes of the one section called `name`, to change them.
    pub(crate) fn bytes_mut(&mut self, name: &str) -> &mut Vec<u8> {
        let mut found = self.sections.iter_mut().filter(|(n, _)| *n == name);
        let bytes = found.next().expect("the section is there");
        assert!(found.next().is_none(), "one section called {name}");
        &mut bytes.1
    }

    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        for (key, value) in &self.fields {
            writeln!(out, "{key}: {value}").unwrap();
        }
        for (name, bytes) in &self.sections {
            write!(out, "\n[{name}]\n").unwrap();
            for line in bytes.chunks(HEX_LINE_BYTES) {
                writeln!(out, "{}", hex(line)).unwrap();
            }
        }
        out
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

mod tests;
