//! RSA key pairs and public keys: generation, PEM encodings, and the
//! backend each is parsed for.
//!
//! Private keys are written as PKCS#8 PEM (encrypted under a passphrase
//! when asked, see `encrypted`) with mode 0600, and read back only from
//! regular files of the user the program runs as that nobody else can read
//! (as ssh does; see `file`). PKCS#1 files, as written by `openssl genrsa
//! -traditional` and the Python proof of concept, load unchanged, and so do
//! python-rsa's keys of unequal primes (see `wide`). Private key material
//! is zeroized when dropped (by `rsa::PrivateKey` itself, and by us for PEM
//! text).

use std::path::Path;

mod encrypted;
mod file;
mod wide;

pub use file::read_passphrase_file;
use file::{Secrecy, place, read_key_file, staged};

use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use rsa::traits::PublicKeyParts;
use zeroize::Zeroizing;

use crate::backend::{self, Backend};
use crate::error::KeyError;
use crate::fingerprint::Fingerprint;
use crate::limits::SUPPORTED_RSA_BITS;

/// An RSA public key with its fingerprint computed once, parsed for one
/// crypto [`Backend`].
#[derive(Clone)]
pub struct PublicKey {
    key: rsa::PublicKey,
    fingerprint: Fingerprint,
    /// aws-lc's parse of the key, when that backend runs its operations.
    #[cfg(feature = "aws-lc")]
    aws_lc: Option<backend::aws_lc::PublicKey>,
}

/// The same key is the same key on any backend.
impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for PublicKey {}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({} bits, {})", self.bits(), self.fingerprint)
    }
}

impl PublicKey {
    /// The checked key, for the RustCrypto backend (the rsa crate's type,
    /// which every key has): a caller moves it to its backend once.
    fn checked(key: rsa::PublicKey) -> Result<Self, KeyError> {
        check_size(key.size() * 8)?;
        // The public exponent sets the cost of a signature check: the one
        // everybody uses, so that every key's check costs the same.
        if key.e_bytes()[..] != [0x01, 0x00, 0x01] {
            return Err(KeyError::UnsupportedExponent);
        }
        let der = key
            .to_public_key_der()
            .map_err(|e| KeyError::Backend(e.to_string()))?;
        let fingerprint = Fingerprint(backend::sha256(der.as_bytes()));
        Ok(PublicKey {
            key,
            fingerprint,
            #[cfg(feature = "aws-lc")]
            aws_lc: None,
        })
    }

    /// This key, with its operations run on `backend`. Keys are parsed for
    /// the default backend when read; this is for running two side by side.
    pub fn with_backend(&self, backend: Backend) -> Self {
        self.clone().into_backend(backend)
    }

    fn into_backend(self, backend: Backend) -> Self {
        match backend {
            Backend::RustCrypto => PublicKey {
                #[cfg(feature = "aws-lc")]
                aws_lc: None,
                ..self
            },
            #[cfg(feature = "aws-lc")]
            Backend::AwsLc => {
                let der = self.key.to_public_key_der().ok();
                let aws_lc =
                    der.and_then(|der| backend::aws_lc::PublicKey::from_spki(der.as_bytes()));
                PublicKey { aws_lc, ..self }
            }
        }
    }

    /// The backend this key's operations run on: the one asked for, or
    /// RustCrypto for a key the other backend refused.
    pub fn backend(&self) -> Backend {
        #[cfg(feature = "aws-lc")]
        if self.aws_lc.is_some() {
            return Backend::AwsLc;
        }
        Backend::RustCrypto
    }

    #[cfg(feature = "aws-lc")]
    pub(crate) fn aws_lc(&self) -> Option<&backend::aws_lc::PublicKey> {
        self.aws_lc.as_ref()
    }

