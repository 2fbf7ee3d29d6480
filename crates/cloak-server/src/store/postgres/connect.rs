//! From `--store postgres://…` to a pool of connections: the URL checked
//! (no password in it, a TLS mode that never falls back to plain text),
//! the password found where libpq looks for it (`PGPASSWORD`, then the
//! `PGPASSFILE` or `~/.pgpass` file), and timeouts on every connection, so
//! a database that stops answering costs a request its timeout, not a
//! worker for ever.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use postgres::Config;
use postgres::config::{Host, SslMode};
use r2d2_postgres::PostgresConnectionManager;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::store::StoreError;

/// The connection pool every store operation borrows from.
pub(crate) type Pool = r2d2::Pool<PostgresConnectionManager<MakeRustlsConnect>>;

/// A connection borrowed from the pool.
pub(crate) type Conn = r2d2::PooledConnection<PostgresConnectionManager<MakeRustlsConnect>>;

/// How long opening a connection may take: a database that is down is
/// reported within this, not after the kernel's minutes of retries.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one statement may run (the longest is one stream chunk's row,
/// ~256 KiB), and how long a transaction may sit idle: a stuck statement
/// or an instance that stalled mid-transaction must not hold row locks
/// that other instances wait on.
const STATEMENT_TIMEOUT_MS: u64 = 30_000;

/// How long a request waits for a pooled connection before it is told the
/// store is unavailable.
const POOL_WAIT: Duration = Duration::from_secs(10);

/// Sent data unacknowledged this long means the database is gone (a
/// pulled cable gives no reset): the connection fails instead of hanging.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(20);

/// What `--store` named, checked, ready to connect.
pub(crate) struct Target {
    config: Config,
    tls: MakeRustlsConnect,
    /// The URL without secrets, for log lines.
    shown: String,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

fn unfit(why: impl Into<String>) -> StoreError {
    StoreError::Unfit(why.into())
}

impl Target {
    /// Parses and checks `url` (`postgres://USER@HOST:PORT/DB?sslmode=…`),
    /// with the password from the environment or a password file, or
    /// `password` when given (tests, which must not change the
    /// environment of their process).
    pub(crate) fn parse(url: &str, password: Option<&str>) -> Result<Target, StoreError> {
        let (rest, ssl) = take_tls_params(url)?;
        let mut config =
            Config::from_str(&rest).map_err(|e| unfit(format!("bad store URL: {e}")))?;
        if config.get_password().is_some() {
            return Err(unfit(
                "the store URL holds a password; give it in PGPASSWORD or a PGPASSFILE instead \
                 (a command line and its environment are visible to other users)",
            ));
        }
        if config.get_user().is_none() {
            return Err(unfit(
                "the store URL names no user (postgres://USER@HOST/DB)",
            ));
        }
        let mode = ssl.mode.unwrap_or_else(|| default_tls(&config));
        let tls = tls_config(mode, ssl.root_cert.as_deref())?;
        config.ssl_mode(if mode == Tls::Off {
            SslMode::Disable
        } else {
            SslMode::Require
        });
        let password = match password {
            Some(given) => Some(given.to_owned()),
            None => password_for(&config)?,
        };
        if let Some(password) = password {
            config.password(password);
        }
        harden(&mut config);
        let shown = shown(&config, mode);
        Ok(Target { config, tls, shown })
    }

    /// A pool of at most `size` connections, one of them opened now, so
    /// that a database out of reach at start is one clear line.
    pub(crate) fn pool(&self, size: u32) -> Result<Pool, StoreError> {
        let manager = PostgresConnectionManager::new(self.config.clone(), self.tls.clone());
        r2d2::Pool::builder()
            .max_size(size.max(1))
            .min_idle(Some(1))
            .connection_timeout(POOL_WAIT)
            // Failures to connect are the caller's to report, once.
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build(manager)
            .map_err(|e| unfit(format!("cannot reach PostgreSQL at {}: {e}", self.shown)))
    }

