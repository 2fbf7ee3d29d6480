//! The clients a server accepts messages from: `KEYS/client_public.pem`
//! (named `client`) and every `KEYS/authorized/NAME.pem` (named `NAME`).
//!
//! A name is one client, and a key one name: two files with one name, or
//! one key in two files, are an error at start naming both files. Taking
//! either would send that name's messages to whichever key won.
//!
//! A running server re-reads the folder when its files change, as sshd
//! reads `authorized_keys` anew: removing a key file revokes that client
//! for new connections and adding one authorizes it, without a restart.
//! Each change publishes a new immutable [`Authorized`] snapshot
//! ([`Live`]); a connection takes the snapshot in force when it is accepted
//! and keeps it to its end, so no request is judged against two sets. While
//! running, nothing the operator puts in the folder can take a client's
//! name or key away from it: a newcomer that conflicts with a file already
//! authorized is ignored with a logged line naming both, and a file that
//! fails to load keeps the key it held (logged), as a file caught half
//! written would otherwise lock its client out.
//!
//! Changes are found by polling: a thread compares each key file's size,
//! times and inode once a second ([`live::POLL`]) and loads keys only when those
//! differ. Loading every key for each connection instead would cost about
//! 50 µs per authorized 3072-bit key (read, parse, hash: 1000 keys took
//! 50 ms), a millisecond per connection with 20 clients, beside the few
//! milliseconds of the connection's own RSA work; the look costs one
//! `stat` per key file once a second, whatever the traffic. A revocation
//! therefore takes effect within about a second, not at the very next
//! connection as in sshd. A file-notification crate would save that second
//! at the price of a dependency with a backend per platform, for a folder
//! edited by hand.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::hash::Hash;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use cloak_core::keydir::{KeyDir, Role};
use cloak_core::{Fingerprint, PublicKey};
use tracing::warn;

/// One authorized client.
#[derive(Debug, Clone)]
pub struct Client {
    /// Its name: the key file's stem.
    pub name: String,
    /// Its public key.
    pub key: PublicKey,
    /// The key file it was loaded from.
    pub file: PathBuf,
}

/// Authorized clients by fingerprint: one snapshot of the key folder.
#[derive(Debug, Default)]
pub struct Authorized {
    by_fingerprint: HashMap<Fingerprint, Client>,
}

impl Authorized {
    /// Loads every authorized key in `keys`. A file that fails to load is
    /// an error (silently skipping it would lock a user out without a
    /// word), and so are two files with one name or one key.
    pub fn load(keys: &KeyDir) -> anyhow::Result<Self> {
        let mut clients = Vec::new();
        for KeyFile { file, name } in key_files(keys)? {
            let name = name?;
            let key = PublicKey::load(&file)?;
            clients.push(Client { name, key, file });
        }
        let (authorized, conflicts) = resolve(clients, None);
        if !conflicts.is_empty() {
            let lines: Vec<String> = conflicts.iter().map(Conflict::at_start).collect();
            bail!("{}", lines.join("; "));
        }
        Ok(authorized)
    }

    /// The folder as it is now, judged against `self` (the snapshot in
    /// force): what fails to load or conflicts is logged and left out,
    /// never taking a name or key away from a file that holds it. `None`
    /// when the folder cannot be listed: nothing changes then.
    fn reload(&self, keys: &KeyDir) -> Option<Authorized> {
        let files = match key_files(keys) {
            Ok(files) => files,
            Err(e) => {
                warn!("{e:#}; the authorized clients stay as they were");
                return None;
            }
        };
        let mut clients = Vec::new();
        for KeyFile { file, name } in files {
            let name = match name {
                Ok(name) => name,
                Err(e) => {
                    warn!("{e:#}; ignored");
                    continue;
                }
            };
            match PublicKey::load(&file) {
                Ok(key) => clients.push(Client { name, key, file }),
                Err(e) => match self.by_file(&file) {
                    Some(held) => {
                        warn!("{e}; keeping the key it held ({})", held.key.fingerprint());
                        clients.push(held.clone());
                    }
                    None => warn!("{e}; ignored"),
                },
            }
        }
        let (authorized, conflicts) = resolve(clients, Some(self));
        for conflict in &conflicts {
            warn!("{}", conflict.while_running());
        }
        Some(authorized)
    }

    /// The client with this fingerprint, if authorized.
    pub fn get(&self, fingerprint: &Fingerprint) -> Option<&Client> {
        self.by_fingerprint.get(fingerprint)
    }

    /// The client with this name, if authorized.
    pub fn by_name(&self, name: &str) -> Option<&Client> {
        self.by_fingerprint.values().find(|c| c.name == name)
    }

