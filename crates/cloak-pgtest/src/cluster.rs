//! The throwaway cluster: a temporary folder holding the data, the
//! server's socket and log, and a pgpass file; initialised by `initdb`,
//! run by `pg_ctl`, and removed by a watchdog once the test process ends.

use std::ffi::OsString;
use std::fs::{self, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::find;
use crate::process::{self, Runner};

/// The superuser `initdb` creates.
const USER: &str = "cloak";
/// Set (non-empty, not "0"), missing binaries fail the tests: CI sets it
/// so that the PostgreSQL tests can never pass by skipping.
const REQUIRE_VAR: &str = "CLOAK_REQUIRE_POSTGRES";
const MISSING: &str =
    "no PostgreSQL server binaries (initdb) found; install Debian's `postgresql` package";
/// Another process may take a probed port before the server binds it.
const PORT_ATTEMPTS: usize = 5;
/// Lines of the server's log shown when it does not start.
const LOG_TAIL: usize = 30;

/// A running throwaway cluster, one per test binary (shared by its tests).
///
/// It listens on 127.0.0.1 only, with password (SCRAM) authentication for
/// the superuser `cloak`. A watchdog process stops the server and deletes
/// its folder about a second after the test process exits, however it
/// exits.
pub struct PgCluster {
    runner: Runner,
    dir: PathBuf,
    port: u16,
    password: String,
    passfile: PathBuf,
    /// Never waited for: it outlives the test process on purpose.
    _watchdog: Child,
}

/// The shared cluster's outcome, kept so that a failure to start is
/// reported to every test rather than retried by each.
static SHARED: OnceLock<Result<Option<PgCluster>, String>> = OnceLock::new();

impl PgCluster {
    /// The process-wide cluster, started on first use; `None` when the
    /// PostgreSQL server binaries are not installed, after printing once to
    /// stderr "skipping PostgreSQL tests: no PostgreSQL server binaries
    /// (initdb) found; install Debian's `postgresql` package". Unless the
    /// environment variable `CLOAK_REQUIRE_POSTGRES` is set (non-empty, not
    /// "0"): then missing binaries panic with that reason, as any other
    /// failure to start does with its own (a command's stderr, the
    /// server's log).
    pub fn shared() -> Option<&'static PgCluster> {
        let outcome = SHARED.get_or_init(|| {
            let opened = open(find::bindir(), required());
            if let Ok(None) = opened {
                // Straight to stderr: the test harness captures eprintln!,
                // and a skip must be seen.
                let _ = writeln!(io::stderr(), "skipping PostgreSQL tests: {MISSING}");
            }
            opened
        });
        match outcome {
            Ok(cluster) => cluster.as_ref(),
            Err(e) => panic!("{e}"),
        }
    }

    /// A new empty database in the cluster, with a unique name; returns its
    /// URL for clients, `postgres://cloak@127.0.0.1:PORT/NAME` (no password
    /// in it: see [`passfile`](Self::passfile) and
    /// [`password`](Self::password)).
    pub fn fresh_database(&self) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("cloak_{}_{n}", std::process::id());
        self.psql("postgres", &format!("CREATE DATABASE {name};"));
        format!("postgres://{USER}@127.0.0.1:{}/{name}", self.port)
    }

    /// Path of a pgpass file (mode 0600) holding the cluster's password for
    /// its superuser, to give a server as `PGPASSFILE`.
    pub fn passfile(&self) -> &Path {
        &self.passfile
    }

    /// The superuser's password (for tests that pass it by `PGPASSWORD`).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// Runs SQL as the superuser in database `db` (a name, or a URL from
    /// [`fresh_database`](Self::fresh_database)) through
    /// `psql -q -v ON_ERROR_STOP=1 -At`, returning its stdout: the rows of
    /// the queries, one a line, fields separated by `|`. Statements run
    /// one by one, so `CREATE DATABASE` may follow another statement.
    /// Panics on failure, with psql's stderr.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        self.try_psql(db, sql).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The host port the server listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server (`pg_ctl stop -m fast`), e.g. to test an
    /// unreachable database. It is stopped for every test sharing the
    /// cluster: a test that stops it belongs in a test binary of its own.
    pub fn stop(&self) {
        let mut cmd = self.runner.server("pg_ctl", &self.dir);
        cmd.arg("stop")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "fast", "-w"]);
        if let Err(e) = process::run(&mut cmd, "") {
            panic!("cannot stop the PostgreSQL test cluster: {e}");
        }
    }

    /// Starts the server again, on the same port and data.
    pub fn start(&self) {
        if let Err(e) = self.start_on(self.port) {
            panic!("cannot restart the PostgreSQL test cluster: {e}");
        }
    }

    /// A cluster of its own (not the shared one), for the tests.
    pub(crate) fn launch(bindir: PathBuf) -> Result<PgCluster, String> {
        if !find::has_initdb(&bindir) {
            let var = find::BINDIR_VAR;
            return Err(format!("no initdb in {} (check {var})", bindir.display()));
        }
        let runner = Runner::new(bindir)?;
        let dir = make_dir(&runner)?;
        // Before anything else can fail, so a half-made cluster goes too.
        let watchdog = runner.watchdog(&dir)?;
        let password = process::random_password()?;
        init(&runner, &dir, &password)?;
        let mut cluster = PgCluster {
            runner,
            passfile: dir.join("pgpass"),
            dir,
            port: 0,
            password,
            _watchdog: watchdog,
        };
        cluster.port = cluster.start_on_free_port()?;
        cluster.write_passfile()?;
        Ok(cluster)
    }

    /// [`psql`](Self::psql), returning its failure.
    pub(crate) fn try_psql(&self, db: &str, sql: &str) -> Result<String, String> {
        let mut cmd = self.runner.client("psql");
        cmd.args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-At",
            "-h",
            "127.0.0.1",
            "-p",
        ])
        .arg(self.port.to_string())
        .args(["-U", USER, "-d", db, "-f", "-"])
        .env("PGPASSWORD", &self.password)
        .env("PGCONNECT_TIMEOUT", "10");
        process::run(&mut cmd, sql)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn start_on_free_port(&self) -> Result<u16, String> {
        let mut last = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = process::free_port()?;
            match self.start_on(port) {
                Ok(()) => return Ok(port),
                Err(e) if e.contains("could not bind") => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// Starts the server and waits until it accepts connections; on
    /// failure the error carries what the server logged meanwhile.
    fn start_on(&self, port: u16) -> Result<(), String> {
        let log = self.dir.join("server.log");
        let seen = fs::metadata(&log).map_or(0, |m| m.len());
        let mut cmd = self.runner.server("pg_ctl", &self.dir);
        cmd.arg("start")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(&log);
        cmd.args(["-w", "-t", "30", "-o"]).arg(format!("-p {port}"));
        process::run(&mut cmd, "")
            .map(drop)
            .map_err(|e| format!("{e}\nserver log:\n{}", log_since(&log, seen)))
    }

    fn write_passfile(&self) -> Result<(), String> {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&self.passfile)
            .and_then(|mut f| writeln!(f, "127.0.0.1:{}:*:{USER}:{}", self.port, self.password))
            .map_err(|e| format!("cannot write {}: {e}", self.passfile.display()))
    }
}

