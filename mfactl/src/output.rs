//! What mfactl shows: a table of users, one user in detail, or one JSON object per line.

use std::fmt::Write as _;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use mfa_enroll::one_line;
pub use mfa_enroll::output::ok_text;
use mfa_enroll::output::{label_text, local_time, status_details};
use mfa_proto::StatusReport;
use serde_json::json;

const HEADINGS: [&str; 9] = [
    "USER",
    "APPS",
    "PASSKEYS",
    "HOTP",
    "RECOVERY",
    "PHONES AND ADDRESSES",
    "LAST LOGIN",
    "LOCKED OUT",
    "ACCOUNT",
];

/// `list`: one aligned row per user, times in `tz`.
pub fn list_text(reports: &[StatusReport], tz: &TimeZone) -> String {
    if reports.is_empty() {
        return "No users: mfa-daemon has no record and counts no failures.\n".to_owned();
    }
    let rows: Vec<[String; 9]> = std::iter::once(HEADINGS.map(str::to_owned))
        .chain(reports.iter().map(|r| list_row(r, tz)))
        .collect();
    let widths: Vec<usize> = (0..HEADINGS.len())
        .map(|column| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = String::new();
    for row in &rows {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(&widths) {
            // Widths count characters, so the masking dots (several bytes) line up.
            let _ = write!(line, "{cell:<width$}  ");
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

fn list_row(report: &StatusReport, tz: &TimeZone) -> [String; 9] {
    let apps = joined(report.authenticators.iter().map(|a| one_line(&a.label)));
    let passkeys = joined(report.passkeys.iter().map(|p| one_line(&p.label)));
    let hotp = joined(report.hotp.iter().map(|t| one_line(&t.label)));
    let contacts = joined(
        report
            .contacts
            .iter()
            .map(|c| format!("{} {}", label_text(&c.label), one_line(&c.masked))),
    );
    let lockouts = joined(
        report
            .lockouts
            .iter()
            .map(|l| format!("{} until {}", one_line(&l.source), local_time(l.until, tz))),
    );
    let last = match &report.last_success {
        Some(l) => format!(
            "{} from {} ({})",
            local_time(l.at, tz),
            one_line(&l.source),
            one_line(&l.factor)
        ),
        None => "never".to_owned(),
    };
    let account = joined(
        [
            report
                .account_locked_until
                .map(|until| format!("recovery codes only until {}", local_time(until, tz))),
            report
                .exempt_until
                .map(|until| format!("exempt until {}", local_time(until, tz))),
            report
                .grace_until
                .map(|until| format!("may skip enrolling until {}", local_time(until, tz))),
            report.bypass.as_ref().map(|b| {
                format!(
                    "bypass code: {} use(s) until {}",
                    b.uses_left,
                    local_time(b.expires_at, tz)
                )
            }),
            (!report.trusted_devices.is_empty())
                .then(|| format!("{} trusted device(s)", report.trusted_devices.len())),
        ]
        .into_iter()
        .flatten(),
    );
    [
        one_line(&report.user),
        apps,
        passkeys,
        hotp,
        report.recovery_codes_left.to_string(),
        contacts,
        last,
        lockouts,
        account,
    ]
}

/// The items, comma-separated, or `-` when there are none.
fn joined(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(", ")
    }
}

/// `show`: the user in detail, with what an admin can do about it.
pub fn show_text(report: &StatusReport, now: Timestamp, tz: &TimeZone) -> String {
    let mut text = status_details(report, now, tz);
    let user = one_line(&report.user);
    if report.authenticators.is_empty()
        && report.passkeys.is_empty()
        && report.hotp.is_empty()
        && report.recovery_codes_left == 0
        && report.contacts.is_empty()
    {
        text.push_str("Nothing is enrolled.\n");
    }
    if !report.lockouts.is_empty() || report.account_locked_until.is_some() {
        let _ = writeln!(
            text,
            "Clear the lockouts with `mfactl unlock {user}`, or one source's with \
             `mfactl unlock {user} --source SOURCE`."
        );
    }
    text
}

/// One report as a JSON line.
pub fn report_json(report: &StatusReport) -> String {
    format!("{}\n", json!(report))
}

/// A new bypass code, shown once: a line for a person or `{"user","code","uses","expires_at"}`.
pub fn bypass_text(
    user: &str,
    code: &mfa_proto::Secret,
    uses: u8,
    expires_at: u64,
    json: bool,
    tz: &TimeZone,
) -> String {
    if json {
        return format!(
            "{}\n",
            json!({ "user": user, "code": code.expose(), "uses": uses, "expires_at": expires_at })
        );
    }
    let times = if uses == 1 {
        "1 use".to_owned()
    } else {
        format!("{uses} uses")
    };
    format!(
        "Bypass code for {}: {} ({times}, expires {})\nIt is shown only now. Give it to the user by a channel you trust; it works in place of a verification code.\n",
        one_line(user),
        one_line(code.expose()),
        local_time(expires_at, tz)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use mfa_proto::{Channel, ContactKind, ContactStatus, Lockout, PasskeyStatus, TotpStatus};

    // 2025-01-05 14:00:00 UTC
    const NOW: u64 = 1_736_085_600;

    fn alice() -> StatusReport {
        StatusReport {
            user: "alice".into(),
            authenticators: vec![TotpStatus {
                label: "app".into(),
                algorithm: "SHA1".into(),
                digits: 6,
                period: 30,
                enrolled_at: NOW - 86_400,
            }],
            recovery_codes_left: 7,
            lockouts: vec![
                Lockout {
                    source: "127.0.0.1".into(),
                    until: NOW + 600,
                },
                Lockout {
                    source: "sshd:ssh".into(),
                    until: NOW + 60,
                },
            ],
            account_locked_until: None,
            contacts: vec![
                ContactStatus {
                    kind: ContactKind::Phone,
                    label: "work".into(),
                    masked: "+1 •••-•••-4567".into(),
                    channels: vec![Channel::Sms, Channel::Voice],
                    verified: true,
                    added_at: NOW - 3600,
                },
                ContactStatus {
                    kind: ContactKind::Email,
                    label: "home".into(),
                    masked: "a•••@example.com".into(),
                    channels: vec![Channel::Email],
                    verified: true,
                    added_at: NOW,
                },
            ],
            passkeys: vec![PasskeyStatus {
                label: "iphone".into(),
                enrolled_at: NOW - 600,
                last_used: None,
                aaguid: None,
            }],
            hotp: Vec::new(),
            app_passwords: Vec::new(),
            trusted_devices: Vec::new(),
            exempt_until: None,
            last_success: Some(mfa_proto::LastSuccessStatus {
                at: NOW - 3600,
                source: "10.0.0.5".into(),
                service: "sshd".into(),
                factor: "totp".into(),
            }),
            grace_until: None,
            bypass: Some(mfa_proto::BypassStatus {
                uses_left: 1,
                expires_at: NOW + 7200,
            }),
        }
    }

    fn intruder() -> StatusReport {
        StatusReport {
            user: "no-such\nuser".into(),
            account_locked_until: Some(NOW + 120),
            ..StatusReport::default()
        }
    }

    #[test]
    fn list_is_an_aligned_table_with_a_row_per_user() {
        let text = list_text(&[alice(), intruder()], &TimeZone::UTC);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("USER "), "{text}");
        assert!(
            lines[1].starts_with("alice  ")
                && lines[1].contains("  app   iphone    -     7  ")
                && lines[1].contains("2025-01-05 13:00 UTC from 10.0.0.5 (totp)")
                && lines[1].ends_with("bypass code: 1 use(s) until 2025-01-05 16:00 UTC")
                && lines[1].contains("work +1 •••-•••-4567, home a•••@example.com")
                && lines[1].contains(
                    "127.0.0.1 until 2025-01-05 14:10 UTC, sshd:ssh until 2025-01-05 14:01 UTC"
                ),
            "{text}"
        );
        // Control characters in a name cannot break the table.
        assert!(lines[2].starts_with("no-such user  -  "), "{text}");
        assert!(lines[2].contains("  never  "), "{text}");
        assert!(
            lines[2].ends_with("recovery codes only until 2025-01-05 14:02 UTC"),
            "{text}"
        );
        // Every column starts at the same character in every row.
        for heading in &HEADINGS[1..] {
            let at = lines[0].find(heading).unwrap();
            let column = lines[0][..at].chars().count();
            for line in &lines[1..] {
                let before: String = line.chars().take(column).collect();
                assert!(before.ends_with("  "), "{heading} misaligned in {line:?}");
                assert_ne!(line.chars().nth(column), Some(' '), "{heading}: {line:?}");
            }
        }
        assert!(text.lines().all(|l| l == l.trim_end()), "{text:?}");
    }

    #[test]
    fn empty_list_says_so() {
        assert!(list_text(&[], &TimeZone::UTC).starts_with("No users"));
    }

    #[test]
    fn show_has_the_details_and_says_how_to_unlock() {
        let now = Timestamp::from_second(NOW as i64).unwrap();
        let text = show_text(&alice(), now, &TimeZone::UTC);
        for needle in [
            "User: alice\n",
            "  app: enrolled 2025-01-04 14:00 UTC",
            "Passkeys:\n  iphone: added 2025-01-05 13:50 UTC, never used\n",
            "Recovery codes left: 7\n",
            "  work  +1 •••-•••-4567   text, call  added 2025-01-05 13:00 UTC\n",
            "  127.0.0.1: locked until 2025-01-05 14:10 UTC (in 10 minutes)\n",
            "`mfactl unlock alice --source SOURCE`",
        ] {
            assert!(text.contains(needle), "{needle:?} not in:\n{text}");
        }
        assert!(!text.contains("mfa-enroll"), "{text}");
        let text = show_text(&intruder(), now, &TimeZone::UTC);
        assert!(text.contains("Nothing is enrolled.\n"), "{text}");
        assert!(
            text.contains("only recovery codes are accepted until"),
            "{text}"
        );
        assert!(text.contains("`mfactl unlock no-such user`"), "{text}");
    }

    #[test]
    fn json_is_the_report_on_one_line() {
        let line = report_json(&alice());
        assert!(line.ends_with('\n') && line.trim_end().lines().count() == 1);
        let back: StatusReport = serde_json::from_str(&line).unwrap();
        assert_eq!(back, alice());
        assert_eq!(ok_text("done\nreally", false), "done really\n");
        assert_eq!(ok_text("done", true), "{\"ok\":\"done\"}\n");
    }
}
