//! Command line of `cloak-server`: serve (no subcommand), or
//! `generate_key_pair`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use cloak_core::Mode;
use cloak_core::keydir::{KeyDir, Role};
use cloak_core::limits::DEFAULT_RSA_BITS;
use tracing::{info, warn};

use crate::authorized::Authorized;
use crate::authorized::live::Live;
use crate::config::{
    DEFAULT_ADDR, DEFAULT_DEADLINE, DEFAULT_GREETING, DEFAULT_IO_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
    ServerConfig,
};
use crate::opened::{Opened, StoreChoice};
use crate::operator;
use crate::store::sqlite::{DB_FILE, SqliteStore};
use crate::store::{DEFAULT_MAX_BYTES, DEFAULT_MAX_MAILBOX, InboxQuery, Limits, MessageStore};

/// CloakRoom server: receives and verifies sealed messages over TCP.
#[derive(Debug, Parser)]
#[command(name = "cloak-server", version = cloak_cli::version(), about)]
pub struct Cli {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, global = true, env = "CLOAK_ADDR", default_value = DEFAULT_ADDR)]
    addr: SocketAddr,
    /// Key folder.
    #[arg(long, global = true, env = "CLOAK_KEYS", default_value = "keys")]
    keys: PathBuf,
    /// Data folder (the message store).
    #[arg(long, global = true, env = "CLOAK_DATA", default_value = "data")]
    data: PathBuf,
    /// Keep messages in PostgreSQL instead of the data folder, shared by
    /// several server instances: postgres://USER@HOST:PORT/DB (the password
    /// from PGPASSWORD or a PGPASSFILE, never in the URL; see
    /// docs/SCALING.md).
    #[arg(long, global = true, env = "CLOAK_STORE", value_name = "URL")]
    store: Option<String>,
    /// Largest total size of stored messages, in bytes.
    #[arg(long, global = true, default_value_t = DEFAULT_MAX_BYTES)]
    max_store_bytes: u64,
    /// Most messages queued for one client.
    #[arg(long, global = true, default_value_t = DEFAULT_MAX_MAILBOX)]
    max_mailbox: usize,
    /// Most of the store, in percent, one sender's received messages may
    /// take (default: all of it).
    #[arg(long, global = true, value_parser = clap::value_parser!(u8).range(1..=100))]
    max_sender_share: Option<u8>,
    /// Delete received messages older than this (e.g. `30d`, `12h`);
    /// checked at start and then every minute (default: keep them).
    #[arg(long, value_parser = humantime::parse_duration)]
    expire_after: Option<Duration>,
    /// Accept only this mode (default: both).
    #[arg(long, global = true, value_parser = cloak_cli::parse_mode)]
    mode: Option<Mode>,
    /// Message sent to a client that has nothing queued.
    #[arg(long, default_value = DEFAULT_GREETING)]
    greeting: String,
    /// Seconds a read or write may stall before the connection is dropped.
    #[arg(long, default_value_t = DEFAULT_IO_TIMEOUT.as_secs())]
    io_timeout: u64,
    /// Seconds a whole connection may last.
    #[arg(long, default_value_t = DEFAULT_DEADLINE.as_secs())]
    deadline: u64,
    /// Connections served at once; more wait in the backlog.
    #[arg(long, default_value_t = DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Log every refused request (default: a burst per address, then one
    /// line every few seconds). For tracing a problem: a flooding peer can
    /// then grow the log without bound.
    #[arg(long)]
    log_every_refusal: bool,
    /// Serve Prometheus metrics (`/metrics`) and a health check
    /// (`/health`) over HTTP on this address (e.g. 127.0.0.1:9464); off by
    /// default.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// Print the passed and failed lines and who sent what, but never a
    /// message's text (for a service, whose console output is kept).
    #[arg(long)]
    hide_text: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: cloak_cli::Shell,
    },
    /// Create the server's key pair in the key folder.
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
    #[command(flatten)]
    Operator(Operator),
}

