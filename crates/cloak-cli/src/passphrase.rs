//! Where a private key's passphrase comes from, the same for both programs
//! and every command: the file named by `CLOAK_PASSPHRASE_FILE` (for
//! services and scripts), else a prompt without echo when a person is at a
//! terminal, else nowhere (the key is then refused, with a line saying how
//! to give one). Never from an argument: those are visible to every user
//! of the machine in the process list.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::bail;
use cloak_core::KeyError;
use cloak_core::keys::read_passphrase_file;
use zeroize::Zeroizing;

/// The variable naming a file that holds the passphrase (mode 600).
pub const PASSPHRASE_FILE_ENV: &str = "CLOAK_PASSPHRASE_FILE";

/// Fewest bytes `generate_key_pair --encrypt` accepts: the key file's
/// scrypt slows guessing, it cannot make a short passphrase a strong one.
const MIN_NEW_PASSPHRASE: usize = 8;

/// The file named by `CLOAK_PASSPHRASE_FILE`, if it is set (and not empty).
fn passphrase_file() -> Option<std::path::PathBuf> {
    std::env::var_os(PASSPHRASE_FILE_ENV)
        .filter(|value| !value.is_empty())
        .map(Into::into)
}

/// The terminal a prompt reads from.
const TTY: &str = "/dev/tty";

/// Whether a person can be asked: the prompt reads the controlling
/// terminal itself, so stdin may be a pipe (`echo hi | cloak-client
/// send_msg -`) and the question still reaches the person.
fn can_prompt() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(TTY)
        .is_ok_and(|tty| tty.is_terminal())
}

/// Asks the terminal, without echo. An error names the terminal, not the
/// key file: Ctrl-D at the prompt is not a damaged key.
fn prompt(text: &str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let typed = rpassword::prompt_password(text).map_err(|source| KeyError::Io {
        path: TTY.into(),
        source,
    })?;
    let typed = Zeroizing::new(typed);
    Ok(Zeroizing::new(typed.as_bytes().to_vec()))
}

/// The passphrase of the encrypted private key at `key`, for
/// `KeyDir::load_own_with`.
pub fn passphrase(key: &Path) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    if let Some(file) = passphrase_file() {
        return read_passphrase_file(&file);
    }
    if !can_prompt() {
        return Err(KeyError::PassphraseRequired {
            path: key.to_path_buf(),
        });
    }
    prompt(&format!("Passphrase for {}: ", key.display()))
}

/// A passphrase for a key about to be written at `key`: the file's, or
/// typed twice at the terminal (a typo would lock the key for good).
pub fn new_passphrase(key: &Path) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let passphrase = if let Some(file) = passphrase_file() {
        read_passphrase_file(&file)?
    } else if can_prompt() {
        let first = prompt(&format!("New passphrase for {}: ", key.display()))?;
        let again = prompt("The same passphrase again: ")?;
        if first != again {
            bail!("the two passphrases differ; nothing written");
        }
        first
    } else {
        bail!(
            "--encrypt needs a passphrase: run on a terminal to type it, or name a file holding \
             it (mode 600) in {PASSPHRASE_FILE_ENV}"
        );
    };
    if passphrase.len() < MIN_NEW_PASSPHRASE {
        bail!("the passphrase is shorter than {MIN_NEW_PASSPHRASE} bytes; nothing written");
    }
    Ok(passphrase)
}
