//! Tests against a real cluster where the server binaries are installed;
//! each skips (with the shared cluster's one line on stderr) where not.

use std::fs;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::cluster::{PgCluster, open};
use crate::{binaries, cluster_or_skip};

/// psql as a client of the test's own, with nothing from this process's
/// environment: only what the test gives it.
fn bare_psql(url: &str, env: &[(&str, &str)]) -> std::process::Output {
    let psql = binaries().expect("binaries found").join("psql");
    let mut cmd = Command::new(psql);
    cmd.env_clear()
        .envs(env.iter().copied())
        .args(["-X", "-At", "-d", url, "-c", "SELECT 7"]);
    cmd.output().expect("psql runs")
}

#[test]
fn the_shared_cluster_answers_on_its_port() {
    let pg = cluster_or_skip!();
    assert_eq!(pg.psql("postgres", "SHOW port"), format!("{}\n", pg.port()));
    assert_eq!(pg.psql("postgres", "SELECT current_user"), "cloak\n");
    assert!(
        std::ptr::eq(pg, PgCluster::shared().unwrap()),
        "one cluster per process"
    );
}

#[test]
fn fresh_databases_are_distinct_and_empty() {
    let pg = cluster_or_skip!();
    let (a, b) = (pg.fresh_database(), pg.fresh_database());
    assert_ne!(a, b);
    let prefix = format!("postgres://cloak@127.0.0.1:{}/", pg.port());
    let name = a.strip_prefix(&prefix).expect("the URL's form");
    assert_eq!(
        pg.psql(name, "SELECT current_database()"),
        format!("{name}\n")
    );
    let tables = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'";
    assert_eq!(pg.psql(&b, tables), "0\n");
}

#[test]
fn psql_runs_statements_in_turn_and_reports_failure() {
    let pg = cluster_or_skip!();
    let db = pg.fresh_database();
    let sql = "CREATE TABLE t (k int, v text); INSERT INTO t VALUES (1, 'a'), (2, 'b');
               SELECT k, v FROM t ORDER BY k;";
    assert_eq!(pg.psql(&db, sql), "1|a\n2|b\n");
    let err = pg
        .try_psql(&db, "SELECT 1; SELECT * FROM missing; SELECT 2")
        .unwrap_err();
    assert!(err.contains("\"missing\" does not exist"), "{err}");
    assert!(!err.contains("\n2\n"), "ON_ERROR_STOP: {err}");
}

#[test]
fn the_passfile_lets_a_client_in_and_a_wrong_password_does_not() {
    let pg = cluster_or_skip!();
    let mode = fs::metadata(pg.passfile()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let line = format!("127.0.0.1:{}:*:cloak:{}\n", pg.port(), pg.password());
    assert_eq!(fs::read_to_string(pg.passfile()).unwrap(), line);
    let url = pg.fresh_database();
    let passfile = pg.passfile().to_str().unwrap();
    let out = bare_psql(&url, &[("PGPASSFILE", passfile)]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "7\n", "{out:?}");
    let out = bare_psql(&url, &[("PGPASSWORD", "wrong")]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("password authentication failed"));
}

#[test]
fn a_stopped_cluster_refuses_connections_and_starts_again_with_its_data() {
    if PgCluster::shared().is_none() {
        return;
    }
    // A cluster of its own: stopping the shared one would fail the others.
    let pg = PgCluster::launch(binaries().unwrap()).unwrap();
    let db = pg.fresh_database();
    pg.psql(
        &db,
        "CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)",
    );
    pg.stop();
    assert!(TcpStream::connect(("127.0.0.1", pg.port())).is_err());
    assert!(pg.try_psql(&db, "SELECT 1").is_err());
    pg.start();
    assert_eq!(pg.psql(&db, "SELECT x FROM kept"), "42\n");
}

#[test]
fn missing_binaries_skip_unless_required() {
    assert!(open(None, false).unwrap().is_none());
    let err = open(None, true).err().expect("required");
    assert!(
        err.contains("no PostgreSQL server binaries (initdb) found"),
        "{err}"
    );
    assert!(err.contains("CLOAK_REQUIRE_POSTGRES"), "{err}");
}

#[test]
fn a_bindir_without_initdb_fails_rather_than_skips() {
    let empty = tempfile::tempdir().unwrap();
    let err = open(Some(empty.path().into()), false)
        .err()
        .expect("an error");
    assert!(err.contains("no initdb in"), "{err}");
}

#[test]
fn psql_takes_and_gives_more_than_a_pipe_holds() {
    let pg = cluster_or_skip!();
    let sql = "SELECT repeat('x', 100);\n".repeat(5_000);
    let out = pg.psql("postgres", &sql);
    assert_eq!(out.len(), 5_000 * 101);
}