    /// Parses a PEM public key: SPKI (`PUBLIC KEY`) or PKCS#1
    /// (`RSA PUBLIC KEY`). `origin` names the source in errors.
    pub fn from_pem(pem: &str, origin: &Path) -> Result<Self, KeyError> {
        let malformed = |reason: String| KeyError::Malformed {
            path: origin.to_path_buf(),
            reason,
        };
        let key = match pem_label(pem) {
            Some("PUBLIC KEY") => {
                rsa::PublicKey::from_public_key_pem(pem).map_err(|e| malformed(e.to_string()))?
            }
            Some("RSA PUBLIC KEY") => {
                rsa::PublicKey::from_pkcs1_pem(pem).map_err(|e| malformed(e.to_string()))?
            }
            Some("PRIVATE KEY" | "RSA PRIVATE KEY" | "ENCRYPTED PRIVATE KEY") => {
                return Err(KeyError::PrivateWherePublicExpected {
                    path: origin.to_path_buf(),
                });
            }
            Some(other) => return Err(malformed(format!("unexpected PEM block `{other}`"))),
            None => return Err(malformed("no PEM `-----BEGIN ...-----` line found".into())),
        };
        Ok(Self::checked(key)?.into_backend(Backend::default()))
    }

    /// Reads a public key file (no permission check: public keys are
    /// public; a symbolic link is followed).
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let pem = read_key_file(path, Secrecy::Public)?;
        Self::from_pem(&pem, path)
    }

    /// SPKI PEM text.
    pub fn to_pem(&self) -> Result<String, KeyError> {
        self.key
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| KeyError::Backend(e.to_string()))
    }

    /// The key's fingerprint.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        self.key.size() * 8
    }

    pub(crate) fn rsa(&self) -> &rsa::PublicKey {
        &self.key
    }

    /// Modulus length in bytes: the length of every OAEP block and
    /// signature made with this key.
    pub(crate) fn modulus_len(&self) -> usize {
        self.key.size()
    }
}

/// A private key with its public half.
pub struct KeyPair {
    private: rsa::PrivateKey,
    public: PublicKey,
    wide: bool,
    /// aws-lc's parse of the key, when that backend runs its operations.
    #[cfg(feature = "aws-lc")]
    aws_lc: Option<backend::aws_lc::PrivateKey>,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print private material, even in debug output.
        write!(f, "KeyPair({:?})", self.public)
    }
}

impl KeyPair {
    /// Generates a fresh key pair of `bits` bits (2048, 3072 or 4096).
    pub fn generate(bits: usize) -> Result<Self, KeyError> {
        if !SUPPORTED_RSA_BITS.contains(&bits) {
            return Err(KeyError::UnsupportedSize { bits });
        }
        let private = rsa::PrivateKey::new(&mut rand::rng(), bits)
            .map_err(|e| KeyError::Backend(e.to_string()))?;
        Self::from_rsa(private)
    }

    fn from_rsa(private: rsa::PrivateKey) -> Result<Self, KeyError> {
        let public = PublicKey::checked(private.to_public_key())?;
        let pair = KeyPair {
            private,
            public,
            wide: false,
            #[cfg(feature = "aws-lc")]
            aws_lc: None,
        };
        Ok(pair.into_backend(Backend::default()))
    }

    /// This key pair, with its operations (and its public half's) run on
    /// `backend`. Keys are parsed for the default backend when read; this
    /// is for running two side by side.
    pub fn with_backend(&self, backend: Backend) -> Self {
        let copy = KeyPair {
            private: self.private.clone(),
            public: self.public.clone(),
            wide: self.wide,
            #[cfg(feature = "aws-lc")]
            aws_lc: None,
        };
        copy.into_backend(backend)
    }

    fn into_backend(self, backend: Backend) -> Self {
        let public = self.public.into_backend(backend);
        match backend {
            Backend::RustCrypto => KeyPair {
                public,
                #[cfg(feature = "aws-lc")]
                aws_lc: None,
                ..self
            },
            #[cfg(feature = "aws-lc")]
            Backend::AwsLc => {
                // The rsa crate's own encoding of what it decoded: the same
                // key whatever the file's format, python-rsa's included.
                let der = self.private.to_pkcs8_der().ok();
                let aws_lc =
                    der.and_then(|der| backend::aws_lc::PrivateKey::from_pkcs8(der.as_bytes()));
                KeyPair {
                    public,
                    aws_lc,
                    ..self
                }
            }
        }
    }

