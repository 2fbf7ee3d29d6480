//! Finding the PostgreSQL server binaries. Debian installs them in
//! `/usr/lib/postgresql/VERSION/bin` and puts only the clients on PATH
//! (through a wrapper), so PATH alone would miss an installed server.

use std::env;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Overrides the search, for a server built or installed elsewhere.
pub(crate) const BINDIR_VAR: &str = "CLOAK_PG_BINDIR";

/// The folder holding `initdb`, `pg_ctl` and `postgres`: `CLOAK_PG_BINDIR`
/// as given (a wrong value must fail loudly, not skip), else the first
/// `initdb` on PATH, else Debian's newest version, else `pg_config`'s.
pub(crate) fn bindir() -> Option<PathBuf> {
    if let Some(dir) = env::var_os(BINDIR_VAR).filter(|d| !d.is_empty()) {
        return Some(dir.into());
    }
    on_path().or_else(debian).or_else(pg_config)
}

/// Whether `dir` holds an executable `initdb`.
pub(crate) fn has_initdb(dir: &Path) -> bool {
    fs::metadata(dir.join("initdb"))
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The real folder of the first `initdb` on PATH: a symlink's own folder
/// may hold `initdb` alone, without `pg_ctl` or a matching `psql`.
fn on_path() -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    let dir = env::split_paths(&path).find(|d| has_initdb(d))?;
    let real = fs::canonicalize(dir.join("initdb")).ok()?;
    real.parent().map(Path::to_path_buf)
}

/// The highest-versioned `/usr/lib/postgresql/*/bin` with `initdb`.
fn debian() -> Option<PathBuf> {
    let entries = fs::read_dir("/usr/lib/postgresql").ok()?;
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            Some((
                version(&e.file_name().into_string().ok()?)?,
                e.path().join("bin"),
            ))
        })
        .filter(|(_, bin)| has_initdb(bin))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, bin)| bin)
}

/// "15" or "9.6" as comparable numbers (so 10 sorts above 9.6).
fn version(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

/// `pg_config --bindir`, trusted only when `initdb` is really there: on
/// Debian `pg_config` may come with the client package alone.
fn pg_config() -> Option<PathBuf> {
    let out = Command::new("pg_config").arg("--bindir").output().ok()?;
    let dir = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    (out.status.success() && has_initdb(&dir)).then_some(dir)
}

#[cfg(test)]
mod tests {
    use super::version;

    #[test]
    fn versions_compare_numerically() {
        assert!(version("10") > version("9.6"));
        assert!(version("15") > version("9"));
        assert_eq!(version("main"), None);
    }
}
