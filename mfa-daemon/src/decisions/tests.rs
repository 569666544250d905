//! The decisions against a real file store in a temporary directory.

use std::sync::Arc;

use zeroize::Zeroizing;

use mfa_core::Factor;
use mfa_core::contact::{Contact, ContactError};
use mfa_core::device::{self, DeviceId};
use mfa_core::factor::Rejection;
use mfa_core::factor::recovery;
use mfa_core::factor::totp::{Algorithm, Generator};
use mfa_proto::ContactKind;

use super::{
    Activation, ContactChange, ContactRemoval, Decider, Deciders, DeviceTrust, Removal, Subject,
    Verdict,
};
use crate::config::Config;

fn check(a: &Decider, user: &str, source: &str, answer: &str, now: u64) -> Verdict {
    a.check_answer(&account(user), source, answer, now, Some("sshd"), &|| true)
        .unwrap()
}

fn account(name: &str) -> Subject {
    Subject::Account(crate::username::UserName::of_stored(name.to_owned()).unwrap())
}

fn decider(dir: &std::path::Path) -> Decider {
    let config = Config {
        state_dir: dir.to_owned(),
        ..Config::default()
    };
    Deciders::open(config, Arc::new(crate::clock::SystemClock))
        .unwrap()
        .0
        .root
}

/// Enrolls `user` with a known secret, confirmed with the code of step `now/30 - 1`.
fn enroll(a: &Decider, user: &str, now: u64) -> (Generator, Vec<Zeroizing<String>>) {
    let (pending, _) = a.begin_totp(user, "app").unwrap();
    let generator = Generator::new(pending.params, &pending.secret);
    let step = generator.step_at(now) - 1;
    let code = generator.code_for_step(step);
    assert_eq!(a.pending_code_step(&pending, &code, now), Some(step));
    let Activation::Done(codes) = a.activate_totp(user, &pending, step, now).unwrap() else {
        panic!("enrollment conflicted")
    };
    (generator, codes)
}

const NOW: u64 = 1_800_000_000;

#[test]
fn a_code_is_accepted_once_and_only_later_steps_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let a = decider(dir.path());
    let (g, _) = enroll(&a, "alice", NOW);
    let step = g.step_at(NOW);
    // The enrollment code (step - 1) is already used.
    let enroll_code = g.code_for_step(step - 1);
    assert!(matches!(
        check(&a, "alice", "h", &enroll_code, NOW),
        Verdict::Rejected {
            reason: Rejection::Replayed,
            ..
        }
    ));
    let code = g.code_for_step(step);
    assert_eq!(
        check(&a, "alice", "h", &code, NOW),
        Verdict::Accepted(Factor::Totp)
    );
    assert!(matches!(
        check(&a, "alice", "h", &code, NOW),
        Verdict::Rejected {
            reason: Rejection::Replayed,
            ..
        }
    ));
    let next = g.code_for_step(step + 1);
    assert_eq!(
        check(&a, "alice", "h", &next, NOW),
        Verdict::Accepted(Factor::Totp)
    );
}

#[test]
fn a_device_is_not_trusted_after_a_change_between_the_check_and_the_trust() {
    let dir = tempfile::tempdir().unwrap();
    let a = decider(dir.path());
    let device = || DeviceId::of_login(None, Some("192.0.2.5"), "sshd").unwrap();
    let trusted_now = |user: &str| {
        let record = a.record(&account(user)).unwrap();
        device::is_trusted(&record.trusted, &device(), record.revision, NOW + 1)
    };
    // What the login does: read the record, check the code, trust the device at the
    // revision it read. Between the check and the trust, another connection changes the
    // factors: an admin reset, or the user removing an app an attacker holds.
    for (i, change) in ["reset", "new recovery codes", "app removed"]
        .into_iter()
        .enumerate()
    {
        let user = format!("trusting{i}");
        let (g, _) = enroll(&a, &user, NOW);
        add_app(&a, &user, "second", NOW);
        let read_at = a.record(&account(&user)).unwrap().revision;
        let code = g.code_for_step(g.step_at(NOW));
        assert_eq!(
            check(&a, &user, "192.0.2.5", &code, NOW),
            Verdict::Accepted(Factor::Totp)
        );
        match change {
            "reset" => assert!(a.remove_factors(&user).unwrap().is_some()),
            "new recovery codes" => {
                assert!(a.replace_recovery_codes(&user).unwrap().is_some());
            }
            _ => {
                let removed = a.remove_app(&user, "second", None).unwrap();
                assert!(matches!(removed, Removal::Removed(())), "{change}");
            }
        }
        assert_eq!(
            a.trust_device(&user, device(), read_at, 3600, NOW).unwrap(),
            DeviceTrust::FactorsChanged,
            "{change}"
        );
        assert!(!trusted_now(&user), "{change}: the device is trusted");
        assert!(
            a.record(&account(&user)).unwrap().trusted.is_empty(),
            "{change}"
        );
    }
    // Without a change in between, the same steps trust the device.
    let (g, _) = enroll(&a, "steady", NOW);
    let read_at = a.record(&account("steady")).unwrap().revision;
    let code = g.code_for_step(g.step_at(NOW));
    assert_eq!(
        check(&a, "steady", "192.0.2.5", &code, NOW),
        Verdict::Accepted(Factor::Totp)
    );
    assert_eq!(
        a.trust_device("steady", device(), read_at, 3600, NOW)
            .unwrap(),
        DeviceTrust::Trusted
    );
    assert!(trusted_now("steady"));
}