    /// One connection outside the pool, for what must live as long as the
    /// instance (its liveness lock).
    pub(crate) fn connect(&self) -> Result<postgres::Client, StoreError> {
        self.config
            .connect(self.tls.clone())
            .map_err(StoreError::from)
    }
}

/// Whether and how TLS is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tls {
    /// Plain text (`sslmode=disable`).
    Off,
    /// TLS with the server's certificate chain and name checked.
    VerifyFull,
}

#[derive(Default)]
struct TlsParams {
    mode: Option<Tls>,
    root_cert: Option<PathBuf>,
}

/// Takes `sslmode` and `sslrootcert` out of the URL's query: the client
/// library knows neither `verify-full` nor root certificates, so they are
/// handled here.
fn take_tls_params(url: &str) -> Result<(String, TlsParams), StoreError> {
    let mut params = TlsParams::default();
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), params));
    };
    let mut kept = Vec::new();
    for pair in query.split('&') {
        let repeated = |name: &str| unfit(format!("{name} is given twice in the store URL"));
        match pair.split_once('=') {
            Some(("sslmode", value)) => {
                if params.mode.replace(tls_mode(value)?).is_some() {
                    return Err(repeated("sslmode"));
                }
            }
            Some(("sslrootcert", value)) => {
                if params.root_cert.replace(PathBuf::from(value)).is_some() {
                    return Err(repeated("sslrootcert"));
                }
            }
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rest, params))
}

/// `require` and `verify-ca` are taken as `verify-full`: a TLS connection
/// whose peer is not checked protects against nobody who can intercept it.
/// `allow` and `prefer` are refused: they fall back to plain text unseen.
fn tls_mode(value: &str) -> Result<Tls, StoreError> {
    match value {
        "disable" => Ok(Tls::Off),
        "require" | "verify-ca" | "verify-full" => Ok(Tls::VerifyFull),
        other => Err(unfit(format!(
            "sslmode={other} is not offered: use verify-full (or disable on a trusted network)"
        ))),
    }
}

/// Without `sslmode`: plain text to this machine only, TLS verified
/// anywhere else. The addresses connected to are the `hostaddr`s when
/// given, whatever the host names say.
fn default_tls(config: &Config) -> Tls {
    let named = config.get_hosts().iter().all(|host| match host {
        Host::Tcp(name) => {
            name == "localhost"
                || name
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        Host::Unix(_) => true,
    });
    let addressed = config.get_hostaddrs().iter().all(|ip| ip.is_loopback());
    let local = !config.get_hosts().is_empty() && named && addressed;
    if local { Tls::Off } else { Tls::VerifyFull }
}

/// The TLS client configuration; with TLS, the trusted roots come from
/// `sslrootcert`, `PGSSLROOTCERT` or `~/.postgresql/root.crt`, as libpq
/// looks for them.
fn tls_config(mode: Tls, root_cert: Option<&Path>) -> Result<MakeRustlsConnect, StoreError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    if mode == Tls::VerifyFull {
        let file = root_cert
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("PGSSLROOTCERT").map(PathBuf::from))
            .or_else(|| home().map(|h| h.join(".postgresql/root.crt")))
            .ok_or_else(|| unfit("TLS to the database needs sslrootcert=FILE"))?;
        let certs = CertificateDer::pem_file_iter(&file)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| unfit(format!("reading {}: {e}", file.display())))?;
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| unfit(format!("a certificate in {}: {e}", file.display())))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| unfit(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

/// Timeouts on every connection (see the constants), added to any
/// `options` the URL gives.
fn harden(config: &mut Config) {
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    config.tcp_user_timeout(TCP_USER_TIMEOUT);
    config.keepalives(true);
    config.keepalives_idle(Duration::from_secs(30));
    // The server side's keepalives too: an instance whose machine was lost
    // gives up its liveness lock in about a minute, not after the
    // kernel's two hours. And an idle session is never ended, which would
    // drop the liveness lock of a quiet instance.
    let ours = format!(
        "-c statement_timeout={STATEMENT_TIMEOUT_MS} \
         -c idle_in_transaction_session_timeout={STATEMENT_TIMEOUT_MS} \
         -c idle_session_timeout=0 \
         -c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=3 \
         -c client_min_messages=warning"
    );
    let options = match config.get_options() {
        Some(theirs) => format!("{theirs} {ours}"),
        None => ours,
    };
    config.options(&options);
    if config.get_application_name().is_none() {
        config.application_name("cloak-server");
    }
}

/// The target as log lines show it: user, hosts, ports, database, TLS.
fn shown(config: &Config, mode: Tls) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            Host::Tcp(name) => name.clone(),
            Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    format!(
        "postgres://{}@{}:{}/{} ({})",
        config.get_user().unwrap_or_default(),
        hosts.join(","),
        ports.join(","),
        config.get_dbname().unwrap_or_default(),
        if mode == Tls::Off {
            "no TLS"
        } else {
            "TLS, verify-full"
        }
    )
}

