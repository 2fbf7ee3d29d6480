//! Golden tests of `cloak-client`'s command line: one-line errors with a
//! non-zero status, never a panic.

use std::process::{Command, Output};

fn client(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cloak-client"))
        .args(args)
        .env_remove("CLOAK_KEYS")
        .env_remove("CLOAK_ADDR")
        .output()
        .expect("run cloak-client")
}

#[test]
fn help_lists_the_original_commands() {
    let out = client(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for command in ["send_msg", "recv_msg", "generate_key_pair"] {
        assert!(help.contains(command), "{help}");
    }
}

#[test]
fn bad_inputs_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().to_str().unwrap();
    let missing = dir.path().join("missing.txt");
    let cases: &[(&[&str], &str, i32)] = &[
        (&["send_msg"], "required", 2),
        (&["--mode", "rot13", "recv_msg"], "unknown mode", 2),
        (&["send_msg", "x", "--file", "y"], "cannot be used with", 2),
        (
            &[
                "--keys",
                keys,
                "send_msg",
                "--file",
                missing.to_str().unwrap(),
            ],
            "missing.txt",
            1,
        ),
        (
            &["--keys", keys, "recv_msg"],
            "cloak-client generate_key_pair",
            1,
        ),
        (
            &["generate_key_pair", "--keys", keys, "--bits", "512"],
            "use 2048, 3072 or 4096",
            1,
        ),
    ];
    for (args, expected, code) in cases {
        let out = client(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(*code), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(!err.contains("panicked"));
    }
}

#[test]
fn missing_server_key_says_where_it_comes_from() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().to_str().unwrap();
    let out = client(&["generate_key_pair", "--keys", keys, "--bits", "2048"]);
    assert!(out.status.success());
    let out = client(&["--keys", keys, "send_msg", "hi"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("server_public.pem not found")
            && err.contains("cloak-server generate_key_pair"),
        "{err}"
    );
}

#[test]
fn bad_key_files_each_give_one_clear_error() {
    use std::os::unix::fs::PermissionsExt;
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    let good = std::fs::read_to_string(fixtures.join("python-keys/client_private.pem")).unwrap();
    let cases: &[(&str, String, u32, &str)] = &[
        ("loose", good.clone(), 0o644, "chmod 600"),
        (
            "truncated",
            good[..good.len() / 2].to_owned(),
            0o600,
            "is not a valid RSA key file",
        ),
        (
            "corrupt",
            good.replace('A', "B"),
            0o600,
            "is not a valid RSA key file",
        ),
        (
            "public",
            std::fs::read_to_string(fixtures.join("python-keys/client_public.pem")).unwrap(),
            0o600,
            "holds a public key, but a private key is needed",
        ),
        (
            "weak",
            std::fs::read_to_string(fixtures.join("key-variants/weak_1024_private.pem")).unwrap(),
            0o600,
            "unsupported RSA key size 1024",
        ),
    ];
    for (name, pem, mode, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("client_private.pem");
        std::fs::write(&path, pem).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode)).unwrap();
        std::fs::copy(
            fixtures.join("python-keys/server_public.pem"),
            dir.path().join("server_public.pem"),
        )
        .unwrap();
        let out = client(&[
            "--keys",
            dir.path().to_str().unwrap(),
            "--addr",
            "127.0.0.1:9",
            "recv_msg",
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains(expected), "{name}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{name}: {err}");
    }
}

/// Completion scripts for each shell name the program and its commands; an
/// unknown shell is a one-line usage error.
#[test]
fn completion_scripts_cover_the_commands() {
    for shell in ["bash", "zsh", "fish"] {
        let out = client(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        for word in ["cloak-client", "send_msg", "recv_msg", "generate_key_pair"] {
            assert!(script.contains(word), "{shell} lacks {word}");
        }
    }
    let out = client(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}