    /// The backend this key's private-key operations run on: the one asked
    /// for, or RustCrypto for a key the other backend refused.
    pub fn backend(&self) -> Backend {
        #[cfg(feature = "aws-lc")]
        if self.aws_lc.is_some() {
            return Backend::AwsLc;
        }
        Backend::RustCrypto
    }

    #[cfg(feature = "aws-lc")]
    pub(crate) fn aws_lc(&self) -> Option<&backend::aws_lc::PrivateKey> {
        self.aws_lc.as_ref()
    }

    /// Whether this key's primes differ in size (python-rsa makes such
    /// keys), so that its private-key operations run on modulus-wide
    /// numbers, on either backend: measured about six times slower than a
    /// key of equal primes.
    /// Worth a warning to whoever relies on its speed (a server).
    pub fn has_unequal_primes(&self) -> bool {
        self.wide
    }

    /// Parses a PEM private key: PKCS#8 (`PRIVATE KEY`) or PKCS#1
    /// (`RSA PRIVATE KEY`). `origin` names the source in errors.
    pub fn from_pem(pem: &str, origin: &Path) -> Result<Self, KeyError> {
        let malformed = |reason: String| KeyError::Malformed {
            path: origin.to_path_buf(),
            reason,
        };
        // A key of unbalanced primes (python-rsa's) needs another import,
        // chosen from the file's own encoding (see `wide`).
        let private = match pem_label(pem) {
            Some("PRIVATE KEY" | "RSA PRIVATE KEY") if let Some(key) = wide::decode(pem) => {
                let pair = Self::from_rsa(key)?;
                return Ok(KeyPair { wide: true, ..pair });
            }
            Some("PRIVATE KEY") => {
                rsa::PrivateKey::from_pkcs8_pem(pem).map_err(|e| malformed(e.to_string()))?
            }
            Some("RSA PRIVATE KEY") => {
                rsa::PrivateKey::from_pkcs1_pem(pem).map_err(|e| malformed(e.to_string()))?
            }
            Some("ENCRYPTED PRIVATE KEY") => {
                return Err(KeyError::PassphraseRequired {
                    path: origin.to_path_buf(),
                });
            }
            Some("PUBLIC KEY" | "RSA PUBLIC KEY") => {
                return Err(KeyError::PublicWherePrivateExpected {
                    path: origin.to_path_buf(),
                });
            }
            Some(other) => return Err(malformed(format!("unexpected PEM block `{other}`"))),
            None => return Err(malformed("no PEM `-----BEGIN ...-----` line found".into())),
        };
        Self::from_rsa(private)
    }

    /// Parses a PEM private key that may be passphrase-protected (PKCS#8
    /// `ENCRYPTED PRIVATE KEY`, PBES2): `passphrase` is called only for
    /// such a key whose scheme and work are acceptable, at most once, and
    /// what it returns is zeroized after use.
    pub fn from_pem_with_passphrase(
        pem: &str,
        origin: &Path,
        passphrase: impl FnOnce() -> Result<Zeroizing<Vec<u8>>, KeyError>,
    ) -> Result<Self, KeyError> {
        if !encrypted::is_encrypted(pem) {
            return Self::from_pem(pem, origin);
        }
        // The file's scheme and work factor first: nobody types a
        // passphrase for a file that is then refused.
        let checked = encrypted::check(pem, origin)?;
        let plain = encrypted::decrypt(&checked, &passphrase()?, origin)?;
        Self::from_pem(&plain, origin)
    }

