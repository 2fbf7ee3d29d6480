//! Support for the end-to-end tests: the real binaries, real key files in
//! temporary folders, a server on `127.0.0.1:0`, a recording relay, and a
//! scripted fake server for testing the client against a hostile one.
//!
//! The binaries are the ones `cargo test --workspace` builds next to this
//! test executable (`target/<profile>/cloak-server`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use cloak_core::KeyPair;
use cloak_core::keydir::{KeyDir, Role};
use cloak_core::session::frame_reader::{read_frame, read_whole_frame};

/// Path of a workspace binary built by `cargo test --workspace`.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} not built: run the tests with `cargo test --workspace`",
        path.display()
    );
    // `cargo test -p cloak-tests` alone does not rebuild the binaries; a
    // stale one would test old code, so refuse it.
    let built = modified(&path);
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates");
    let newest = ["cloak-core", name]
        .iter()
        .filter_map(|c| newest_source(&crates.join(c).join("src")))
        .max();
    if let Some(newer) = newest.filter(|(time, _)| *time > built) {
        panic!(
            "{} is older than {}: run the tests with `cargo test --workspace`",
            path.display(),
            newer.1.display()
        );
    }
    path
}

fn modified(path: &Path) -> std::time::SystemTime {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .expect("modification time")
}

fn newest_source(dir: &Path) -> Option<(std::time::SystemTime, PathBuf)> {
    let mut newest: Option<(std::time::SystemTime, PathBuf)> = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let candidate = if path.is_dir() {
            newest_source(&path)
        } else if path.extension().is_some_and(|e| e == "rs" || e == "toml") {
            Some((modified(&path), path))
        } else {
            None
        };
        if let Some(c) = candidate
            && newest.as_ref().is_none_or(|n| c.0 > n.0)
        {
            newest = Some(c);
        }
    }
    newest
}

/// A server and a client key pair, saved once per test binary.
struct KeyTemplate {
    dir: tempfile::TempDir,
}

fn template(bits: usize) -> &'static Path {
    static CELLS: [OnceLock<KeyTemplate>; 2] = [OnceLock::new(), OnceLock::new()];
    cached(&CELLS, bits, &[Role::Server, Role::Client])
}

/// A second client's key pair, saved once per test binary.
fn other_client_template(bits: usize) -> &'static Path {
    static CELLS: [OnceLock<KeyTemplate>; 2] = [OnceLock::new(), OnceLock::new()];
    cached(&CELLS, bits, &[Role::Client])
}

/// Key pairs for `roles`, made once per size (2048 or 3072 bits) in `cells`.
fn cached(
    cells: &'static [OnceLock<KeyTemplate>; 2],
    bits: usize,
    roles: &[Role],
) -> &'static Path {
    let cell = match bits {
        2048 => &cells[0],
        3072 => &cells[1],
        _ => panic!("test keys are 2048 or 3072 bits"),
    };
    cell.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = KeyDir::new(dir.path());
        for role in roles {
            keys.generate(*role, bits, false).expect("test key");
        }
        KeyTemplate { dir }
    })
    .dir
    .path()
}

/// A fresh key folder for one test.
pub struct Keys {
    dir: tempfile::TempDir,
}

impl Keys {
    /// Server and client keys of `bits` bits (generated once per binary).
    pub fn new(bits: usize) -> Self {
        let keys = Keys::empty();
        keys.copy_from(template(bits));
        keys
    }

    /// The key folder of a second client of the servers [`Keys::new`]
    /// makes: its own key pair (generated once per binary) and their server's
    /// public key. The server does not know it until its
    /// `client_public.pem` is installed there.
    pub fn other_client(bits: usize) -> Self {
        let keys = Keys::empty();
        keys.install(
            &template(bits).join("server_public.pem"),
            "server_public.pem",
        );
        keys.copy_from(other_client_template(bits));
        keys
    }

    /// An empty folder.
    pub fn empty() -> Self {
        Keys {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// Copies every `.pem` of `from` here, private keys with mode 0600.
    pub fn copy_from(&self, from: &Path) {
        for entry in std::fs::read_dir(from).expect("read key dir") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "pem") {
                self.install(&path, path.file_name().unwrap().to_str().unwrap());
            }
        }
    }

    /// Copies `from` to `name` in this folder.
    pub fn install(&self, from: &Path, name: &str) {
        let to = self.dir.path().join(name);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::copy(from, &to).expect("copy key");
        let mode = if name.contains("private") {
            0o600
        } else {
            0o644
        };
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Loads a key pair stored here.
    pub fn pair(&self, role: Role) -> KeyPair {
        KeyDir::new(self.path()).load_own(role).expect("load key")
    }
}

/// Repository path of a test fixture.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

/// A running `cloak-server`, killed on drop.
pub struct Server {
    child: Child,
    /// Its data folder (a fresh temporary one unless given).
    pub data: PathBuf,
    _own_data: Option<tempfile::TempDir>,
    /// The address it reported.
    pub addr: SocketAddr,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    stderr_done: thread::JoinHandle<()>,
}

fn collect(stream: impl Read + Send + 'static, into: Arc<Mutex<String>>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            into.lock().unwrap().push_str(&line);
            line.clear();
        }
    })
}

impl Server {
    /// Starts the server on a free loopback port with `keys` and `args`,
    /// and a fresh data folder.
    pub fn start(keys: &Path, args: &[&str]) -> Server {
        let own = tempfile::tempdir().expect("tempdir");
        let data = own.path().join("data");
        let mut server = Server::start_with_data(keys, &data, args);
        server._own_data = Some(own);
        server
    }

