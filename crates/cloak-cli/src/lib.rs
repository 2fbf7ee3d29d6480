//! What the CloakRoom programs share at their command line: every failure
//! becomes one line on stderr, named after the program, with a non-zero
//! exit (2 for a usage error, 1 otherwise), never a backtrace; help and
//! version go to stdout with success. And each can print its own shell
//! completion script.
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::sync::OnceLock;

use clap::{CommandFactory, Parser};
pub use clap_complete::Shell;

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