#[test]
fn used_step_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let code;
    {
        let a = decider(dir.path());
        let (g, _) = enroll(&a, "alice", NOW);
        code = g.code_for_step(g.step_at(NOW));
        assert_eq!(
            check(&a, "alice", "h", &code, NOW),
            Verdict::Accepted(Factor::Totp)
        );
    }
    let a = decider(dir.path());
    assert!(matches!(
        check(&a, "alice", "h", &code, NOW),
        Verdict::Rejected {
            reason: Rejection::Replayed,
            ..
        }
    ));
}

#[test]
fn thirty_concurrent_uses_of_one_code_give_one_success() {
    let dir = tempfile::tempdir().unwrap();
    let a = Arc::new(decider(dir.path()));
    let (g, _) = enroll(&a, "alice", NOW);
    let code = g.code_for_step(g.step_at(NOW)).to_string();
    let threads: Vec<_> = (0..30)
        .map(|i| {
            let a = a.clone();
            let code = code.clone();
            // Distinct sources, so that no lockout hides a double acceptance.
            std::thread::spawn(move || check(&a, "alice", &format!("h{i}"), &code, NOW))
        })
        .collect();
    let verdicts: Vec<Verdict> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let successes = verdicts
        .iter()
        .filter(|v| matches!(v, Verdict::Accepted(_)))
        .count();
    // 30 failures also trip the account-wide limit (20): the rest are refused for that.
    let rejections = verdicts
        .iter()
        .filter(|v| matches!(v, Verdict::Rejected { .. }))
        .count();
    assert_eq!((successes, rejections), (1, 29));
}

/// Enrolls another app of `user` labelled `label`; the recovery codes it gave (none
/// when they were kept).
fn add_app(a: &Decider, user: &str, label: &str, now: u64) -> (Generator, usize) {
    let (pending, _) = a.begin_totp(user, label).unwrap();
    let generator = Generator::new(pending.params, &pending.secret);
    let step = generator.step_at(now) - 1;
    let Activation::Done(codes) = a.activate_totp(user, &pending, step, now).unwrap() else {
        panic!("enrollment conflicted")
    };
    (generator, codes.len())
}

#[test]
fn several_apps_each_work_up_to_the_maximum_and_keep_the_recovery_codes() {
    let dir = tempfile::tempdir().unwrap();
    let a = decider(dir.path());
    let (first, codes) = enroll(&a, "alice", NOW);
    assert_eq!(codes.len(), recovery::CODES_PER_SET);
    let (second, new_codes) = add_app(&a, "alice", "phone2", NOW);
    assert_eq!(new_codes, 0, "adding an app keeps the unused codes");
    for (i, g) in [&first, &second].into_iter().enumerate() {
        let code = g.code_for_step(g.step_at(NOW));
        assert_eq!(
            check(&a, "alice", &format!("h{i}"), &code, NOW),
            Verdict::Accepted(Factor::Totp)
        );
    }
    // Replacing an app makes a new set.
    let (_, replaced) = add_app(&a, "alice", "phone2", NOW + 60);
    assert_eq!(replaced, recovery::CODES_PER_SET);
    for label in ["c", "d", "e"] {
        add_app(&a, "alice", label, NOW);
    }
    let refused = a.begin_totp("alice", "f").unwrap_err();
    assert!(
        refused.to_string().contains("policy.max_authenticators"),
        "{refused}"
    );
    assert!(
        a.begin_totp("alice", "c").is_ok(),
        "an existing label may be replaced"
    );
    assert!(a.begin_totp("alice", "a b").is_err());
    let record = a.record(&account("alice")).unwrap();
    let labels: Vec<_> = record.totp.iter().map(|t| t.label.as_str()).collect();
    assert_eq!(labels, ["app", "phone2", "c", "d", "e"]);
}

