//! `mfactl import` (root only): one request per user with the factors mfactl read from
//! google-authenticator, pam_oath or PSKC files. The daemon checks every part, decides
//! whether the user is imported or skipped, hashes scratch codes into recovery codes and
//! audits `admin_import` with the source and the labels, never a secret.

use std::sync::Arc;

use zeroize::Zeroizing;

use mfa_core::factor::recovery;
use mfa_core::factor::totp::{Algorithm, Secret, TotpParams};
use mfa_core::hotp::HotpToken;
use mfa_core::record::label_problem;
use mfa_proto::{
    FailureKind, FrameError, ImportSource, ImportStatus, ImportedApp, ImportedToken, Request,
    Response,
};

use crate::accounts;
use crate::app::Shared;
use crate::audit::{AuditEvent, AuditKind, AuditOutcome};
use crate::connection::Connection;
use crate::decisions::{ImportEnd, ImportPlan};
use crate::error::DaemonError;
use crate::handlers::common::{internal, invalid_user_name};
use crate::store::TotpFactor;
use crate::username;

/// Most apps, tokens or codes one request may carry (a PSKC batch may give a user several
/// tokens; google-authenticator makes at most 10 scratch codes).
const MAX_PARTS: usize = 16;
/// The widest per-app window kept from an imported file, in steps either side (as
/// `totp.skew` allows).
pub const MAX_IMPORTED_SKEW: u8 = 10;
/// Seconds per step an imported app may use (as `totp.period` allows).
const PERIODS: std::ops::RangeInclusive<u32> = 15..=300;
/// Shortest secret kept: RFC 4226 asks for 128 bits.
const MIN_SECRET_BYTES: usize = 16;

/// One import request, unpacked.
struct Import {
    user: String,
    source: ImportSource,
    totp: Vec<ImportedApp>,
    hotp: Vec<ImportedToken>,
    codes: Vec<mfa_proto::Secret>,
    replace: bool,
    dry_run: bool,
}

/// Answers [`Request::Import`]; any caller but root gets `Failed{not_authorized}`.
pub async fn handle(
    shared: &Arc<Shared>,
    conn: &mut Connection,
    request: Request,
) -> Result<(), FrameError> {
    let Request::Import {
        user,
        source,
        totp,
        hotp,
        recovery_codes,
        replace,
        dry_run,
    } = request
    else {
        let refusal = DaemonError::BadRequest("not an import request".to_owned());
        return conn.send(&refusal.response()).await;
    };
    let import = Import {
        user,
        source,
        totp,
        hotp,
        codes: recovery_codes,
        replace,
        dry_run,
    };
    let caller = conn.caller;
    if caller.uid != 0 {
        audit(
            shared,
            &import,
            caller.uid,
            AuditOutcome::NotAuthorized,
            None,
        );
        let refusal = Response::Failed {
            kind: FailureKind::NotAuthorized,
            message: "only root may import factors".to_owned(),
        };
        return conn.send(&refusal).await;
    }
    let response = import_user(shared, caller, import).await;
    conn.send(&response).await
}

/// Checks, resolves and stores one user's import; the answer to send.
async fn import_user(
    shared: &Arc<Shared>,
    caller: crate::connection::Caller,
    import: Import,
) -> Response {
    if !username::is_valid(&import.user) {
        return invalid_user_name().response();
    }
    let now = shared.decisions.now().secs();
    let plan = match plan(&import, now) {
        Ok(plan) => plan,
        Err(e) => {
            audit(
                shared,
                &import,
                0,
                AuditOutcome::Refused,
                Some("bad_request"),
            );
            return e.response();
        }
    };
    let detail = describe(&plan);
    let (given, replace, dry_run) = (import.user.clone(), import.replace, import.dry_run);
    let done = shared
        .blocking_hashing(caller, move |a| {
            let Some(account) = accounts::resolve(&given) else {
                return Ok(None);
            };
            let end = a.import(&account.name, &plan, replace, dry_run)?;
            Ok(Some((account.name.as_str().to_owned(), end)))
        })
        .await;
    let (user, end) = match done {
        Ok(Some(done)) => done,
        Ok(None) => {
            audit(
                shared,
                &import,
                0,
                AuditOutcome::Refused,
                Some("unknown_account"),
            );
            return DaemonError::NotEnrolled(format!(
                "no account named {} is known to this host (NSS)",
                import.user
            ))
            .response();
        }
        Err(e) => {
            audit(shared, &import, 0, AuditOutcome::Error, None);
            return internal(&e);
        }
    };
    let (status, outcome, reason) = match end {
        ImportEnd::Imported => (ImportStatus::Imported, AuditOutcome::Ok, None),
        ImportEnd::WouldImport => (ImportStatus::WouldImport, AuditOutcome::Ok, Some("dry_run")),
        ImportEnd::SkippedEnrolled => (
            ImportStatus::SkippedEnrolled,
            AuditOutcome::Refused,
            Some("already_enrolled"),
        ),
    };
    let named = Import { user, ..import };
    audit(shared, &named, 0, outcome, reason);
    Response::Imported {
        user: named.user,
        status,
        detail,
    }
}

