//! The clients a server accepts messages from: `KEYS/client_public.pem`
//! (named `client`) and every `KEYS/authorized/NAME.pem` (named `NAME`).

use std::collections::HashMap;
use std::fs;

use anyhow::{Context, bail};
use cloak_core::keydir::{KeyDir, Role};
use cloak_core::{Fingerprint, PublicKey};

/// One authorized client.
#[derive(Debug, Clone)]
pub struct Client {
    /// Its name: the key file's stem.
    pub name: String,
    /// Its public key.
    pub key: PublicKey,
}

/// Authorized clients by fingerprint.
#[derive(Debug, Default)]
pub struct Authorized {
    by_fingerprint: HashMap<Fingerprint, Client>,
}

impl Authorized {
    /// Loads every authorized key in `keys`. A file that fails to load is
    /// an error (silently skipping it would lock a user out without a word).
    pub fn load(keys: &KeyDir) -> anyhow::Result<Self> {
        let mut authorized = Authorized::default();
        let default = keys.public_path(Role::Client);
        if default.exists() {
            authorized.add("client", PublicKey::load(&default)?)?;
        }
        let dir = keys.authorized_dir();
        if dir.is_dir() {
            let mut paths: Vec<_> = fs::read_dir(&dir)
                .with_context(|| format!("reading {}", dir.display()))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "pem"))
                .collect();
            paths.sort();
            for path in paths {
                let name = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .with_context(|| format!("{}: file name is not UTF-8", path.display()))?
                    .to_owned();
                authorized.add(&name, PublicKey::load(&path)?)?;
            }
        }
        Ok(authorized)
    }

    fn add(&mut self, name: &str, key: PublicKey) -> anyhow::Result<()> {
        let fingerprint = key.fingerprint();
        if let Some(existing) = self.by_fingerprint.get(&fingerprint) {
            bail!(
                "key {fingerprint} is authorized twice, as `{}` and `{name}`: remove one",
                existing.name
            );
        }
        self.by_fingerprint.insert(
            fingerprint,
            Client {
                name: name.to_owned(),
                key,
            },
        );
        Ok(())
    }

    /// The client with this fingerprint, if authorized.
    pub fn get(&self, fingerprint: &Fingerprint) -> Option<&Client> {
        self.by_fingerprint.get(fingerprint)
    }

    /// The client with this name, if authorized.
    pub fn by_name(&self, name: &str) -> Option<&Client> {
        self.by_fingerprint.values().find(|c| c.name == name)
    }

    /// Every authorized client, sorted by name.
    pub fn clients(&self) -> Vec<&Client> {
        let mut clients: Vec<_> = self.by_fingerprint.values().collect();
        clients.sort_by(|a, b| a.name.cmp(&b.name));
        clients
    }

    /// How many clients are authorized.
    pub fn len(&self) -> usize {
        self.by_fingerprint.len()
    }

    /// Whether no client is authorized.
    pub fn is_empty(&self) -> bool {
        self.by_fingerprint.is_empty()
    }
}
