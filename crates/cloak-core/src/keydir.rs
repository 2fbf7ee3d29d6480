//! The key folder layout shared by both programs, named as in the Python
//! original so one folder can serve both sides on one machine:
//! `server_private.pem`, `server_public.pem`, `client_private.pem`,
//! `client_public.pem`, and `authorized/NAME.pem` for further clients.

use std::fs;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::error::KeyError;
use crate::keys::{KeyPair, PublicKey};

/// Which side a key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `cloak-server`.
    Server,
    /// `cloak-client`.
    Client,
}

impl Role {
    fn stem(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Client => "client",
        }
    }

    fn program(self) -> &'static str {
        match self {
            Role::Server => "cloak-server",
            Role::Client => "cloak-client",
        }
    }
}

/// A key folder.
#[derive(Debug, Clone)]
pub struct KeyDir {
    root: PathBuf,
}

impl KeyDir {
    /// The folder at `root` (which need not exist yet).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        KeyDir { root: root.into() }
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `ROLE_private.pem`.
    pub fn private_path(&self, role: Role) -> PathBuf {
        self.root.join(format!("{}_private.pem", role.stem()))
    }

    /// `ROLE_public.pem`.
    pub fn public_path(&self, role: Role) -> PathBuf {
        self.root.join(format!("{}_public.pem", role.stem()))
    }

    /// `authorized/`, where a server keeps further clients' public keys.
    pub fn authorized_dir(&self) -> PathBuf {
        self.root.join("authorized")
    }

    /// Generates and writes a key pair for `role`; refuses to replace
    /// existing files unless `force`. Creates the folder (mode 0700) if
    /// needed.
    pub fn generate(&self, role: Role, bits: usize, force: bool) -> Result<KeyPair, KeyError> {
        self.generate_encrypted(role, bits, force, None)
    }

    /// [`KeyDir::generate`], the private key encrypted under `passphrase`
    /// when one is given (see `KeyPair::to_encrypted_pkcs8_pem`).
    pub fn generate_encrypted(
        &self,
        role: Role,
        bits: usize,
        force: bool,
        passphrase: Option<&[u8]>,
    ) -> Result<KeyPair, KeyError> {
        if !self.root.exists() {
            create_private_dir(&self.root)?;
        }
        let pair = KeyPair::generate(bits)?;
        let (private, public) = (self.private_path(role), self.public_path(role));
        pair.save_with_passphrase(&private, &public, force, passphrase)?;
        Ok(pair)
    }

    /// Loads `role`'s own private key, explaining how to create it if
    /// absent. A passphrase-protected key is refused with
    /// [`KeyError::PassphraseRequired`]; see [`KeyDir::load_own_with`].
    pub fn load_own(&self, role: Role) -> Result<KeyPair, KeyError> {
        self.load_own_with(role, |path| {
            Err(KeyError::PassphraseRequired {
                path: path.to_path_buf(),
            })
        })
    }

    /// [`KeyDir::load_own`], asking `passphrase` (given the key file's
    /// path, to name it in a prompt) only if the key is encrypted.
    pub fn load_own_with(
        &self,
        role: Role,
        passphrase: impl FnOnce(&Path) -> Result<Zeroizing<Vec<u8>>, KeyError>,
    ) -> Result<KeyPair, KeyError> {
        let path = self.private_path(role);
        if !path.exists() {
            return Err(KeyError::Missing {
                path,
                hint: format!(
                    "run `{} generate_key_pair --keys {}` to create it",
                    role.program(),
                    self.root.display()
                ),
            });
        }
        KeyPair::load_with_passphrase(&path, || passphrase(&path))
    }

    /// Loads the other side's public key (`peer`), explaining where it
    /// comes from if absent.
    pub fn load_peer(&self, peer: Role) -> Result<PublicKey, KeyError> {
        let path = self.public_path(peer);
        if !path.exists() {
            return Err(KeyError::Missing {
                hint: format!(
                    "copy the {} public key here (`{} generate_key_pair` creates it on that side)",
                    peer.stem(),
                    peer.program()
                ),
                path,
            });
        }
        PublicKey::load(&path)
    }
}

fn create_private_dir(path: &Path) -> Result<(), KeyError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path).map_err(|source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    })
}