fn audit(shared: &Shared, import: &Import, uid: u32, outcome: AuditOutcome, reason: Option<&str>) {
    let labels = labels(import);
    let factor = kinds(import);
    shared.audit.record(&AuditEvent {
        event: AuditKind::AdminImport,
        user: &import.user,
        source: Some(import.source.name()),
        factor: (!factor.is_empty()).then_some(factor.as_str()),
        label: (!labels.is_empty()).then_some(labels.as_str()),
        outcome,
        reason,
        uid: Some(uid),
        ..AuditEvent::default()
    });
}

/// The labels of the apps and tokens, comma-separated.
fn labels(import: &Import) -> String {
    let apps = import.totp.iter().map(|a| a.label.as_str());
    let tokens = import.hotp.iter().map(|t| t.label.as_str());
    apps.chain(tokens).collect::<Vec<_>>().join(",")
}

/// What kinds of factor the import carries: `totp`, `hotp`, `recovery_code`, joined by `+`.
fn kinds(import: &Import) -> String {
    let mut kinds = Vec::new();
    for (present, kind) in [
        (!import.totp.is_empty(), "totp"),
        (!import.hotp.is_empty(), "hotp"),
        (!import.codes.is_empty(), "recovery_code"),
    ] {
        if present {
            kinds.push(kind);
        }
    }
    kinds.join("+")
}

/// The factors to store, each checked; the error names the part and what is wrong.
fn plan(import: &Import, now: u64) -> Result<ImportPlan, DaemonError> {
    let parts = import.totp.len() + import.hotp.len();
    if parts == 0 && import.codes.is_empty() {
        return Err(bad("the import has no app, token or code".to_owned()));
    }
    if parts > MAX_PARTS || import.codes.len() > MAX_PARTS {
        return Err(bad(format!(
            "at most {MAX_PARTS} apps and tokens and {MAX_PARTS} codes per user"
        )));
    }
    let mut plan = ImportPlan::default();
    for app in &import.totp {
        plan.apps.push(app_factor(app, now)?);
    }
    for token in &import.hotp {
        plan.tokens.push(hotp_token(token, now)?);
    }
    let mut labels: Vec<&str> = plan.apps.iter().map(|a| a.label.as_str()).collect();
    labels.extend(plan.tokens.iter().map(|t| t.label.as_str()));
    labels.sort_unstable();
    if let Some(twice) = labels.windows(2).find(|w| w[0] == w[1]) {
        return Err(bad(format!("label {} is given twice", twice[0])));
    }
    for (n, code) in import.codes.iter().enumerate() {
        let canonical = recovery::normalize_scratch(code.expose())
            .or_else(|| recovery::normalize(code.expose()))
            .ok_or_else(|| {
                bad(format!(
                    "code {} is neither {} digits nor a recovery code",
                    n + 1,
                    recovery::SCRATCH_LEN
                ))
            })?;
        plan.codes.push(Zeroizing::new(canonical.to_string()));
    }
    Ok(plan)
}

fn app_factor(app: &ImportedApp, now: u64) -> Result<TotpFactor, DaemonError> {
    let label = &app.label;
    let (algorithm, secret) = key(label, &app.algorithm, &app.secret)?;
    if !(6..=8).contains(&app.digits) {
        return Err(bad(format!(
            "app {label}: digits must be 6 to 8, not {}",
            app.digits
        )));
    }
    if !PERIODS.contains(&app.period) {
        return Err(bad(format!(
            "app {label}: a step of {} s is not supported (15 to 300)",
            app.period
        )));
    }
    if app.skew.is_some_and(|s| s > MAX_IMPORTED_SKEW) {
        return Err(bad(format!(
            "app {label}: a window of more than {MAX_IMPORTED_SKEW} steps either side is not kept"
        )));
    }
    Ok(TotpFactor {
        label: label.clone(),
        params: TotpParams {
            algorithm,
            digits: app.digits,
            period: app.period,
        },
        secret,
        enrolled_at: now,
        last_step: 0,
        skew: app.skew,
    })
}

fn hotp_token(token: &ImportedToken, now: u64) -> Result<HotpToken, DaemonError> {
    let label = &token.label;
    let (algorithm, secret) = key(label, &token.algorithm, &token.secret)?;
    HotpToken::new(label, secret, algorithm, token.digits, token.counter, now)
        .map_err(|e| bad(format!("token {label}: {e}")))
}