#[test]
fn min_factors_stops_a_user_removing_the_last_app_but_not_root() {
    let dir = tempfile::tempdir().unwrap();
    let a = decider(dir.path());
    enroll(&a, "alice", NOW);
    add_app(&a, "alice", "phone2", NOW);
    assert_eq!(
        a.remove_app("alice", "nope", Some(1)).unwrap(),
        Removal::NotFound
    );
    assert_eq!(
        a.remove_app("alice", "phone2", Some(1)).unwrap(),
        Removal::Removed(())
    );
    assert_eq!(
        a.remove_app("alice", "app", Some(1)).unwrap(),
        Removal::BelowMinimum(1)
    );
    assert_eq!(a.record(&account("alice")).unwrap().totp.len(), 1);
    assert_eq!(
        a.remove_app("alice", "app", None).unwrap(),
        Removal::Removed(())
    );
}

#[test]
fn thirty_concurrent_uses_of_a_one_use_bypass_code_give_one_success() {
    let dir = tempfile::tempdir().unwrap();
    let a = Arc::new(decider(dir.path()));
    let (code, expires_at) = a.issue_bypass("alice", 1, 3600, NOW, 0).unwrap();
    assert_eq!(expires_at, NOW + 3600);
    let threads: Vec<_> = (0..30)
        .map(|i| {
            let a = a.clone();
            let code = code.to_string();
            std::thread::spawn(move || check(&a, "alice", &format!("h{i}"), &code, NOW))
        })
        .collect();
    let verdicts: Vec<Verdict> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let successes = verdicts
        .iter()
        .filter(|v| **v == Verdict::Accepted(Factor::BypassCode))
        .count();
    assert_eq!(successes, 1, "{verdicts:?}");
    let record = a.record(&account("alice")).unwrap();
    assert!(record.bypass.is_none(), "used up");
    let last = record.last_success.unwrap();
    assert_eq!(
        (last.factor.as_str(), last.service.as_str()),
        ("bypass_code", "sshd")
    );
    // An expired code is refused, and a code typed with spaces is the same code.
    let (code, _) = a.issue_bypass("alice", 2, 60, NOW, 0).unwrap();
    let spaced = code.replace('-', " ");
    assert_eq!(
        check(&a, "alice", "x", &spaced, NOW),
        Verdict::Accepted(Factor::BypassCode)
    );
    assert!(matches!(
        check(&a, "alice", "y", &code, NOW + 60),
        Verdict::Rejected { .. }
    ));
}

#[test]
fn first_seen_is_kept_from_the_first_time() {
    let dir = tempfile::tempdir().unwrap();
    let a = decider(dir.path());
    assert_eq!(a.first_seen("alice", NOW).unwrap(), NOW);
    assert_eq!(a.first_seen("alice", NOW + 500).unwrap(), NOW);
}

#[test]
fn recovery_code_works_once_in_any_typing() {
    let dir = tempfile::tempdir().unwrap();
    let a = decider(dir.path());
    let (_, codes) = enroll(&a, "alice", NOW);
    let typed = codes[3].to_uppercase().replace('-', " ");
    assert_eq!(
        check(&a, "alice", "h", &typed, NOW),
        Verdict::Accepted(Factor::RecoveryCode { left: 9 })
    );
    assert!(matches!(
        check(&a, "alice", "h", &codes[3], NOW),
        Verdict::Rejected {
            reason: Rejection::Invalid,
            ..
        }
    ));
    let record = a.record(&account("alice")).unwrap();
    assert_eq!(record.recovery_codes.len(), 9);
    let on_disk =
        String::from_utf8_lossy(&std::fs::read(dir.path().join("users/alice.rec")).unwrap())
            .into_owned();
    assert!(on_disk.contains("recovery_codes"), "not the record");
    for code in &codes {
        assert!(!on_disk.contains(code.as_str()));
    }
}

