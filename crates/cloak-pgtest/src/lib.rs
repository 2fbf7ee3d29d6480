//! `cloak-pgtest`: a throwaway PostgreSQL cluster for tests, started from
//! the server binaries (`initdb`, `pg_ctl`; `psql` for SQL) rather than
//! through a client library, in a temporary folder, on a free loopback
//! port. One cluster serves every test of a test binary; each test takes a
//! database of its own with [`PgCluster::fresh_database`].
//!
//! Without the server binaries the tests skip, saying so on stderr,
//! unless `CLOAK_REQUIRE_POSTGRES` is set (CI sets it). `CLOAK_PG_BINDIR`
//! names the binaries' folder when the search does not find it.
#![forbid(unsafe_code)]

mod cluster;
mod find;
mod process;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

pub use cluster::PgCluster;

/// The folder of the PostgreSQL server binaries, if installed:
/// `CLOAK_PG_BINDIR` as given, else the first `initdb` on PATH, else the
/// newest `/usr/lib/postgresql/*/bin` (Debian), else `pg_config --bindir`
/// when `initdb` is there.
pub fn binaries() -> Option<PathBuf> {
    find::bindir()
}

/// The shared cluster, or a plain `return` from the enclosing test when
/// the PostgreSQL server binaries are not installed:
///
/// ```no_run
/// # fn main() {
/// let pg = cloak_pgtest::cluster_or_skip!();
/// let url = pg.fresh_database();
/// # }
/// ```
#[macro_export]
macro_rules! cluster_or_skip {
    () => {
        match $crate::PgCluster::shared() {
            Some(cluster) => cluster,
            None => return,
        }
    };
}
