//! The schema: created, or migrated from an older version, by the first daemon that connects,
//! under an advisory lock so that hosts starting together do it once.

use deadpool_postgres::Object;

use super::PgError;

/// The schema this daemon writes. A database migrated by a newer daemon is refused.
pub const SCHEMA_VERSION: i32 = 2;
/// The advisory lock key under which the schema is created or migrated.
const MIGRATION_LOCK: i64 = 0x6d66_615f_7363_6800;

/// Version 1 of the schema.
const SCHEMA_V1: &str = "
CREATE TABLE mfa_users (
    name text PRIMARY KEY,
    data bytea NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text NOT NULL
);
CREATE TABLE mfa_limits (
    name text PRIMARY KEY,
    state jsonb NOT NULL,
    expires_at bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mfa_limits_expires_at ON mfa_limits (expires_at);
";

/// Version 2: the send limits' counts (one row per counted send and key), shared like the
/// attempt limits.
const SCHEMA_V2: &str = "
CREATE TABLE mfa_sends (
    key text NOT NULL,
    at bigint NOT NULL,
    expires_at bigint NOT NULL
);
CREATE INDEX mfa_sends_key_at ON mfa_sends (key, at);
CREATE INDEX mfa_sends_expires_at ON mfa_sends (expires_at);
";

/// Creates or migrates the schema, once across hosts starting together.
pub(super) async fn migrate(client: &mut Object) -> Result<(), PgError> {
    let txn = client.transaction().await?;
    txn.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    txn.batch_execute("CREATE TABLE IF NOT EXISTS mfa_schema (version integer NOT NULL)")
        .await?;
    let found: Option<i32> = txn
        .query_opt("SELECT max(version) FROM mfa_schema", &[])
        .await?
        .and_then(|row| row.get(0));
    let steps: [(i32, &str); 2] = [(1, SCHEMA_V1), (2, SCHEMA_V2)];
    match found {
        Some(version) if version > SCHEMA_VERSION => {
            return Err(PgError::Unavailable(format!(
                "the database's schema is version {version}, written by a newer pam-mfa; this \
                 daemon knows up to {SCHEMA_VERSION}: upgrade it"
            )));
        }
        Some(version) if version == SCHEMA_VERSION => {}
        found => {
            let from = found.unwrap_or(0);
            for (version, sql) in steps.iter().filter(|(v, _)| *v > from) {
                txn.batch_execute(sql).await?;
                txn.execute("INSERT INTO mfa_schema (version) VALUES ($1)", &[version])
                    .await?;
            }
            tracing::info!(
                "PostgreSQL schema {} version {SCHEMA_VERSION}",
                if found.is_none() {
                    "created at"
                } else {
                    "migrated to"
                }
            );
        }
    }
    txn.commit().await?;
    Ok(())
}
