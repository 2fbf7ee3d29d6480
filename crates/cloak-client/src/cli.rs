//! Command line of `cloak-client`: `send_msg`, `recv_msg`,
//! `generate_key_pair`, with the original's names (kebab-case aliases too).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use cloak_core::Mode;
use cloak_core::keydir::{KeyDir, Role};
use cloak_core::limits::DEFAULT_RSA_BITS;

use crate::send::Source;
use crate::session::ClientConfig;

/// CloakRoom client: sends and receives sealed messages.
#[derive(Debug, Parser)]
#[command(name = "cloak-client", version = cloak_cli::version(), about)]
pub struct Cli {
    /// Server address, HOST:PORT.
    #[arg(
        long,
        global = true,
        env = "CLOAK_ADDR",
        default_value = "127.0.0.1:8000"
    )]
    addr: String,
    /// Key folder.
    #[arg(long, global = true, env = "CLOAK_KEYS", default_value = "keys")]
    keys: PathBuf,
    /// How messages are sealed: asymmetric (RSA blocks) or hybrid (AES-GCM).
    #[arg(long, global = true, default_value = "hybrid", value_parser = cloak_cli::parse_mode)]
    mode: Mode,
    /// Print the frames as an eavesdropper would capture them (on stderr).
    #[arg(long, global = true)]
    show_wire: bool,
    /// Seconds to wait for the server at each step.
    #[arg(long, global = true, default_value_t = 30)]
    timeout: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send a message to the server.
    #[command(name = "send_msg", visible_alias = "send-msg")]
    SendMsg(SendArgs),
    /// Receive the messages waiting for this client.
    #[command(name = "recv_msg", visible_alias = "recv-msg")]
    RecvMsg {
        /// Write the message(s) to this file (FILE, FILE.2, ...) instead of
        /// the terminal; needed for messages over 1 MiB.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: cloak_cli::Shell,
    },
    /// Create this client's key pair in the key folder.
    #[command(name = "generate_key_pair", visible_alias = "generate-key-pair")]
    GenerateKeyPair {
        /// Key size in bits: 2048, 3072 or 4096.
        #[arg(long, default_value_t = DEFAULT_RSA_BITS)]
        bits: usize,
        /// Replace existing key files.
        #[arg(long)]
        force: bool,
        /// Encrypt the private key under a passphrase (asked twice on a
        /// terminal, or read from the file named by CLOAK_PASSPHRASE_FILE).
        #[arg(long)]
        encrypt: bool,
    },
}

#[derive(Debug, Args)]
struct SendArgs {
    /// The message; `-` reads it from stdin.
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    text: Option<String>,
    /// Read the message from a file.
    #[arg(long)]
    file: Option<PathBuf>,
}

/// Parses the command line and runs it; errors become one line on stderr.
pub fn run() -> ExitCode {
    cloak_cli::run("cloak-client", |cli: Cli| {
        execute(cli).map(|()| ExitCode::SUCCESS)
    })
}

fn execute(cli: Cli) -> anyhow::Result<()> {
    let config = ClientConfig {
        addr: cli.addr,
        keys: KeyDir::new(cli.keys),
        mode: cli.mode,
        show_wire: cli.show_wire,
        timeout: Duration::from_secs(cli.timeout.max(1)),
    };
    match cli.command {
        Command::Completions { shell } => {
            cloak_cli::print_completions::<Cli>("cloak-client", shell);
            Ok(())
        }
        Command::GenerateKeyPair {
            bits,
            force,
            encrypt,
        } => {
            let role = Role::Client;
            cloak_cli::generate_key_pair(
                &config.keys,
                role,
                cloak_cli::NewKey {
                    bits,
                    force,
                    encrypt,
                },
                "the server",
            )
        }
        Command::SendMsg(args) => {
            let source = match (args.text, args.file) {
                (Some(text), None) if text == "-" => Source::Stdin,
                (Some(text), None) => Source::Text(text.into_bytes()),
                (None, Some(path)) => {
                    // Say what is wrong with the file before anything else.
                    std::fs::File::open(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    Source::File(path)
                }
                _ => bail!("give the message as an argument, `-` for stdin, or --file PATH"),
            };
            let line = runtime()?.block_on(crate::send::send(&config, source))?;
            println!("{line}");
            Ok(())
        }
        Command::RecvMsg { out } => runtime()?.block_on(crate::recv::recv(&config, out.as_deref())),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}