    /// Starts the server binary `program` (another build's) on a free
    /// loopback port with `keys` and `args`, and a fresh data folder.
    pub fn start_program(program: &Path, keys: &Path, args: &[&str]) -> Server {
        let own = tempfile::tempdir().expect("tempdir");
        let data = own.path().join("data");
        let mut server = Server::start_command(Command::new(program), keys, &data, args);
        server._own_data = Some(own);
        server
    }

    /// Starts the server on a free loopback port with `keys`, `args` and
    /// the environment variables `vars`, and a fresh data folder.
    pub fn start_with_env(keys: &Path, vars: &[(&str, &Path)], args: &[&str]) -> Server {
        let own = tempfile::tempdir().expect("tempdir");
        let data = own.path().join("data");
        let mut command = Command::new(bin("cloak-server"));
        command.envs(vars.iter().copied());
        let mut server = Server::start_command(command, keys, &data, args);
        server._own_data = Some(own);
        server
    }

    /// Starts the server with the data folder `data` (to restart on it).
    pub fn start_with_data(keys: &Path, data: &Path, args: &[&str]) -> Server {
        Server::start_command(Command::new(bin("cloak-server")), keys, data, args)
    }

    /// Starts the server with the data folder `data` and the file creation
    /// mask `umask` (e.g. `"022"`), as a shell would.
    pub fn start_with_umask(keys: &Path, data: &Path, umask: &str, args: &[&str]) -> Server {
        Server::start_command(with_umask(umask, &bin("cloak-server")), keys, data, args)
    }

    /// Starts the server with a fresh data folder and its soft limit on
    /// open files lowered to `soft` (the hard limit unchanged), as a shell
    /// with `ulimit -Sn` would.
    pub fn start_with_soft_fd_limit(keys: &Path, soft: u64, args: &[&str]) -> Server {
        let own = tempfile::tempdir().expect("tempdir");
        let data = own.path().join("data");
        let program = bin("cloak-server");
        let command = in_shell(&format!("ulimit -Sn {soft}"), &program);
        let mut server = Server::start_command(command, keys, &data, args);
        server._own_data = Some(own);
        server
    }

    fn start_command(mut command: Command, keys: &Path, data: &Path, args: &[&str]) -> Server {
        let mut child = command
            .arg("--keys")
            .arg(keys)
            .arg("--data")
            .arg(data)
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .env("CLOAK_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start cloak-server");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let stderr = Arc::new(Mutex::new(String::new()));
        let stderr_done = collect(child.stderr.take().unwrap(), Arc::clone(&stderr));
        let mut first = String::new();
        stdout.read_line(&mut first).expect("read first line");
        let addr = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| {
                thread::sleep(Duration::from_millis(200));
                panic!(
                    "unexpected first line {first:?}; stderr: {}",
                    stderr.lock().unwrap()
                )
            })
            .parse()
            .expect("address");
        let out = Arc::new(Mutex::new(String::new()));
        collect(stdout, Arc::clone(&out));
        Server {
            child,
            data: data.to_path_buf(),
            _own_data: None,
            addr,
            stdout: out,
            stderr,
            stderr_done,
        }
    }

    /// Everything printed on stdout after the first line so far.
    pub fn stdout(&self) -> String {
        unwrapped(&self.stdout.lock().unwrap())
    }

    /// Everything logged on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits up to 10 s for stdout to contain `needle`.
    pub fn wait_stdout(&self, needle: &str) -> String {
        wait_for(|| self.stdout().contains(needle), || self.stdout(), needle)
    }

    /// Waits up to 10 s for stdout to contain `needle` `count` times.
    pub fn wait_stdout_count(&self, needle: &str, count: usize) -> String {
        wait_for(
            || self.stdout().matches(needle).count() >= count,
            || self.stdout(),
            needle,
        )
    }

    /// Waits up to 10 s for stderr to contain `needle`.
    pub fn wait_stderr(&self, needle: &str) -> String {
        wait_for(|| self.stderr().contains(needle), || self.stderr(), needle)
    }

    /// Waits up to 10 s for stderr to contain `needle` `count` times.
    pub fn wait_stderr_count(&self, needle: &str, count: usize) -> String {
        wait_for(
            || self.stderr().matches(needle).count() >= count,
            || self.stderr(),
            needle,
        )
    }

    /// Runs an operator command (`inbox`, `read`, `post`, `clients`) on
    /// this server's keys and data folder.
    pub fn operator(&self, keys: &Path, args: &[&str]) -> Output {
        operator(keys, &self.data, args)
    }

    /// Kills the process with SIGKILL (no chance to clean up).
    pub fn kill9(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("wait");
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        self.send_sigterm();
        self.wait_exit(Duration::from_secs(15))
    }

    /// Sends SIGTERM without waiting: the server then finishes what is
    /// in flight, which a test may still be sending.
    pub fn send_sigterm(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success(), "kill -TERM failed");
    }

    /// Waits up to `limit` for the process to exit; its exit status, once
    /// its stderr has been read to the end.
    pub fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.read_stderr_to_end();
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "server still running after {limit:?}; stderr:\n{}",
                self.stderr()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Its resident memory (`VmRSS`), in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("the server's /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            .expect("VmRSS")
    }
}

fn wait_for(done: impl Fn() -> bool, show: impl Fn() -> String, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what:?}; got:\n{}",
            show()
        );
        thread::sleep(Duration::from_millis(20));
    }
    show()
}

