//! Golden tests of `cloak-server`'s command line: key generation, and
//! one-line errors with a non-zero status for every bad input.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

fn server(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cloak-server"))
        .args(args)
        .env_remove("CLOAK_KEYS")
        .env_remove("CLOAK_ADDR")
        .output()
        .expect("run cloak-server")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn generate_key_pair_writes_0600_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let keys = keys.to_str().unwrap();
    let out = server(&["generate_key_pair", "--keys", keys, "--bits", "2048"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("server_private.pem") && stdout.contains("fingerprint SHA256:"),
        "{stdout}"
    );
    let private = dir.path().join("keys/server_private.pem");
    assert_eq!(
        std::fs::metadata(&private).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let before = std::fs::read(&private).unwrap();

    let out = server(&["generate_key_pair", "--keys", keys, "--bits", "2048"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("already exists") && stderr(&out).contains("--force"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&private).unwrap(), before);

    let out = server(&[
        "generate-key-pair",
        "--keys",
        keys,
        "--bits",
        "2048",
        "--force",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_ne!(std::fs::read(&private).unwrap(), before);
}

#[test]
fn bad_inputs_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().to_str().unwrap();
    let cases: &[(&[&str], &str, i32)] = &[
        (
            &["generate_key_pair", "--keys", keys, "--bits", "1024"],
            "use 2048, 3072 or 4096",
            1,
        ),
        (
            &["--keys", keys, "--addr", "127.0.0.1:0"],
            "cloak-server generate_key_pair",
            1,
        ),
        (&["--mode", "quantum"], "unknown mode", 2),
        (&["--addr", "not-an-address"], "invalid value", 2),
        (&["frobnicate"], "unrecognized subcommand", 2),
    ];
    for (args, expected, code) in cases {
        let out = server(args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(*code), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(!err.contains("panicked"));
    }
}

#[test]
fn loose_private_key_permissions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().to_str().unwrap();
    assert!(
        server(&["generate_key_pair", "--keys", keys, "--bits", "2048"])
            .status
            .success()
    );
    let private = dir.path().join("server_private.pem");
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = server(&["--keys", keys, "--addr", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("chmod 600"), "{}", stderr(&out));
}

/// Completion scripts for each shell name the program, its key command and
/// the operator commands.
#[test]
fn completion_scripts_cover_the_commands() {
    for shell in ["bash", "zsh", "fish"] {
        let out = server(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        for word in ["cloak-server", "generate_key_pair", "inbox", "post", "read"] {
            assert!(script.contains(word), "{shell} lacks {word}");
        }
    }
}
