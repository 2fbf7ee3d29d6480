//! What the CloakRoom programs share at their command line: every failure
//! becomes one line on stderr, named after the program, with a non-zero
//! exit (2 for a usage error, 1 otherwise), never a backtrace; help and
//! version go to stdout with success. Each can print its own shell
//! completion script, takes `--mode` the same way, writes a key pair
//! with the same words, gets a key's passphrase the same way
//! ([`passphrase`]); and both keep a message being verified the same way
//! ([`sink`]).
#![forbid(unsafe_code)]

pub mod passphrase;
pub mod sink;

use std::process::ExitCode;
use std::sync::OnceLock;

use clap::{CommandFactory, Parser};
pub use clap_complete::Shell;
use cloak_core::keydir::{KeyDir, Role};
use cloak_core::{KeyError, KeyPair, Mode};

/// Parses `--mode` (`asymmetric` or `hybrid`).
pub fn parse_mode(s: &str) -> Result<Mode, String> {
    s.parse()
}

/// What `generate_key_pair` was asked for.
#[derive(Debug, Clone, Copy)]
pub struct NewKey {
    /// Key size in bits.
    pub bits: usize,
    /// Replace existing files.
    pub force: bool,
    /// Encrypt the private key under a passphrase (see [`passphrase`]).
    pub encrypt: bool,
}

/// `generate_key_pair`: writes `role`'s key pair into `keys` and says
/// where each half goes; the public half is for `public_for`.
pub fn generate_key_pair(
    keys: &KeyDir,
    role: Role,
    new: NewKey,
    public_for: &str,
) -> anyhow::Result<()> {
    let private = keys.private_path(role);
    let passphrase = if new.encrypt {
        // Asked before the (slow) key generation, and before anything is
        // written, so that a refused passphrase leaves nothing behind.
        if !new.force && private.exists() {
            return Err(KeyError::AlreadyExists { path: private }.into());
        }
        Some(passphrase::new_passphrase(&private)?)
    } else {
        None
    };
    let pair = keys.generate_encrypted(
        role,
        new.bits,
        new.force,
        passphrase.as_deref().map(|p| p.as_slice()),
    )?;
    let protection = if new.encrypt {
        "encrypted under your passphrase; keep it on this machine"
    } else {
        "keep it on this machine"
    };
    println!("wrote {} (private: {protection})", private.display());
    println!(
        "wrote {} (give it to {public_for})",
        keys.public_path(role).display()
    );
    println!("fingerprint {}", pair.fingerprint());
    Ok(())
}

/// Loads `role`'s own private key from `keys`, asking for its passphrase
/// (see [`passphrase`]) only if it is encrypted. Called once at start: the
/// key stays decrypted in memory (zeroized when dropped) for the run.
pub fn load_own_key(keys: &KeyDir, role: Role) -> Result<KeyPair, KeyError> {
    keys.load_own_with(role, passphrase::passphrase)
}

/// The `--version` text: the release and the crypto backend built in as
/// the default (`cargo build --features aws-lc` changes it), so a user can
/// tell two builds apart.
pub fn version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        format!(
            "{} (crypto backend: {})",
            env!("CARGO_PKG_VERSION"),
            cloak_core::Backend::default()
        )
    })
}

/// Prints the completion script of `C` for `shell` on stdout, for the
/// program named `program` (`cloak-client completions bash > FILE`).
pub fn print_completions<C: CommandFactory>(program: &str, shell: Shell) {
    clap_complete::generate(shell, &mut C::command(), program, &mut std::io::stdout());
}

/// Parses the command line as `C` and runs `execute` on it; `program` names
/// the program in error lines.
pub fn run<C: Parser>(
    program: &str,
    execute: impl FnOnce(C) -> anyhow::Result<ExitCode>,
) -> ExitCode {
    let cli = match C::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(program, e),
    };
    match execute(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{program}: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A usage error is reduced to its first line, so scripts and people see
/// one clear sentence.
fn usage_error(program: &str, e: clap::Error) -> ExitCode {
    if !e.use_stderr() {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let rendered = e.render().to_string();
    let first = rendered.lines().next().unwrap_or("invalid arguments");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    eprintln!("{program}: error: {first} (see `{program} --help`)");
    ExitCode::from(2)
}