/// What Rust's default panic hook prints.
const PANIC_MARK: &str = "panicked at";

impl Server {
    /// Fails the test if the server has panicked so far. A panic in a
    /// request's task is caught and answered with `Internal`, so without
    /// this check it would pass unnoticed.
    pub fn assert_no_panic(&self) {
        let stderr = self.stderr();
        assert!(
            !stderr.contains(PANIC_MARK),
            "cloak-server panicked; its stderr:\n{stderr}"
        );
    }

    /// Waits (briefly) for the rest of stderr once the process is gone, so
    /// a panic logged just before the end is not missed.
    fn read_stderr_to_end(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.stderr_done.is_finished() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A second panic while unwinding would abort the whole test binary
        // and hide the first failure.
        if !thread::panicking() {
            self.read_stderr_to_end();
            self.assert_no_panic();
        }
    }
}

/// A command that runs `program` with the file creation mask `umask`
/// (e.g. `"022"`); arguments added to it go to `program`.
pub fn with_umask(umask: &str, program: &Path) -> Command {
    in_shell(&format!("umask {umask}"), program)
}

/// A command that runs `program` after the shell command `setup` (which
/// changes what `program` inherits); arguments added to it go to
/// `program`.
fn in_shell(setup: &str, program: &Path) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("{setup} && exec \"$0\" \"$@\""))
        .arg(program);
    command
}

/// Raises this test process's soft limit on open files to its hard
/// limit, for tests holding many sockets (many systems start programs
/// with 1024), and fails the test at once, saying why, if that is below
/// `needed`. Raising it is process-wide, and never harms the tests beside.
pub fn raise_fd_limit(needed: u64) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit
        .current
        .is_some_and(|soft| limit.maximum.is_none_or(|hard| soft < hard))
    {
        // Refused where the hard limit is unlimited but the system caps
        // the soft one; what is left is checked below.
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            },
        );
    }
    let soft = getrlimit(Resource::Nofile).current;
    assert!(
        soft.is_none_or(|soft| soft >= needed),
        "this test needs {needed} open files; the limit is {soft:?} (raise `ulimit -Hn`)"
    );
}

/// Runs `cloak-server` to serve with `keys` and `args` and a fresh data
/// folder, expecting it to refuse to start; returns its stderr. Fails the
/// test if it is still running after 10 s (it started).
pub fn server_refuses_to_start(keys: &Path, args: &[&str]) -> String {
    let data = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(bin("cloak-server"))
        .arg("--keys")
        .arg(keys)
        .arg("--data")
        .arg(data.path().join("data"))
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cloak-server");
    let stderr = Arc::new(Mutex::new(String::new()));
    let done = collect(child.stderr.take().unwrap(), Arc::clone(&stderr));
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "cloak-server started instead of refusing; stderr:\n{}",
                stderr.lock().unwrap()
            );
        }
        thread::sleep(Duration::from_millis(20));
    };
    let _ = done.join();
    assert!(!status.success(), "cloak-server exited with success");
    stderr.lock().unwrap().clone()
}

/// Runs a `cloak-server` operator command on `keys` and `data`.
pub fn operator(keys: &Path, data: &Path, args: &[&str]) -> Output {
    operator_command(keys, data, args)
        .stdin(Stdio::null())
        .output()
        .expect("run cloak-server")
}

/// An operator command on `data`, to run as the test needs (with a file
/// on stdin, or in the background).
pub fn operator_command(keys: &Path, data: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(bin("cloak-server"));
    command
        .arg("--keys")
        .arg(keys)
        .arg("--data")
        .arg(data)
        .args(args);
    command
}

/// The stdout of a command that must have succeeded (else its output is
/// the failure message).
pub fn ok_stdout(out: &Output) -> String {
    let (stdout, stderr) = texts(out);
    assert!(out.status.success(), "{stdout}{stderr}");
    stdout
}

/// The message id `send_msg` reported (`... id 5e3a...`).
pub fn delivered_id(stdout: &str) -> String {
    stdout
        .split("id ")
        .nth(1)
        .and_then(|rest| rest.get(..32))
        .unwrap_or_else(|| panic!("no id in {stdout:?}"))
        .to_owned()
}

/// A connection to `to` from the local address `source` (127.0.0.2, say),
/// as another host's would be: the server shares its resources per peer
/// address. Short timeouts, for attackers that must not hang a test.
pub fn connect_from(source: std::net::IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&SocketAddr::new(source, 0).into())?;
    socket.connect_timeout(&to.into(), Duration::from_secs(1))?;
    let stream = TcpStream::from(socket);
    stream.set_read_timeout(Some(Duration::from_secs(1)))?;
    stream.set_write_timeout(Some(Duration::from_secs(1)))?;
    Ok(stream)
}

