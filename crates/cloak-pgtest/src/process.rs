//! Running the PostgreSQL binaries. `initdb`, `pg_ctl` and `postgres`
//! refuse to run as root, so when the tests do they run as Debian's
//! `postgres` user through `runuser`. Every child loses the test process's
//! `PG*` variables: a developer's `PGHOST` or `PGSSLMODE` must not reach
//! the throwaway cluster.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The user that owns the cluster when the tests run as root.
const OWNER: &str = "postgres";

/// Builds the commands for one bindir and one cluster owner.
pub(crate) struct Runner {
    bindir: PathBuf,
    /// `Some` when the tests run as root and the server must not.
    owner: Option<&'static str>,
}

impl Runner {
    /// Checks who may run the server: the test process itself, or, as
    /// root, the `postgres` user, which must exist.
    pub(crate) fn new(bindir: PathBuf) -> Result<Runner, String> {
        let owner = if is_root()? {
            let known = Command::new("id").args(["-u", OWNER]).output();
            if !known.is_ok_and(|o| o.status.success()) {
                return Err(format!(
                    "the tests run as root, which initdb refuses, and there is no `{OWNER}` \
                     user to run the server as (Debian's `postgresql` package creates it)"
                ));
            }
            Some(OWNER)
        } else {
            None
        };
        Ok(Runner { bindir, owner })
    }

    /// The user the server runs as, when not the test process's own.
    pub(crate) fn owner(&self) -> Option<&str> {
        self.owner
    }

    /// The argument vector that runs a server binary as the cluster's owner.
    fn server_argv(&self, name: &str) -> Vec<OsString> {
        let exe = self.bindir.join(name).into_os_string();
        match self.owner {
            Some(user) => vec!["runuser".into(), "-u".into(), user.into(), "--".into(), exe],
            None => vec![exe],
        }
    }

    /// A server binary, run as the cluster's owner from `cwd`: the test's
    /// own working folder may be closed to that user.
    pub(crate) fn server(&self, name: &str, cwd: &Path) -> Command {
        let argv = self.server_argv(name);
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]).current_dir(cwd);
        clean_env(&mut cmd);
        cmd
    }

    /// A client binary, run as the test process: the bindir's own (the
    /// version that matches the server), else the one on PATH.
    pub(crate) fn client(&self, name: &str) -> Command {
        let exe = self.bindir.join(name);
        let mut cmd = Command::new(if exe.is_file() {
            exe.into_os_string()
        } else {
            name.into()
        });
        clean_env(&mut cmd);
        cmd
    }

    /// Starts the process that outlives the test process by a second: it
    /// stops whatever server runs on the cluster's data (statics are never
    /// dropped, so nothing else would) and deletes the folder. Its own
    /// process group keeps a Ctrl-C meant for the tests from killing it
    /// before it has cleaned up.
    pub(crate) fn watchdog(&self, dir: &Path) -> Result<Child, String> {
        const SCRIPT: &str = r#"pid=$1 dir=$2
shift 2
# A zombie counts as gone: a container's first process may never reap it.
while kill -0 "$pid" 2>/dev/null && ! grep -qs '^State:.*Z' "/proc/$pid/status"; do
    sleep 1
done
"$@" stop -D "$dir/data" -m immediate -w >/dev/null 2>&1
rm -rf "$dir"
"#;
        Command::new("sh")
            .args(["-c", SCRIPT, "cloak-pgtest-watchdog"])
            .arg(std::process::id().to_string())
            .arg(dir)
            .args(self.server_argv("pg_ctl"))
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start the cluster's watchdog (sh): {e}"))
    }
}

fn clean_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if key.as_encoded_bytes().starts_with(b"PG") {
            cmd.env_remove(key);
        }
    }
}

/// Runs `cmd` to the end with `input` on its stdin; its stdout, or an
/// error with the command line and its stderr.
pub(crate) fn run(cmd: &mut Command, input: &str) -> Result<String, String> {
    // Not `{cmd:?}`, which would show the password in PGPASSWORD.
    let described = describe(cmd);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {described}: {e}"))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = input.to_owned();
    // Fed from a thread: psql writes results while it reads, and a full
    // stdout pipe would otherwise stop both. A child that exits without
    // reading its input is reported by its status and stderr, not by the
    // broken pipe.
    std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{described}: {e}"))?;
    if out.status.success() {
        String::from_utf8(out.stdout).map_err(|e| format!("{described}: output not UTF-8: {e}"))
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        Err(format!(
            "{described} failed ({}):\n{stderr}{stdout}",
            out.status
        ))
    }
}

fn describe(cmd: &Command) -> String {
    let args = cmd.get_args().map(|a| a.to_string_lossy().into_owned());
    let words: Vec<String> = std::iter::once(cmd.get_program().to_string_lossy().into_owned())
        .chain(args)
        .collect();
    format!("`{}`", words.join(" "))
}

fn is_root() -> Result<bool, String> {
    let uid = run(Command::new("id").arg("-u"), "")?;
    Ok(uid.trim() == "0")
}

/// Hands `dir` and everything in it to `user` (and its login group).
pub(crate) fn chown(dir: &Path, user: &str) -> Result<(), String> {
    run(
        Command::new("chown")
            .arg("-R")
            .arg(format!("{user}:"))
            .arg(dir),
        "",
    )
    .map(drop)
}

/// A password for the throwaway cluster: only has to keep other local
/// users out for the cluster's short life.
pub(crate) fn random_password() -> Result<String, String> {
    let mut bytes = [0u8; 16];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A loopback port free at this moment. Another process may take it
/// before the server binds it, so the caller retries on a bind failure.
pub(crate) fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}