/// The shared cluster's outcome for the binaries found (if any): `None`
/// means skip.
pub(crate) fn open(bindir: Option<PathBuf>, required: bool) -> Result<Option<PgCluster>, String> {
    match bindir {
        Some(bindir) => PgCluster::launch(bindir)
            .map(Some)
            .map_err(|e| format!("cannot start the PostgreSQL test cluster: {e}")),
        None if required => Err(format!("{MISSING} ({REQUIRE_VAR} is set: no skipping)")),
        None => Ok(None),
    }
}

fn required() -> bool {
    std::env::var_os(REQUIRE_VAR).is_some_and(|v| !v.is_empty() && v != "0")
}

fn make_dir(runner: &Runner) -> Result<PathBuf, String> {
    let mut builder = tempfile::Builder::new();
    // Closed to other users: its socket lets the owner in without a
    // password.
    builder
        .prefix("cloak-pg-")
        .permissions(Permissions::from_mode(0o700));
    // The owner must reach the folder: root's TMPDIR may be closed to
    // other users; /tmp never is.
    let made = match runner.owner() {
        Some(_) => builder.tempdir_in("/tmp"),
        None => builder.tempdir(),
    };
    // Kept: the watchdog removes it once the server is down.
    made.map(tempfile::TempDir::keep)
        .map_err(|e| format!("cannot create the cluster's folder: {e}"))
}

/// `initdb` with the password from a file that lives only for the call.
/// No fsync: a cluster that dies with the machine is not worth the wait.
fn init(runner: &Runner, dir: &Path, password: &str) -> Result<(), String> {
    let pwfile = dir.join("pwfile");
    fs::write(&pwfile, format!("{password}\n")).map_err(|e| format!("cannot write pwfile: {e}"))?;
    if let Some(owner) = runner.owner() {
        process::chown(dir, owner)?;
    }
    let mut pwarg = OsString::from("--pwfile=");
    pwarg.push(&pwfile);
    let mut initdb = runner.server("initdb", dir);
    initdb
        .arg("-D")
        .arg(dir.join("data"))
        .args(["-U", USER])
        .arg(pwarg);
    // Trust on the socket is safe: it sits in the owner's 0700 folder.
    initdb.args(["--auth-host=scram-sha-256", "--auth-local=trust"]);
    initdb.args(["--no-sync", "-E", "UTF8", "--locale=C"]);
    process::run(&mut initdb, "")?;
    fs::remove_file(&pwfile).map_err(|e| format!("cannot remove pwfile: {e}"))?;
    configure(dir)
}

/// Settings the server reads at every start, so a restart keeps them.
fn configure(dir: &Path) -> Result<(), String> {
    let socket_dir = dir
        .to_str()
        .ok_or("the cluster's folder is not UTF-8")?
        .replace('\'', "''");
    // Loopback only; the socket in the cluster's folder, not the system's
    // (which a packaged cluster may use); room for several test servers'
    // pools at once; little memory, as many test binaries may run at once.
    let settings = format!(
        "\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{socket_dir}'\n\
         max_connections = 200\nshared_buffers = 32MB\n"
    );
    let conf = dir.join("data/postgresql.conf");
    OpenOptions::new()
        .append(true)
        .open(&conf)
        .and_then(|mut f| f.write_all(settings.as_bytes()))
        .map_err(|e| format!("cannot write {}: {e}", conf.display()))
}

/// The last lines the server logged after byte `from`.
fn log_since(log: &Path, from: u64) -> String {
    let text = fs::read(log).unwrap_or_default();
    let text = String::from_utf8_lossy(text.get(from as usize..).unwrap_or_default());
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL)..].join("\n")
}