/// Starts `cloak-client send_msg -` against `addr` with `keys`, reading
/// the message from a pipe the test holds (its stdin), so the test decides
/// how far the stream gets; stdout and stderr piped too.
pub fn piped_send(keys: &Path, addr: SocketAddr) -> Child {
    Command::new(bin("cloak-client"))
        .arg("--keys")
        .arg(keys)
        .args(["--addr", &addr.to_string(), "--timeout", "20"])
        .args(["send_msg", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cloak-client")
}

/// Runs `cloak-client` against `addr` with `keys`.
pub fn client(keys: &Path, addr: SocketAddr, args: &[&str]) -> Output {
    client_with_timeout(keys, addr, 20, args)
}

/// Runs `cloak-client` against `addr` with `keys`, waiting at most
/// `seconds` for the server at each step (`--timeout`), for tests of a
/// server that stalls.
pub fn client_with_timeout(keys: &Path, addr: SocketAddr, seconds: u64, args: &[&str]) -> Output {
    Command::new(bin("cloak-client"))
        .arg("--keys")
        .arg(keys)
        .arg("--addr")
        .arg(addr.to_string())
        .args(["--timeout", &seconds.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run cloak-client")
}

/// The text of a client's stdout and stderr.
pub fn texts(output: &Output) -> (String, String) {
    (
        unwrapped(&String::from_utf8_lossy(&output.stdout)),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `text` with the rows that [`cloak_core::text::quoted`] wrapped joined
/// again (a row continues the previous one when that one filled the quoted
/// width), so that a test can look for a long message line as it was sent.
pub fn unwrapped(text: &str) -> String {
    use cloak_core::text::{QUOTE, QUOTE_WIDTH};
    use unicode_width::UnicodeWidthStr;
    let mut out = String::with_capacity(text.len());
    let mut full = false;
    for (i, row) in text.split('\n').enumerate() {
        let content = row.strip_prefix(QUOTE);
        match content {
            Some(rest) if full => out.push_str(rest),
            _ => {
                if i > 0 {
                    out.push('\n');
                }
                out.push_str(row);
            }
        }
        full = content.is_some_and(|rest| rest.width() == QUOTE_WIDTH);
    }
    out
}

/// A one-connection relay that records what the client sent.
pub struct Recorder {
    /// Where the client should connect.
    pub addr: SocketAddr,
    recorded: Arc<Mutex<Vec<u8>>>,
    done: thread::JoinHandle<()>,
}

impl Recorder {
    /// Relays one connection to `server`.
    pub fn start(server: SocketAddr) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&recorded);
        let done = thread::spawn(move || {
            let (client, _) = listener.accept().unwrap();
            let upstream = TcpStream::connect(server).unwrap();
            let (mut c_read, mut u_write) =
                (client.try_clone().unwrap(), upstream.try_clone().unwrap());
            let up = thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n) = c_read.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    sink.lock().unwrap().extend_from_slice(&buf[..n]);
                    if u_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = u_write.shutdown(std::net::Shutdown::Write);
            });
            let (mut u_read, mut c_write) = (upstream, client);
            let _ = std::io::copy(&mut u_read, &mut c_write);
            let _ = c_write.shutdown(std::net::Shutdown::Write);
            let _ = up.join();
        });
        Recorder {
            addr,
            recorded,
            done,
        }
    }

    /// Waits for the relayed connection to end; returns the client's bytes.
    pub fn finish(self) -> Vec<u8> {
        self.done.join().unwrap();
        self.recorded.lock().unwrap().clone()
    }
}

/// A raw connection for speaking (or abusing) the protocol by hand.
pub struct Raw {
    /// The socket.
    pub stream: TcpStream,
}

impl Raw {
    /// Connects, with 10 s read and write timeouts.
    pub fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
            .set_write_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Raw { stream }
    }

    /// Reads one frame's payload, `None` on EOF.
    pub fn read_frame(&mut self) -> Option<Vec<u8>> {
        read_frame(&mut self.stream, usize::MAX).ok()?
    }

    /// Reads and decodes one server message.
    pub fn read_server(&mut self) -> Option<cloak_core::session::ServerMessage> {
        let payload = self.read_frame()?;
        cloak_core::session::messages::decode_payload(&payload).ok()
    }

    /// Writes raw bytes; the server may already have hung up, which the
    /// test then sees when it reads.
    pub fn send(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
    }

    /// Whether the server closed the connection (EOF or reset) within 10 s.
    pub fn closed_by_server(&mut self) -> bool {
        let mut buf = [0u8; 1024];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }
}

/// Speaks the protocol with the client's own keys through the library, for
/// tests that need control the binary does not give (fixed message ids,
/// stopping between phases).
pub struct LibClient {
    /// The client's key pair.
    pub me: KeyPair,
    /// The pinned server key.
    pub server: cloak_core::PublicKey,
}

impl LibClient {
    /// Loads the client's keys from `keys`.
    pub fn new(keys: &Path) -> LibClient {
        let dir = KeyDir::new(keys);
        LibClient {
            me: dir.load_own(Role::Client).expect("client key"),
            server: dir.load_peer(Role::Server).expect("server key"),
        }
    }

    /// Connects and reads the hello.
    pub fn hello(&self, addr: SocketAddr) -> (Raw, cloak_core::session::ServerHello) {
        let mut raw = Raw::connect(addr);
        match raw.read_server() {
            Some(cloak_core::session::ServerMessage::Hello(hello)) => (raw, hello),
            other => panic!("expected a hello, got {other:?}"),
        }
    }