    /// Reads a private key file, refusing a symbolic link, anything but a
    /// regular file, a file of another user, and one that group or others
    /// can access. A passphrase-protected key is refused with
    /// [`KeyError::PassphraseRequired`]; see [`KeyPair::load_with_passphrase`].
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        Self::load_with_passphrase(path, || {
            Err(KeyError::PassphraseRequired {
                path: path.to_path_buf(),
            })
        })
    }

    /// [`KeyPair::load`], decrypting a passphrase-protected key with what
    /// `passphrase` returns (called only for such a key).
    pub fn load_with_passphrase(
        path: &Path,
        passphrase: impl FnOnce() -> Result<Zeroizing<Vec<u8>>, KeyError>,
    ) -> Result<Self, KeyError> {
        let pem = read_key_file(path, Secrecy::Private)?;
        Self::from_pem_with_passphrase(&pem, path, passphrase)
    }

    /// PKCS#8 PEM text encrypted under `passphrase` (scrypt, AES-256-CBC;
    /// see `keys/encrypted.rs`), as openssl reads it.
    pub fn to_encrypted_pkcs8_pem(&self, passphrase: &[u8]) -> Result<Zeroizing<String>, KeyError> {
        let der = self
            .private
            .to_pkcs8_der()
            .map_err(|e| KeyError::Backend(e.to_string()))?;
        encrypted::encrypt(der.as_bytes(), passphrase)
    }

    /// PKCS#8 PEM text, zeroized when dropped.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        self.private
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| KeyError::Backend(e.to_string()))
    }

    /// Writes `private_path` (PKCS#8, mode 0600) and `public_path` (SPKI).
    ///
    /// Without `overwrite`, fails if either file exists and writes nothing.
    /// With it, each file is replaced atomically: written to a temporary file
    /// in the same directory (mode 0600 from creation) and renamed over.
    pub fn save(
        &self,
        private_path: &Path,
        public_path: &Path,
        overwrite: bool,
    ) -> Result<(), KeyError> {
        self.save_with_passphrase(private_path, public_path, overwrite, None)
    }

    /// [`KeyPair::save`], the private key encrypted under `passphrase`
    /// when one is given.
    pub fn save_with_passphrase(
        &self,
        private_path: &Path,
        public_path: &Path,
        overwrite: bool,
        passphrase: Option<&[u8]>,
    ) -> Result<(), KeyError> {
        if !overwrite {
            for path in [private_path, public_path] {
                if path.exists() {
                    return Err(KeyError::AlreadyExists {
                        path: path.to_path_buf(),
                    });
                }
            }
        }
        let private_pem = match passphrase {
            Some(passphrase) => self.to_encrypted_pkcs8_pem(passphrase)?,
            None => self.to_pkcs8_pem()?,
        };
        let public_pem = self.public.to_pem()?;
        // Both files are written in full before either takes its name, so
        // a failure (a full disk) leaves the old pair, or nothing, never a
        // new private key beside an old public one.
        let private = staged(private_path, private_pem.as_bytes(), 0o600)?;
        let public = staged(public_path, public_pem.as_bytes(), 0o644)?;
        place(private, private_path, overwrite)?;
        place(public, public_path, overwrite)
    }

    /// The public half.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// Fingerprint of the public half.
    pub fn fingerprint(&self) -> Fingerprint {
        self.public.fingerprint
    }

    pub(crate) fn rsa(&self) -> &rsa::PrivateKey {
        &self.private
    }
}

/// Only the supported sizes, counted in whole bytes as signatures are:
/// a signature check costs the same for every key only because there is a
/// stand-in key of each of these lengths (see `standin`).
fn check_size(bits: usize) -> Result<(), KeyError> {
    if SUPPORTED_RSA_BITS.contains(&bits) {
        Ok(())
    } else {
        Err(KeyError::UnsupportedSize { bits })
    }
}

/// The label of the first `-----BEGIN X-----` line.
fn pem_label(pem: &str) -> Option<&str> {
    let start = pem.find("-----BEGIN ")? + "-----BEGIN ".len();
    let rest = &pem[start..];
    rest.find("-----").map(|end| &rest[..end])
}
