//! Two daemons ("hosts") on one PostgreSQL database: what one accepts, locks or removes, the
//! other sees on its very next login.

use std::process::Command;

use mfa_tests::postgres::Cluster;
use mfa_tests::{root_suite_ready, run};

#[test]
fn cluster_answers_the_superuser_and_the_daemons_role() {
    if !root_suite_ready() {
        return;
    }
    let cluster = Cluster::start();
    assert_eq!(cluster.psql("select 1").trim(), "1");
    // The daemon's way in: loopback TCP, role mfa, its password (scram-sha-256).
    let mut psql = Command::new("psql");
    psql.args(["-X", "-At", "-c", "select current_user, current_database()"])
        .arg(cluster.conninfo());
    let done = run(psql, "");
    assert!(done.succeeded(), "{done}\n{}", cluster.log_section());
    assert_eq!(done.stdout.trim(), "mfa|mfa", "{done}");
}