    /// The encoded `Send` frame for `text` with `id`, sealed over `hello`
    /// (one asymmetric envelope with its proof), the receipt key inside it, and the
    /// digest of its plaintext.
    pub fn send_frame(
        &self,
        hello: &cloak_core::session::ServerHello,
        text: &[u8],
        id: cloak_core::MessageId,
    ) -> (Vec<u8>, [u8; 32], [u8; 32]) {
        let receipt_key = cloak_core::session::proofs::new_receipt_key();
        let mut payload = receipt_key.to_vec();
        payload.extend_from_slice(text);
        let options = cloak_core::SealOptions {
            message_id: Some(id),
            ..Default::default()
        };
        let sealed = cloak_core::seal(
            &self.me,
            &self.server,
            cloak_core::Mode::Asymmetric,
            &hello.challenge,
            &payload,
            &options,
        )
        .expect("seal");
        let message = cloak_core::session::sender_proof::prove_envelope(
            &self.me,
            &self.server,
            &hello.challenge,
            sealed.bytes,
        )
        .expect("prove");
        let payload_bytes = cloak_core::session::messages::encode_payload(&message);
        (
            cloak_core::session::frame::encode(&payload_bytes),
            *receipt_key,
            sealed.plaintext_digest,
        )
    }

    /// Sends `text` with `id` on a fresh connection; returns whether a
    /// receipt came back and verified.
    pub fn send(&self, addr: SocketAddr, text: &[u8], id: cloak_core::MessageId) -> bool {
        let (mut raw, hello) = self.hello(addr);
        let (frame, receipt_key, digest) = self.send_frame(&hello, text, id);
        raw.send(&frame);
        match raw.read_server() {
            Some(cloak_core::session::ServerMessage::Receipt(receipt)) => {
                receipt.message_id == id
                    && cloak_core::session::proofs::verify_receipt(
                        &receipt_key,
                        id,
                        self.server.fingerprint(),
                        &hello.challenge,
                        &digest,
                        &receipt.mac,
                    )
            }
            _ => false,
        }
    }

    /// Fetches without acknowledging (a client that dies after reading);
    /// returns how many envelopes were delivered.
    pub fn fetch_without_ack(&self, addr: SocketAddr) -> usize {
        let (mut raw, hello) = self.hello(addr);
        let request = cloak_core::session::proofs::sign_fetch(
            &self.me,
            hello.server,
            &hello.challenge,
            cloak_core::Mode::Hybrid,
        )
        .expect("sign");
        let message = cloak_core::session::ClientMessage::Fetch(request);
        let payload = cloak_core::session::messages::encode_payload(&message);
        raw.send(&cloak_core::session::frame::encode(&payload));
        match raw.read_server() {
            Some(cloak_core::session::ServerMessage::Delivery { envelopes, .. }) => envelopes.len(),
            other => panic!("expected a delivery, got {other:?}"),
        }
    }
}

/// A relay that loses the server's answer on the first connection (the
/// hello goes through, the receipt does not) and relays later connections
/// faithfully: a lost receipt, as a flaky network would cause.
pub struct LossyRelay {
    /// Where the client should connect.
    pub addr: SocketAddr,
}

fn read_frame_bytes(stream: &mut TcpStream) -> Option<Vec<u8>> {
    read_whole_frame(stream, usize::MAX).ok()?
}

impl LossyRelay {
    /// Relays to `server` for up to `connections` connections.
    pub fn start(server: SocketAddr, connections: usize) -> LossyRelay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            for index in 0..connections {
                let Ok((client, _)) = listener.accept() else {
                    return;
                };
                let upstream = TcpStream::connect(server).unwrap();
                let mut c_read = client.try_clone().unwrap();
                let mut u_write = upstream.try_clone().unwrap();
                thread::spawn(move || {
                    let _ = std::io::copy(&mut c_read, &mut u_write);
                    let _ = u_write.shutdown(std::net::Shutdown::Write);
                });
                let (mut u_read, mut c_write) = (upstream, client);
                if index == 0 {
                    if let Some(hello) = read_frame_bytes(&mut u_read) {
                        let _ = c_write.write_all(&hello);
                    }
                    // Swallow the answer, then hang up on the client.
                    let _ = read_frame_bytes(&mut u_read);
                    let _ = c_write.shutdown(std::net::Shutdown::Both);
                } else {
                    let _ = std::io::copy(&mut u_read, &mut c_write);
                    let _ = c_write.shutdown(std::net::Shutdown::Write);
                }
            }
        });
        LossyRelay { addr }
    }
}

/// A hybrid stream sealed by the client, as the frames it would send.
pub struct StreamFrames {
    /// The `SendStream` frame.
    pub head: Vec<u8>,
    /// One `Chunk` frame per data chunk.
    pub chunks: Vec<Vec<u8>>,
    /// The `End` frame.
    pub end: Vec<u8>,
}

impl LibClient {
    /// Seals `text` (after a receipt key) as a stream over `hello`.
    pub fn stream_frames(
        &self,
        hello: &cloak_core::session::ServerHello,
        text: &[u8],
    ) -> StreamFrames {
        use cloak_core::session::ClientMessage;
        let frame = |m: &ClientMessage| {
            cloak_core::session::frame::encode(&cloak_core::session::messages::encode_payload(m))
        };
        let (mut sealer, head) = cloak_core::envelope::stream::StreamSealer::new(
            &self.me,
            &self.server,
            &hello.challenge,
            &Default::default(),
        )
        .expect("seal");
        let first = cloak_core::session::sender_proof::prove_stream(
            &mut sealer,
            &self.me,
            self.server.fingerprint(),
            &hello.challenge,
            head,
        )
        .expect("prove");
        let mut data = sealer.push(&[0u8; 32]).expect("seal");
        data.extend(sealer.push(text).expect("seal"));
        let end = sealer.finish().expect("seal");
        data.extend(end.last_data);
        StreamFrames {
            head: frame(&first),
            chunks: data
                .into_iter()
                .map(|data| frame(&ClientMessage::Chunk { data }))
                .collect(),
            end: frame(&ClientMessage::End {
                data: end.final_chunk,
            }),
        }
    }
}