    fn by_file(&self, file: &Path) -> Option<&Client> {
        self.by_fingerprint.values().find(|c| c.file == file)
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

/// A key file and the client name it gives.
struct KeyFile {
    file: PathBuf,
    /// `client` for `client_public.pem`, else the file's stem; an error
    /// for a stem that is not UTF-8.
    name: anyhow::Result<String>,
}

/// The key files of `keys`, in a fixed order: `client_public.pem`, then
/// `authorized/*.pem` sorted.
fn key_files(keys: &KeyDir) -> anyhow::Result<Vec<KeyFile>> {
    let mut files = Vec::new();
    let default = keys.public_path(Role::Client);
    if default.exists() {
        files.push(KeyFile {
            file: default,
            name: Ok("client".to_owned()),
        });
    }
    let dir = keys.authorized_dir();
    if dir.is_dir() {
        let mut paths: Vec<_> = fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "pem"))
            .collect();
        paths.sort();
        files.extend(paths.into_iter().map(|file| {
            let name = file
                .file_stem()
                .and_then(|s| s.to_str())
                .map(str::to_owned)
                .with_context(|| format!("{}: file name is not UTF-8", file.display()));
            KeyFile { file, name }
        }));
    }
    Ok(files)
}

/// Files that claim one name or one key.
struct Conflict {
    what: Claim,
    /// Every file making the claim, the one that keeps it first.
    files: Vec<PathBuf>,
    /// Whether the first file keeps the claim (it held it before).
    kept: bool,
}

enum Claim {
    Name(String),
    Key(Fingerprint),
}

fn list(files: &[PathBuf]) -> String {
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.join(""),
    }
}

impl Conflict {
    /// The error at start, when no file holds anything yet.
    fn at_start(&self) -> String {
        match &self.what {
            Claim::Name(name) => format!(
                "authorized key files {} have the same name `{name}`: remove or rename all but one",
                list(&self.files)
            ),
            Claim::Key(fingerprint) => format!(
                "authorized key files {} hold the same key {fingerprint}: remove all but one",
                list(&self.files)
            ),
        }
    }

    /// The logged line while running.
    fn while_running(&self) -> String {
        let what = match &self.what {
            Claim::Name(name) => format!("the name `{name}`"),
            Claim::Key(fingerprint) => format!("the key {fingerprint}"),
        };
        if self.kept {
            format!(
                "ignored {}: {what} is already authorized by {}, which keeps it; remove or rename one",
                list(&self.files[1..]),
                self.files[0].display()
            )
        } else {
            format!(
                "ignored {}: they share {what}, which none of them held; remove or rename all but one",
                list(&self.files)
            )
        }
    }
}

/// The snapshot `found` makes, where each name and each key belongs to one
/// file. With `previous` (while running), a file of the snapshot in force
/// keeps its claim against newcomers, and newcomers that claim something
/// together are all left out; the conflicts are returned either way.
fn resolve(mut found: Vec<Client>, previous: Option<&Authorized>) -> (Authorized, Vec<Conflict>) {
    let held_files: HashSet<&Path> = previous
        .map(|p| {
            p.by_fingerprint
                .values()
                .map(|c| c.file.as_path())
                .collect()
        })
        .unwrap_or_default();
    let held = |c: &Client| held_files.contains(c.file.as_path());
    // Files already authorized first (the sort is stable: folder order
    // otherwise), so that each claim's first file is the one holding it.
    found.sort_by_key(|c| !held(c));
    let mut conflicts = Vec::new();
    let found = unique(
        found,
        |c| c.name.clone(),
        held,
        &mut conflicts,
        |c| Claim::Name(c.name.clone()),
    );
    let found = unique(
        found,
        |c| c.key.fingerprint(),
        held,
        &mut conflicts,
        |c| Claim::Key(c.key.fingerprint()),
    );
    let by_fingerprint = found
        .into_iter()
        .map(|c| (c.key.fingerprint(), c))
        .collect();
    (Authorized { by_fingerprint }, conflicts)
}

/// Keeps the clients whose `claim` no other makes, and of those that share
/// one, the first if it is `held`; records each shared claim.
fn unique<K: Eq + Hash>(
    clients: Vec<Client>,
    claim: impl Fn(&Client) -> K,
    held: impl Fn(&Client) -> bool,
    conflicts: &mut Vec<Conflict>,
    what: impl Fn(&Client) -> Claim,
) -> Vec<Client> {
    let mut groups: Vec<Vec<Client>> = Vec::new();
    let mut index: HashMap<K, usize> = HashMap::new();
    for client in clients {
        match index.get(&claim(&client)) {
            Some(&at) => groups[at].push(client),
            None => {
                index.insert(claim(&client), groups.len());
                groups.push(vec![client]);
            }
        }
    }
    let mut kept = Vec::new();
    for mut group in groups {
        if group.len() == 1 {
            kept.extend(group);
            continue;
        }
        let first_held = held(&group[0]);
        conflicts.push(Conflict {
            what: what(&group[0]),
            files: group.iter().map(|c| c.file.clone()).collect(),
            kept: first_held,
        });
        if first_held {
            group.truncate(1);
            kept.extend(group);
        }
    }
    kept
}