#[test]
fn lockout_refuses_without_checking_and_spares_other_sources() {
    let dir = tempfile::tempdir().unwrap();
    let a = decider(dir.path());
    let (g, _) = enroll(&a, "alice", NOW);
    let mut last = None;
    for _ in 0..5 {
        last = Some(check(&a, "alice", "attacker", "000000", NOW));
    }
    let Some(Verdict::Rejected {
        locked_until: Some(until),
        ..
    }) = last
    else {
        panic!("5th failure did not lock: {last:?}")
    };
    assert_eq!(until, NOW + 60);
    let good = g.code_for_step(g.step_at(NOW));
    assert_eq!(
        check(&a, "alice", "attacker", &good, NOW),
        Verdict::SourceLocked { until }
    );
    assert_eq!(
        check(&a, "alice", "office", &good, NOW),
        Verdict::Accepted(Factor::Totp)
    );
    // Lockout state survives a restart.
    drop(a);
    let a = decider(dir.path());
    assert!(matches!(
        check(&a, "alice", "attacker", "123456", NOW + 1),
        Verdict::SourceLocked { .. }
    ));
}

#[test]
fn account_lock_still_accepts_recovery_codes() {
    let dir = tempfile::tempdir().unwrap();
    let a = decider(dir.path());
    let (g, codes) = enroll(&a, "alice", NOW);
    for i in 0..20 {
        check(&a, "alice", &format!("botnet{i}"), "000000", NOW);
    }
    assert!(a.limiter().account_locked("alice", NOW).unwrap().is_some());
    let good = g.code_for_step(g.step_at(NOW));
    assert!(matches!(
        check(&a, "alice", "home", &good, NOW),
        Verdict::Rejected {
            reason: Rejection::AccountLocked,
            ..
        }
    ));
    assert!(matches!(
        check(&a, "alice", "home", &codes[0], NOW),
        Verdict::Accepted(Factor::RecoveryCode { .. })
    ));
}

#[test]
fn unknown_and_unenrolled_users_are_rejected_like_wrong_codes() {
    let dir = tempfile::tempdir().unwrap();
    let a = decider(dir.path());
    for subject in [
        Subject::Unknown("nobody-here".to_owned()),
        Subject::Unknown("../etc/passwd".to_owned()),
        account("enrolled-nothing"),
    ] {
        for answer in ["123456", "2222-3333-4444"] {
            assert!(matches!(
                a.check_answer(&subject, "h", answer, NOW, None, &|| true)
                    .unwrap(),
                Verdict::Rejected {
                    reason: Rejection::Invalid,
                    ..
                }
            ));
        }
    }
    assert!(!dir.path().join("etc").exists());
    // Failures of names with no factor are journaled, never kept in a file each.
    let files = std::fs::read_dir(dir.path().join("users")).unwrap().count();
    assert_eq!(files, 0);
    assert_eq!(a.limiter().names().unwrap().len(), 3);
}

#[test]
fn unwritable_state_fails_closed() {
    let dir = tempfile::tempdir().unwrap();
    let a = decider(dir.path());
    let (g, _) = enroll(&a, "alice", NOW);
    let code = g.code_for_step(g.step_at(NOW));
    // Replace the users directory with a file: every write now fails.
    let users = dir.path().join("users");
    std::fs::rename(&users, dir.path().join("users.bak")).unwrap();
    std::fs::write(&users, "").unwrap();
    assert!(
        a.check_answer(&account("alice"), "h", &code, NOW, None, &|| true)
            .is_err()
    );
    std::fs::remove_file(&users).unwrap();
    std::fs::rename(dir.path().join("users.bak"), &users).unwrap();
    assert_eq!(
        check(&a, "alice", "h", &code, NOW),
        Verdict::Accepted(Factor::Totp)
    );
}

#[test]
fn replaced_enrollment_and_removal() {
    let dir = tempfile::tempdir().unwrap();
    let a = decider(dir.path());
    let (_, old_codes) = enroll(&a, "alice", NOW);
    let new_codes = a.replace_recovery_codes("alice").unwrap().unwrap();
    assert!(matches!(
        check(&a, "alice", "h", &old_codes[0], NOW),
        Verdict::Rejected { .. }
    ));
    assert!(matches!(
        check(&a, "alice", "h", &new_codes[0], NOW),
        Verdict::Accepted(_)
    ));
    assert!(a.remove_factors("alice").unwrap().is_some());
    assert!(!a.record(&account("alice")).unwrap().is_enrolled(NOW));
    assert!(a.replace_recovery_codes("alice").unwrap().is_none());
    let _ = Algorithm::Sha1;
}