/// A running `cloak-tap`, killed on drop.
pub struct Tap {
    child: Child,
    /// Where clients connect.
    pub addr: SocketAddr,
    stdout: Arc<Mutex<String>>,
    stdout_done: Option<thread::JoinHandle<()>>,
}

impl Tap {
    /// Starts a tap in front of `server` with `args`.
    pub fn start(server: SocketAddr, args: &[&str]) -> Tap {
        let mut child = Command::new(bin("cloak-tap"))
            .args(["--listen", "127.0.0.1:0", "--to", &server.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start cloak-tap");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).expect("read first line");
        let addr = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .parse()
            .expect("address");
        let out = Arc::new(Mutex::new(String::new()));
        let done = collect(stdout, Arc::clone(&out));
        Tap {
            child,
            addr,
            stdout: out,
            stdout_done: Some(done),
        }
    }

    /// What the tap printed so far.
    pub fn stdout(&self) -> String {
        unwrapped(&self.stdout.lock().unwrap())
    }

    /// Waits up to 10 s for the tap's output to contain `needle`.
    pub fn wait_stdout(&self, needle: &str) -> String {
        wait_for(|| self.stdout().contains(needle), || self.stdout(), needle)
    }

    /// Whether the tap is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Waits for the tap to exit (after `--connections N`); returns all it
    /// printed.
    pub fn wait(mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.child.try_wait().expect("try_wait").is_none() {
            assert!(Instant::now() < deadline, "tap did not finish");
            thread::sleep(Duration::from_millis(20));
        }
        if let Some(done) = self.stdout_done.take() {
            done.join().expect("tap output reader");
        }
        self.stdout()
    }
}

/// The address each connection of a tap's output came to the server
/// from, by connection number: the server logs its refusals by it.
pub fn tap_upstreams(printed: &str) -> Vec<String> {
    let mut found: Vec<(usize, String)> = printed
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("[tap #")?;
            let (label, rest) = rest.split_once("] connected to the server from ")?;
            Some((label.parse().ok()?, rest.trim().to_owned()))
        })
        .collect();
    found.sort();
    for (i, (label, _)) in found.iter().enumerate() {
        assert_eq!(*label, i, "tap connections numbered in order: {printed}");
    }
    found.into_iter().map(|(_, addr)| addr).collect()
}

/// The server's log lines about the peer at `addr` (by the address its
/// `peer=` field gives).
pub fn lines_about<'a>(log: &'a str, addr: &str) -> Vec<&'a str> {
    let field = format!("peer={addr}");
    log.lines()
        .filter(|line| line.split_whitespace().any(|word| word == field))
        .collect()
}

impl Drop for Tap {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `text` in `mode` through a recording tap; returns the file with
/// the client's bytes of that (successful) session.
pub fn record_session(keys: &Path, server: SocketAddr, mode: &str, text: &str) -> PathBuf {
    let record = keys.join(format!("{mode}-{}.bin", text.len()));
    let tap = Tap::start(
        server,
        &["--record", record.to_str().unwrap(), "--connections", "1"],
    );
    let out = client(keys, tap.addr, &["--mode", mode, "send_msg", text]);
    assert!(out.status.success(), "{}", texts(&out).1);
    tap.wait();
    record
}

/// The hello a server holding the key pinned in `keys` would send: its
/// fingerprint (so the client's pinning passes), a fresh challenge, both
/// modes.
pub fn pinned_hello(keys: &Path) -> cloak_core::session::ServerHello {
    let server = KeyDir::new(keys)
        .load_peer(Role::Server)
        .expect("server key");
    cloak_core::session::ServerHello {
        server: server.fingerprint(),
        challenge: cloak_core::session::proofs::new_challenge(),
        modes: vec![cloak_core::Mode::Asymmetric, cloak_core::Mode::Hybrid],
    }
}

/// One step of a [`FakeServer`]'s script, after its hello.
#[derive(Debug, Clone)]
pub enum Step {
    /// Wait for one whole frame from the client and record its payload.
    Read,
    /// Write these bytes as they are: frames, part of one, or garbage.
    Write(Vec<u8>),
    /// Write what an [`Answer`] makes of the challenge in the client's
    /// `Fetch` (the last frame read): a reply only the running client's
    /// challenge makes valid. Nothing is written if that frame was not a
    /// fetch.
    Answer(Answer),
    /// Write every frame a [`Feed`] makes, until it runs dry or the
    /// client stops reading.
    Feed(Feed),
    /// Send nothing, and wait (recording what the client sends) until the
    /// client hangs up: a server that has gone quiet.
    Silence,
}

/// Makes the bytes of an [`Answer`] from the client's challenge.
type MakeAnswer = dyn Fn(&cloak_core::session::Challenge) -> Vec<u8> + Send + Sync;

/// The bytes a [`FakeServer`] answers a fetch with, made from the client's
/// challenge, which is known only once the fetch arrives.
#[derive(Clone)]
pub struct Answer(Arc<MakeAnswer>);

impl Answer {
    /// An answer made by `make` from the client's challenge.
    pub fn new(
        make: impl Fn(&cloak_core::session::Challenge) -> Vec<u8> + Send + Sync + 'static,
    ) -> Answer {
        Answer(Arc::new(make))
    }
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Answer(..)")
    }
}

/// Frames made on demand by another thread, a few at a time, so that a
/// fake server can stream far more than a test could hold in memory.
#[derive(Clone)]
pub struct Feed(Arc<Mutex<std::sync::mpsc::Receiver<Vec<u8>>>>);