/// Commands on the message store, safe while the server runs.
#[derive(Debug, Subcommand)]
enum Operator {
    /// List received messages: id, sender, time, mode, size.
    Inbox {
        /// One JSON object per message (JSON Lines), for scripts.
        #[arg(long)]
        json: bool,
        /// At most this many messages, the oldest first.
        #[arg(long)]
        limit: Option<usize>,
        /// Only messages received at or after this time (RFC 3339 in UTC,
        /// e.g. 2027-01-15T08:00:00Z).
        #[arg(long, value_parser = parse_since)]
        since: Option<u64>,
    },
    /// Decrypt, re-verify and show a received message.
    Read {
        /// Its id, or enough leading characters to be unique.
        id: String,
        /// Write the message to this file (needed for messages over 1 MiB).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Show it as one JSON object, its text as a string when it is
        /// UTF-8 (`text`), else in base64 (`text_base64`).
        #[arg(long)]
        json: bool,
    },
    /// Queue a message for an authorized client.
    Post {
        /// The client's name (see `clients`).
        #[arg(long)]
        to: String,
        /// The message; `-` reads it from stdin (any size: over 1 MiB it is
        /// queued as a stream and delivered on its own).
        text: String,
    },
    /// List authorized clients with fingerprints and queued messages, and
    /// the messages set aside because they do not open.
    Clients {
        /// One JSON object per client and per message set aside.
        #[arg(long)]
        json: bool,
    },
    /// Delete received or queued messages (whole ids, as `inbox` and
    /// `clients` show them), beside a running server.
    Delete {
        /// The ids.
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Write a queued message's sealed bytes, as stored, to a file: for a
    /// message set aside (see `clients`), to examine or keep.
    Export {
        /// Its id, as `clients` shows it.
        id: String,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Move the data folder's messages into the (empty) PostgreSQL store
    /// at URL, each read back and compared; stop the server first.
    Migrate {
        /// The data folder to move.
        #[arg(long, value_name = "DIR")]
        from_data: PathBuf,
        /// The PostgreSQL store to move it to.
        #[arg(long, value_name = "URL")]
        to: String,
    },
    /// Copy the data folder to DIR while the server runs: the database as
    /// one snapshot, and every stream file it names. DIR must not exist,
    /// or be empty; it appears only once the copy is complete.
    Backup {
        /// The backup's folder; start a server on it with `--data DIR`.
        dir: PathBuf,
    },
}

/// Parses `--since`: an RFC 3339 time in UTC, as `inbox` prints them.
fn parse_since(text: &str) -> Result<u64, String> {
    let wanted = "an RFC 3339 time in UTC, such as 2027-01-15T08:00:00Z";
    let time = humantime::parse_rfc3339_weak(text).map_err(|e| format!("{e}: give {wanted}"))?;
    time.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|_| format!("before 1970: give {wanted}"))
}

/// Parses the command line and runs it; errors become one line on stderr.
pub fn run() -> ExitCode {
    cloak_cli::run("cloak-server", |cli: Cli| {
        execute(cli).map(|()| ExitCode::SUCCESS)
    })
}

/// Options of the serving server alone: given to a command, they would be
/// ignored, and `--hide-text read ID` would print the text after all.
fn refuse_server_options(cli: &Cli) -> anyhow::Result<()> {
    if cli.command.is_some() && (cli.hide_text || cli.metrics.is_some()) {
        bail!("--hide-text and --metrics apply to the server itself, not to a command");
    }
    Ok(())
}

fn execute(cli: Cli) -> anyhow::Result<()> {
    refuse_server_options(&cli)?;
    let keys = KeyDir::new(&cli.keys);
    let limits = Limits {
        max_bytes: cli.max_store_bytes,
        max_mailbox: cli.max_mailbox.max(1),
        sender_share: cli.max_sender_share,
    };
    // The server holds the data folder; operator commands open it beside
    // a running server and never sweep (see `SqliteStore::open`).
    let choice = StoreChoice {
        data: cli.data.clone(),
        url: cli.store.clone(),
        limits,
        pool: crate::opened::pool_size(cli.max_connections.max(1)),
    };
    let command = match cli.command {
        Some(Command::GenerateKeyPair {
            bits,
            force,
            encrypt,
        }) => {
            let role = Role::Server;
            return cloak_cli::generate_key_pair(
                &keys,
                role,
                cloak_cli::NewKey {
                    bits,
                    force,
                    encrypt,
                },
                "clients",
            );
        }
        Some(Command::Completions { shell }) => {
            cloak_cli::print_completions::<Cli>("cloak-server", shell);
            return Ok(());
        }
        Some(Command::Operator(command)) => command,
        None => {
            let mut config = ServerConfig::new(cli.addr);
            config.only_mode = cli.mode;
            config.greeting = cli.greeting;
            config.io_timeout = Duration::from_secs(cli.io_timeout.max(1));
            config.deadline = Duration::from_secs(cli.deadline.max(1));
            config.max_connections = cli.max_connections.max(1);
            config.expire_after = cli.expire_after;
            config.log_every_refusal = cli.log_every_refusal;
            config.metrics = cli.metrics;
            config.hide_text = cli.hide_text;
            return serve(&keys, config, || choice.open(true));
        }
    };
    // Opening the store may make its files private, with a logged line.
    init_logging();
    print!("{}", run_operator(&choice, &keys, command)?);
    Ok(())
}

/// Opens the store an operator command needs and runs it; what to print.
fn run_operator(choice: &StoreChoice, keys: &KeyDir, command: Operator) -> anyhow::Result<String> {
    if let Operator::Migrate { from_data, to } = &command {
        return migrate(from_data, to, choice);
    }
    if matches!(command, Operator::Backup { .. })
        && choice.url.is_none()
        && !choice.data.join(DB_FILE).exists()
    {
        anyhow::bail!("no message store in {} to back up", choice.data.display());
    }
    let opened = choice.open(false)?;
    if let (Operator::Backup { .. }, Opened::Postgres(_)) = (&command, &opened) {
        anyhow::bail!(
            "backup copies a data folder; back a PostgreSQL store up with PostgreSQL's own tools \
             (pg_dump, base backups; see docs/SCALING.md)"
        );
    }
    operate(&opened, keys, command)
}

/// Moves the data folder `from` into PostgreSQL at `to`.
fn migrate(from: &std::path::Path, to: &str, choice: &StoreChoice) -> anyhow::Result<String> {
    if !from.join(DB_FILE).exists() {
        anyhow::bail!("no message store in {} to migrate", from.display());
    }
    // Held as its server holds it: refused while a server runs on it.
    let source = SqliteStore::open_as_server(from, Limits::default())
        .with_context(|| format!("opening the message store in {}", from.display()))?;
    // Everything the folder holds is moved, whatever the limits: they are
    // the servers' to enforce on what comes next (the first server to start
    // on the database sets its own).
    let unlimited = Limits {
        max_bytes: u64::MAX,
        max_mailbox: usize::MAX,
        sender_share: None,
    };
    let target = StoreChoice {
        url: Some(to.to_owned()),
        limits: unlimited,
        ..choice.clone()
    };
    let Opened::Postgres(target) = target.open(false)? else {
        unreachable!("a URL opens PostgreSQL")
    };
    Ok(crate::migrate::migrate(&source, &target)?.to_string())
}

/// Runs an operator command; what to print.
fn operate(opened: &Opened, keys: &KeyDir, command: Operator) -> anyhow::Result<String> {
    let store = opened.store();
    Ok(match command {
        Operator::Inbox { json, limit, since } => {
            operator::inbox(store, &InboxQuery { since, limit }, json)?
        }
        Operator::Read { id, out, json } => {
            let key = cloak_cli::load_own_key(keys, Role::Server)?;
            let authorized = Authorized::load(keys)?;
            operator::read(store, &key, &authorized, &id, (out.as_deref(), json))?
        }
        Operator::Post { to, text } => {
            let key = cloak_cli::load_own_key(keys, Role::Server)?;
            let authorized = Authorized::load(keys)?;
            if text == "-" {
                let mut stdin = std::io::stdin().lock();
                operator::post(store, &key, &authorized, &to, &mut stdin)?
            } else {
                operator::post(store, &key, &authorized, &to, &mut text.as_bytes())?
            }
        }
        Operator::Clients { json } => operator::clients(store, &Authorized::load(keys)?, json)?,
        Operator::Export { id, out } => operator::export(store, &id, &out)?,
        Operator::Delete { ids } => operator::delete(store, &ids)?,
        Operator::Backup { dir } => match opened {
            Opened::Sqlite(store) => store.backup(&dir)?.to_string(),
            Opened::Postgres(_) => unreachable!("refused before opening"),
        },
        Operator::Migrate { .. } => unreachable!("run before opening"),
    })
}

fn serve(
    keys: &KeyDir,
    config: ServerConfig,
    open_store: impl FnOnce() -> anyhow::Result<Opened>,
) -> anyhow::Result<()> {
    // Before the store, which may log while it opens.
    init_logging();
    // Keys first: a server that cannot start must not create a data folder.
    let key = cloak_cli::load_own_key(keys, Role::Server)?;
    // Re-read while the server runs: a key file added or removed takes
    // effect without a restart.
    let authorized = Live::start(keys.clone())?;
    let opened = open_store()?;
    info!("message store {}", opened.describe());
    let upgraded = crate::at_rest::upgrade(opened.store(), &key)?;
    if upgraded > 0 {
        info!("re-sealed {upgraded} queued message(s) to their mailboxes");
    }
    let store: Arc<dyn MessageStore> = opened.shared();
    if authorized.current().is_empty() {
        warn!(
            "no authorized clients: put client_public.pem or authorized/NAME.pem in {}",
            keys.root().display()
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    // The store is dropped last, here, outside the runtime: closing a
    // PostgreSQL client blocks, which on an async worker would panic.
    let last = Arc::clone(&store);
    let ran = runtime.block_on(async move {
        let (listener, metrics) = listen(&config)?;
        info!(
            "server key {}, {} authorized client(s), modes {:?}, crypto backend {}",
            key.fingerprint(),
            authorized.current().len(),
            config.modes(),
            key.backend()
        );
        if key.has_unequal_primes() {
            warn!(
                "the server key's primes differ in size (as python-rsa makes them): each of its \
                 private-key operations runs about six times slower; `cloak-server \
                 generate_key_pair --force` makes a new key (clients must then pin it)"
            );
        }
        let stop = shutdown_signal();
        crate::server::run(listener, metrics, key, authorized, config, store, stop).await;
        info!("stopped");
        Ok(())
    });
    drop(runtime);
    drop(last);
    ran
}

/// Binds the messaging port and, with `--metrics`, the metrics port, and
/// says where on stdout: `listening on ADDR` first, for scripts and tests,
/// then `metrics on ADDR`.
fn listen(
    config: &ServerConfig,
) -> anyhow::Result<(tokio::net::TcpListener, Option<tokio::net::TcpListener>)> {
    let listener = crate::server::bind(config.addr)
        .with_context(|| format!("cannot listen on {}", config.addr))?;
    let metrics = (config.metrics)
        .map(|addr| {
            crate::server::bind(addr).with_context(|| format!("cannot serve metrics on {addr}"))
        })
        .transpose()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {}", listener.local_addr()?)?;
    if let Some(metrics) = &metrics {
        let local = metrics.local_addr()?;
        writeln!(out, "metrics on {local}")?;
        if !local.ip().is_loopback() {
            warn!("metrics on {local}: whoever can reach that address can read them");
        }
    }
    out.flush()?;
    Ok((listener, metrics))
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CLOAK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}