/// The label checked, and the algorithm and secret decoded.
fn key(
    label: &str,
    algorithm: &str,
    secret: &mfa_proto::Secret,
) -> Result<(Algorithm, Secret), DaemonError> {
    if let Some(problem) = label_problem(label) {
        return Err(bad(problem));
    }
    let algorithm = match algorithm {
        "SHA1" => Algorithm::Sha1,
        "SHA256" => Algorithm::Sha256,
        "SHA512" => Algorithm::Sha512,
        other => {
            return Err(bad(format!(
                "{label}: algorithm must be SHA1, SHA256 or SHA512, not {other:?}"
            )));
        }
    };
    let secret = Secret::from_base32(secret.expose())
        .ok_or_else(|| bad(format!("{label}: the secret is not unpadded base32")))?;
    let len = secret_len(&secret);
    if len < MIN_SECRET_BYTES {
        return Err(bad(format!(
            "{label}: the secret is {len} bytes; at least {MIN_SECRET_BYTES} are needed"
        )));
    }
    Ok((algorithm, secret))
}

fn secret_len(secret: &Secret) -> usize {
    secret.to_base32().len() * 5 / 8
}

/// What the plan stores, for the admin: labels and counts.
fn describe(plan: &ImportPlan) -> String {
    let mut parts: Vec<String> = plan
        .apps
        .iter()
        .map(|a| {
            format!(
                "app {} ({} digits, {} s)",
                a.label, a.params.digits, a.params.period
            )
        })
        .collect();
    parts.extend(
        plan.tokens
            .iter()
            .map(|t| format!("HOTP token {} (counter {})", t.label, t.counter)),
    );
    if !plan.codes.is_empty() {
        let n = plan.codes.len();
        parts.push(format!(
            "{n} recovery code{}",
            if n == 1 { "" } else { "s" }
        ));
    }
    parts.join(", ")
}

fn bad(message: String) -> DaemonError {
    DaemonError::BadRequest(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 20 bytes: RFC 4226's test key, in base32.
    const KEY: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    fn app(label: &str) -> ImportedApp {
        ImportedApp {
            label: label.to_owned(),
            secret: KEY.into(),
            algorithm: "SHA1".to_owned(),
            digits: 6,
            period: 30,
            skew: Some(1),
        }
    }

    fn import(totp: Vec<ImportedApp>, codes: &[&str]) -> Import {
        Import {
            user: "alice".to_owned(),
            source: ImportSource::GoogleAuthenticator,
            totp,
            hotp: Vec::new(),
            codes: codes.iter().map(|c| (*c).into()).collect(),
            replace: false,
            dry_run: false,
        }
    }

    fn refusal(import: &Import) -> String {
        match plan(import, 1_000) {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_good_import_becomes_a_plan_and_its_description_holds_no_secret() {
        let plan = plan(&import(vec![app("ga")], &["1234 5678", "87654321"]), 1_000).unwrap();
        assert_eq!(plan.apps[0].skew, Some(1));
        assert_eq!(plan.apps[0].enrolled_at, 1_000);
        assert_eq!(plan.codes[0].as_str(), "12345678");
        let text = describe(&plan);
        assert_eq!(text, "app ga (6 digits, 30 s), 2 recovery codes");
        assert!(!text.contains(KEY) && !text.contains("12345678"));
    }

    #[test]
    fn each_bad_part_is_refused_by_name() {
        let with = |change: fn(&mut ImportedApp)| {
            let mut a = app("ga");
            change(&mut a);
            import(vec![a], &[])
        };
        let cases = [
            (import(Vec::new(), &[]), "no app, token or code"),
            (
                import(vec![app("ga"), app("ga")], &[]),
                "label ga is given twice",
            ),
            (import(vec![app("g a")], &[]), "label must be"),
            (with(|a| a.digits = 9), "digits must be 6 to 8"),
            (with(|a| a.period = 1), "a step of 1 s"),
            (with(|a| a.skew = Some(11)), "window of more than 10"),
            (with(|a| a.algorithm = "MD5".into()), "algorithm must be"),
            (
                with(|a| a.secret = "not base32!".into()),
                "not unpadded base32",
            ),
            (
                with(|a| a.secret = "GEZDGNBV".into()),
                "the secret is 5 bytes",
            ),
            (
                import(vec![app("ga")], &["1234567"]),
                "code 1 is neither 8 digits",
            ),
        ];
        for (bad, why) in cases {
            let text = refusal(&bad);
            assert!(text.contains(why), "{why}: {text}");
            assert!(!text.contains(KEY), "{text}");
        }
        let many = import(Vec::new(), &["12345678"; 17]);
        assert!(refusal(&many).contains("at most 16"));
    }
}