impl Feed {
    /// Runs `make` on a thread of its own with a sender for the frames;
    /// `make` should stop once a send fails (the fake server has stopped
    /// taking frames).
    pub fn spawn(make: impl FnOnce(std::sync::mpsc::SyncSender<Vec<u8>>) + Send + 'static) -> Feed {
        let (frames, feed) = std::sync::mpsc::sync_channel(2);
        thread::spawn(move || make(frames));
        Feed(Arc::new(Mutex::new(feed)))
    }
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Feed(..)")
    }
}

/// What a [`FakeServer`] saw of its connection.
#[derive(Debug, Default)]
pub struct Transcript {
    /// The payloads of the frames the client sent.
    pub received: Vec<Vec<u8>>,
    /// Bytes of the script written to the client (the hello aside): what
    /// a feed got out before the client stopped reading, a few socket
    /// buffers beyond what the client took.
    pub written: u64,
}

/// A server that plays a script to one client connection instead of
/// following the protocol, to test how the client takes a hostile server.
pub struct FakeServer {
    /// Where the client should connect.
    pub addr: SocketAddr,
    done: thread::JoinHandle<Transcript>,
}

impl FakeServer {
    /// Accepts one connection, sends `hello`, then plays `script`; after
    /// it, records what the client still sends until it closes.
    pub fn start(hello: cloak_core::session::ServerHello, script: Vec<Step>) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let done = thread::spawn(move || {
            let Some(stream) = accept_and_greet(&listener, hello) else {
                return Transcript::default();
            };
            let mut player = Player {
                stream,
                transcript: Transcript::default(),
            };
            for step in script {
                player.play(step);
            }
            player.hang_up()
        });
        FakeServer { addr, done }
    }

    /// Waits for the connection to end; returns the payloads of the frames
    /// the client sent.
    pub fn finish(self) -> Vec<Vec<u8>> {
        self.transcript().received
    }

    /// Waits for the connection to end; returns what was read and written.
    pub fn transcript(self) -> Transcript {
        self.done.join().unwrap()
    }

    /// [`FakeServer::finish`], decoded as client messages (`None` for a
    /// payload that does not decode).
    pub fn finish_messages(self) -> Vec<Option<cloak_core::session::ClientMessage>> {
        self.finish()
            .iter()
            .map(|payload| cloak_core::session::messages::decode_payload(payload).ok())
            .collect()
    }
}

/// A fake server's connection as it plays its script.
struct Player {
    stream: TcpStream,
    transcript: Transcript,
}

impl Player {
    fn play(&mut self, step: Step) {
        match step {
            Step::Read => self.read(),
            Step::Write(bytes) => {
                self.write(&bytes);
            }
            Step::Answer(answer) => {
                if let Some(challenge) = self.fetched_challenge() {
                    self.write(&(answer.0)(&challenge));
                }
            }
            Step::Feed(feed) => {
                let frames = feed.0.lock().unwrap();
                // Ends when the feed runs dry or a write fails.
                while frames.recv().is_ok_and(|frame| self.write(&frame)) {}
            }
            Step::Silence => {
                // Longer than any client timeout a test sets, yet finite,
                // so a client that never gives up fails the test instead
                // of hanging it.
                let _ = self.stream.set_read_timeout(Some(Duration::from_secs(60)));
                self.read_until_eof();
            }
        }
    }

    fn read(&mut self) {
        self.transcript
            .received
            .extend(read_frame_bytes(&mut self.stream).map(|frame| frame[4..].to_vec()));
    }

    fn read_until_eof(&mut self) {
        while let Some(frame) = read_frame_bytes(&mut self.stream) {
            self.transcript.received.push(frame[4..].to_vec());
        }
    }

    /// Writes `bytes`; whether they all went out.
    fn write(&mut self, bytes: &[u8]) -> bool {
        let sent = self.stream.write_all(bytes).is_ok();
        if sent {
            self.transcript.written += bytes.len() as u64;
        }
        sent
    }

    /// The challenge of the client's fetch, if the last frame read was one.
    fn fetched_challenge(&self) -> Option<cloak_core::session::Challenge> {
        let payload = self.transcript.received.last()?;
        match cloak_core::session::messages::decode_payload(payload) {
            Ok(cloak_core::session::ClientMessage::Fetch(request)) => Some(request.challenge),
            _ => None,
        }
    }

    fn hang_up(mut self) -> Transcript {
        // Closing with the client's bytes unread would reset the
        // connection and could destroy ours before the client reads
        // them: read until the client hangs up.
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
        self.read_until_eof();
        self.transcript
    }
}

/// A fake server's one connection, greeted with `hello` (`None` if no
/// client came within 30 s).
fn accept_and_greet(
    listener: &TcpListener,
    hello: cloak_core::session::ServerHello,
) -> Option<TcpStream> {
    let mut stream = accept_within(listener, Duration::from_secs(30))?;
    let hello = cloak_core::session::ServerMessage::Hello(hello);
    let _ = stream.write_all(&cloak_core::session::messages::encode_frame(&hello));
    Some(stream)
}

/// The first connection to `listener` within `limit`, with 10 s read and
/// write timeouts; `None` if no client came (so a test fails instead of
/// hanging).
fn accept_within(listener: &TcpListener, limit: Duration) -> Option<TcpStream> {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok((stream, _)) = listener.accept() {
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            stream
                .set_write_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            return Some(stream);
        }
        thread::sleep(Duration::from_millis(10));
    }
    None
}