pub mod live;

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/python-keys")
            .join(name)
    }

    /// A key folder; `files` are (path in it, fixture public key).
    fn folder(files: &[(&str, &str)]) -> (tempfile::TempDir, KeyDir) {
        let dir = tempfile::tempdir().unwrap();
        for (path, key) in files {
            let to = dir.path().join(path);
            fs::create_dir_all(to.parent().unwrap()).unwrap();
            fs::copy(fixture(key), to).unwrap();
        }
        let keys = KeyDir::new(dir.path());
        (dir, keys)
    }

    const A: &str = "client_public.pem";
    const B: &str = "server_public.pem";

    #[test]
    fn newcomers_claiming_one_name_or_key_together_are_all_left_out() {
        let (_dir, keys) = folder(&[
            ("client_public.pem", A),
            ("authorized/client.pem", B),
            ("authorized/x.pem", A),
        ]);
        // At start: an error naming the files.
        let err = Authorized::load(&keys).unwrap_err().to_string();
        assert!(err.contains("authorized/client.pem"), "{err}");
        // While running, after an empty folder: nobody gets `client`, and
        // with it gone, the key is `x`'s alone.
        let after = Authorized::default().reload(&keys).unwrap();
        let names: Vec<_> = after.clients().iter().map(|c| c.name.clone()).collect();
        assert_eq!(names, ["x"]);
    }

    #[test]
    fn a_held_claim_is_kept_against_newcomers() {
        let (dir, keys) = folder(&[("authorized/a.pem", A)]);
        let before = Authorized::load(&keys).unwrap();
        fs::copy(fixture(A), dir.path().join("authorized/b.pem")).unwrap();
        fs::copy(fixture(B), dir.path().join("authorized/c.pem")).unwrap();
        let after = before.reload(&keys).unwrap();
        let names: Vec<_> = after.clients().iter().map(|c| c.name.clone()).collect();
        assert_eq!(names, ["a", "c"], "b claims a's key");
        // Removed, it is revoked; its key is then free for `b`.
        fs::remove_file(dir.path().join("authorized/a.pem")).unwrap();
        let later = after.reload(&keys).unwrap();
        let names: Vec<_> = later.clients().iter().map(|c| c.name.clone()).collect();
        assert_eq!(names, ["b", "c"]);
    }

    /// Each lookup finds the client it names and nobody else: the key by
    /// its fingerprint (who may send), the name (whose mailbox), the file.
    #[test]
    fn lookups_find_exactly_the_client_named() {
        let (dir, keys) = folder(&[("client_public.pem", A), ("authorized/bob.pem", B)]);
        let authorized = Authorized::load(&keys).unwrap();
        assert_eq!((authorized.len(), authorized.is_empty()), (2, false));
        assert!(Authorized::default().is_empty());
        let a = cloak_core::PublicKey::load(&fixture(A))
            .unwrap()
            .fingerprint();
        let b = cloak_core::PublicKey::load(&fixture(B))
            .unwrap()
            .fingerprint();
        assert_eq!(authorized.get(&a).map(|c| c.name.as_str()), Some("client"));
        assert_eq!(authorized.get(&b).map(|c| c.name.as_str()), Some("bob"));
        let stranger: Fingerprint = "SHA256:qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqo"
            .parse()
            .unwrap();
        assert!(authorized.get(&stranger).is_none());
        assert_eq!(
            authorized.by_name("bob").map(|c| c.key.fingerprint()),
            Some(b)
        );
        assert_eq!(
            authorized.by_name("client").map(|c| c.key.fingerprint()),
            Some(a)
        );
        assert!(authorized.by_name("carol").is_none());
        let bob_file = dir.path().join("authorized/bob.pem");
        assert_eq!(
            authorized.by_file(&bob_file).map(|c| c.name.as_str()),
            Some("bob")
        );
        assert!(
            authorized
                .by_file(&dir.path().join("authorized/x.pem"))
                .is_none()
        );
    }

    #[test]
    fn conflicting_files_are_listed_in_words() {
        let files = |names: &[&str]| names.iter().map(PathBuf::from).collect::<Vec<_>>();
        assert_eq!(list(&files(&["a"])), "a");
        assert_eq!(list(&files(&["a", "b"])), "a and b");
        assert_eq!(list(&files(&["a", "b", "c"])), "a, b and c");
    }

    #[test]
    fn the_live_set_follows_the_folder_and_snapshots_stay() {
        let (dir, keys) = folder(&[("authorized/a.pem", A)]);
        let live = live::Live::start(keys).unwrap();
        let held = live.current();
        fs::remove_file(dir.path().join("authorized/a.pem")).unwrap();
        let deadline = std::time::Instant::now() + 10 * live::POLL;
        while !live.current().is_empty() {
            assert!(std::time::Instant::now() < deadline, "not re-read");
            std::thread::sleep(live::POLL / 10);
        }
        assert_eq!(held.len(), 1, "a snapshot never changes");
    }
}