/// The password: `PGPASSWORD`, else the first matching line of the
/// password file (`PGPASSFILE`, else `~/.pgpass`), which like libpq is
/// ignored when others may read it.
fn password_for(config: &Config) -> Result<Option<String>, StoreError> {
    // As libpq: an empty PGPASSWORD is none, and the file is read.
    if let Some(password) = std::env::var_os("PGPASSWORD").filter(|p| !p.is_empty()) {
        return Ok(Some(password.to_string_lossy().into_owned()));
    }
    let explicit = std::env::var_os("PGPASSFILE").map(PathBuf::from);
    let Some(file) = explicit
        .clone()
        .or_else(|| home().map(|h| h.join(".pgpass")))
    else {
        return Ok(None);
    };
    let Ok(meta) = std::fs::metadata(&file) else {
        return match explicit {
            Some(_) => Err(unfit(format!(
                "PGPASSFILE {} cannot be read",
                file.display()
            ))),
            None => Ok(None),
        };
    };
    use std::os::unix::fs::PermissionsExt;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(unfit(format!(
            "{} may be read by others: chmod 0600 it",
            file.display()
        )));
    }
    let text = std::fs::read_to_string(&file).map_err(|e| StoreError::io(&file, e))?;
    Ok(super::pgpass::find(&text, config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls_of(url: &str) -> Tls {
        default_tls(&Config::from_str(url).unwrap())
    }

    #[test]
    fn only_loopback_goes_without_tls_by_default() {
        assert_eq!(tls_of("postgres://u@127.0.0.1/db"), Tls::Off);
        assert_eq!(tls_of("postgres://u@localhost:5433/db"), Tls::Off);
        assert_eq!(tls_of("postgres://u@db.example/db"), Tls::VerifyFull);
        // The address connected to decides, not the name beside it.
        let disguised = "postgres://u@localhost/db?hostaddr=203.0.113.5";
        assert_eq!(tls_of(disguised), Tls::VerifyFull);
        assert_eq!(
            tls_of("postgres://u@/db?hostaddr=203.0.113.5"),
            Tls::VerifyFull
        );
    }

    #[test]
    fn tls_settings_given_twice_or_falling_back_are_refused() {
        for url in [
            "postgres://u@db.example/db?sslmode=verify-full&sslmode=disable",
            "postgres://u@db.example/db?sslrootcert=a&sslrootcert=b",
            "postgres://u@db.example/db?sslmode=prefer",
            "postgres://u@db.example/db?sslmode=allow",
            "postgres://u:secret@db.example/db?sslmode=disable",
            "postgres://u@db.example/db?sslmode=disable&password=secret",
        ] {
            assert!(
                matches!(Target::parse(url, None), Err(StoreError::Unfit(_))),
                "{url}"
            );
        }
    }
}