/// A fetch answered on a connection left open for its acknowledgement.
pub struct OpenFetch {
    /// The connection.
    pub raw: Raw,
    /// The server's hello on it.
    pub hello: cloak_core::session::ServerHello,
    /// The fetch the client sent.
    pub request: cloak_core::session::FetchRequest,
    /// The server's answer to it (`None`: no answer that decodes).
    pub answer: Option<cloak_core::session::ServerMessage>,
}

impl OpenFetch {
    /// Sends `Ack { ids, proof }`, whatever the proof, and reads the answer.
    pub fn ack(
        &mut self,
        ids: Vec<cloak_core::MessageId>,
        proof: Vec<u8>,
    ) -> Option<cloak_core::session::ServerMessage> {
        let ack = cloak_core::session::ClientMessage::Ack { ids, proof };
        self.raw
            .send(&cloak_core::session::messages::encode_frame(&ack));
        self.raw.read_server()
    }
}

impl LibClient {
    /// Fetches in `mode` on a fresh connection and reads the answer,
    /// leaving the connection open for an acknowledgement.
    pub fn fetch_open(&self, addr: SocketAddr, mode: cloak_core::Mode) -> OpenFetch {
        let (mut raw, hello) = self.hello(addr);
        let request =
            cloak_core::session::proofs::sign_fetch(&self.me, hello.server, &hello.challenge, mode)
                .expect("sign");
        let fetch = cloak_core::session::ClientMessage::Fetch(request.clone());
        raw.send(&cloak_core::session::messages::encode_frame(&fetch));
        let answer = raw.read_server();
        OpenFetch {
            raw,
            hello,
            request,
            answer,
        }
    }

    /// The ids of the messages `fetch` delivered, each opened and verified
    /// as the client would (sealed to it, signed by the pinned server key
    /// over its challenge). Fails the test if the answer is no delivery.
    pub fn delivered_ids(&self, fetch: &OpenFetch) -> Vec<cloak_core::MessageId> {
        let Some(cloak_core::session::ServerMessage::Delivery { envelopes, .. }) = &fetch.answer
        else {
            panic!("expected a delivery, got {:?}", fetch.answer);
        };
        envelopes
            .iter()
            .map(|envelope| {
                cloak_core::open(
                    &self.me,
                    &self.server,
                    envelope,
                    cloak_core::FreshnessCheck::Expect(&fetch.request.challenge),
                    &cloak_core::OpenOptions::default(),
                )
                .expect("a delivered envelope opens")
                .message_id
            })
            .collect()
    }

    /// A genuine acknowledgement proof for `ids` on `fetch`'s connection.
    pub fn ack_proof(&self, fetch: &OpenFetch, ids: &[cloak_core::MessageId]) -> Vec<u8> {
        cloak_core::session::proofs::sign_ack(
            &self.me,
            fetch.hello.server,
            &fetch.hello.challenge,
            &fetch.request.challenge,
            ids,
        )
        .expect("sign")
    }
}

/// A fake server whose one answer depends on what the client sent (a
/// receipt for the client's own message id, say), where a [`FakeServer`]'s
/// script is written before the client connects.
pub struct AnsweringServer {
    /// Where the client should connect.
    pub addr: SocketAddr,
    done: thread::JoinHandle<Vec<Vec<u8>>>,
}

impl AnsweringServer {
    /// Accepts one connection and sends `hello`; then, after each frame
    /// the client sends, gives `answer` the payloads so far, and writes
    /// what it returns the first time it returns something. After that it
    /// records what the client still sends until it closes.
    pub fn start(
        hello: cloak_core::session::ServerHello,
        mut answer: impl FnMut(&[Vec<u8>]) -> Option<Vec<u8>> + Send + 'static,
    ) -> AnsweringServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let done = thread::spawn(move || {
            let Some(mut stream) = accept_and_greet(&listener, hello) else {
                return Vec::new();
            };
            let mut received = Vec::new();
            while let Some(frame) = read_frame_bytes(&mut stream) {
                received.push(frame[4..].to_vec());
                if let Some(bytes) = answer(&received) {
                    let _ = stream.write_all(&bytes);
                    break;
                }
            }
            // Closing with the client's bytes unread would reset the
            // connection and could destroy ours before the client reads
            // them: read until the client hangs up.
            let _ = stream.shutdown(std::net::Shutdown::Write);
            received.extend(std::iter::from_fn(|| {
                read_frame_bytes(&mut stream).map(|frame| frame[4..].to_vec())
            }));
            received
        });
        AnsweringServer { addr, done }
    }

    /// Waits for the connection to end; returns the payloads of the frames
    /// the client sent.
    pub fn finish(self) -> Vec<Vec<u8>> {
        self.done.join().unwrap()
    }
}

/// How a client's failure must end: exit code 1 with one error line,
/// never a signal (an abort) or a backtrace.
pub fn assert_clean_failure(what: &str, out: &Output) {
    use std::os::unix::process::ExitStatusExt;
    let (stdout, stderr) = texts(out);
    assert_eq!(
        out.status.signal(),
        None,
        "{what}: the client was killed by a signal; stderr:\n{stderr}"
    );
    assert_eq!(out.status.code(), Some(1), "{what}: {stdout}{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        lines.len() == 1 && lines[0].starts_with("cloak-client: error:"),
        "{what}: one error line expected, got:\n{stderr}"
    );
}
