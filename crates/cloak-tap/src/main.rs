//! The `cloak-tap` binary: argument parsing lives in the library.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    cloak_tap::run()
}