#[test]
fn a_right_answer_for_a_client_that_left_consumes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let a = decider(dir.path());
    let (g, codes) = enroll(&a, "alice", NOW);
    let gone = || false;
    let code = g.code_for_step(g.step_at(NOW));
    assert_eq!(
        a.check_answer(&account("alice"), "h", &code, NOW, None, &gone)
            .unwrap(),
        Verdict::Abandoned(Factor::Totp)
    );
    assert_eq!(
        a.check_answer(&account("alice"), "h", &codes[0], NOW, None, &gone)
            .unwrap(),
        Verdict::Abandoned(Factor::RecoveryCode { left: 10 })
    );
    // Both still work for a client that stays.
    assert_eq!(
        check(&a, "alice", "h", &code, NOW),
        Verdict::Accepted(Factor::Totp)
    );
    assert_eq!(
        check(&a, "alice", "h", &codes[0], NOW),
        Verdict::Accepted(Factor::RecoveryCode { left: 9 })
    );
}

#[test]
fn an_enrollment_begun_before_another_finished_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = decider(dir.path());
    let (early, _) = a.begin_totp("alice", "app").unwrap();
    let (g, _) = enroll(&a, "alice", NOW);
    let step = Generator::new(early.params, &early.secret).step_at(NOW);
    assert!(matches!(
        a.activate_totp("alice", &early, step, NOW).unwrap(),
        Activation::Conflict
    ));
    // The enrollment made meanwhile is intact.
    let code = g.code_for_step(g.step_at(NOW));
    assert_eq!(
        check(&a, "alice", "h", &code, NOW),
        Verdict::Accepted(Factor::Totp)
    );
}

#[test]
fn new_codes_for_an_unenrolled_user_hash_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let a = decider(dir.path());
    let started = std::time::Instant::now();
    assert!(a.replace_recovery_codes("bob").unwrap().is_none());
    // Ten argon2id hashes take well over 100 ms; the refusal takes none.
    assert!(started.elapsed() < std::time::Duration::from_millis(50));
}

fn phone(number: &str, label: &str) -> Contact {
    Contact {
        destination: mfa_core::contact::Destination::Phone {
            number: mfa_core::contact::PhoneNumber::parse(number).unwrap(),
            voice_only: false,
        },
        label: label.to_owned(),
        verified: true,
        added_at: NOW,
    }
}

#[test]
fn contacts_are_added_once_removed_by_name_and_make_a_user_enrolled() {
    let dir = tempfile::tempdir().unwrap();
    let a = decider(dir.path());
    assert!(matches!(
        a.add_contact("alice", phone("+14155550123", "work"), Some(0))
            .unwrap(),
        ContactChange::Done(_)
    ));
    assert!(a.record(&account("alice")).unwrap().is_enrolled(NOW));
    // The same number again, or a confirmation prepared against an older revision.
    assert!(matches!(
        a.add_contact("alice", phone("+14155550123", "other"), None)
            .unwrap(),
        ContactChange::Refused(ContactError::Duplicate)
    ));
    assert!(matches!(
        a.add_contact("alice", phone("+14155550199", "home"), Some(0))
            .unwrap(),
        ContactChange::Conflict
    ));
    a.add_contact("alice", phone("+14155550199", "home"), None)
        .unwrap();
    assert!(matches!(
        a.remove_contact("alice", ContactKind::Email, "work", None)
            .unwrap(),
        ContactRemoval::NotFound
    ));
    assert!(matches!(
        a.remove_contact("alice", ContactKind::Phone, "work", Some(2))
            .unwrap(),
        ContactRemoval::BelowMinimum(2)
    ));
    assert!(matches!(
        a.remove_contact("alice", ContactKind::Phone, "+1 •••-•••-0123", Some(1))
            .unwrap(),
        ContactRemoval::Removed(c) if c.label == "work"
    ));
    let left = a.remove_factors("alice").unwrap().unwrap();
    assert_eq!(left.len(), 1);
    assert!(!a.record(&account("alice")).unwrap().is_enrolled(NOW));
}

#[test]
fn a_reload_changes_settings_but_never_the_socket_or_the_state_directory() {
    let dir = tempfile::tempdir().unwrap();
    let a = decider(dir.path());
    let mut moved = (*a.config()).clone();
    moved.state_dir = dir.path().join("elsewhere");
    assert!(
        a.reload(moved)
            .unwrap_err()
            .to_string()
            .contains("state_dir")
    );
    let mut stricter = (*a.config()).clone();
    stricter.max_tries = 1;
    stricter.policy.exempt_users = vec!["backup".to_owned()];
    a.reload(stricter).unwrap();
    assert_eq!(a.config().max_tries, 1);
    assert_eq!(a.policy().exempt_users, ["backup"]);
}
