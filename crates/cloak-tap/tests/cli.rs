//! Golden tests of `cloak-tap`'s command line.

use std::process::Command;

#[test]
fn help_lists_every_attack() {
    let out = Command::new(env!("CARGO_BIN_EXE_cloak-tap"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for switch in [
        "--flip",
        "--truncate",
        "--replay",
        "--record",
        "--drop-chunk",
        "--swap-frames",
        "--forward-to",
    ] {
        assert!(help.contains(switch), "{switch} missing from:\n{help}");
    }
}

#[test]
fn conflicting_attacks_are_a_one_line_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_cloak-tap"))
        .args(["--to", "127.0.0.1:9", "--flip", "3", "--truncate", "4"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("cannot be used with"), "{err}");
}
