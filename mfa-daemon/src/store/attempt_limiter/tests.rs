use super::*;
use std::fs;
use std::fs::OpenOptions;

fn limiter(dir: &Path) -> AttemptLimiter {
    AttemptLimiter::open(dir, LockoutPolicy::default())
        .unwrap()
        .0
}

const NOW: u64 = 1_800_000_000;

fn fail(l: &AttemptLimiter, user: &str, source: &str, now: u64) -> FailureEffect {
    l.record_failure(user, source, now).unwrap()
}

#[test]
fn counts_and_lockouts_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let l = limiter(dir.path());
    for _ in 0..4 {
        assert_eq!(fail(&l, "alice", "h", NOW), FailureEffect::Counted);
    }
    drop(l);
    let l = limiter(dir.path());
    assert_eq!(
        fail(&l, "alice", "h", NOW),
        FailureEffect::SourceLocked(NOW + 60),
        "the four failures before the restart still count"
    );
    drop(l);
    let l = limiter(dir.path());
    assert_eq!(l.source_locked("alice", "h", NOW + 1), Some(NOW + 60));
    assert_eq!(l.source_locked("alice", "other", NOW + 1), None);
    // The rounds survive too: the next lockout is twice as long.
    for _ in 0..4 {
        fail(&l, "alice", "h", NOW + 61);
    }
    assert_eq!(
        fail(&l, "alice", "h", NOW + 61),
        FailureEffect::SourceLocked(NOW + 61 + 120)
    );
}

#[test]
fn a_failure_appends_a_line_not_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let l = limiter(dir.path());
    let journal = dir.path().join(JOURNAL_FILE);
    let before = fs::metadata(&journal).unwrap().len();
    fail(&l, "nobody-known", "h", NOW);
    let grown = fs::metadata(&journal).unwrap().len() - before;
    assert!(grown > 0 && grown < 100, "{grown} bytes");
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        2,
        "no file per name"
    );
}

#[test]
fn clear_and_success_are_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let l = limiter(dir.path());
    for _ in 0..5 {
        fail(&l, "bob", "h", NOW);
    }
    for _ in 0..4 {
        fail(&l, "bob", "h2", NOW);
    }
    l.clear("bob").unwrap();
    for _ in 0..4 {
        fail(&l, "carol", "h", NOW);
    }
    l.record_success("carol", "h", NOW).unwrap();
    drop(l);
    let l = limiter(dir.path());
    assert_eq!(l.source_locked("bob", "h", NOW), None);
    assert_eq!(fail(&l, "bob", "h2", NOW), FailureEffect::Counted);
    assert_eq!(fail(&l, "carol", "h", NOW), FailureEffect::Counted);
}

#[test]
fn one_source_is_cleared_durably_and_the_others_stay() {
    let dir = tempfile::tempdir().unwrap();
    let l = limiter(dir.path());
    for _ in 0..5 {
        fail(&l, "erin", "h1", NOW);
        fail(&l, "erin", "h2", NOW);
    }
    fail(&l, "frank", "h1", NOW);
    assert_eq!(l.names(), ["erin", "frank"]);
    assert!(l.clear_source("erin", "h1").unwrap());
    assert!(
        !l.clear_source("erin", "h1").unwrap(),
        "nothing left to clear"
    );
    assert!(!l.clear_source("nobody", "h1").unwrap());
    let journal = dir.path().join(JOURNAL_FILE);
    let len = fs::metadata(&journal).unwrap().len();
    l.clear_source("erin", "elsewhere").unwrap();
    assert_eq!(
        fs::metadata(&journal).unwrap().len(),
        len,
        "no line for a no-op"
    );
    drop(l);
    let l = limiter(dir.path());
    assert_eq!(l.source_locked("erin", "h1", NOW), None);
    assert_eq!(l.source_locked("erin", "h2", NOW), Some(NOW + 60));
    // The account-wide count is not a source's: it stays, and with it the name.
    assert!(l.clear_source("frank", "h1").unwrap());
    assert_eq!(l.names(), ["erin", "frank"]);
    assert!(l.lockouts("frank", NOW).is_empty());
    l.clear("frank").unwrap();
    drop(l);
    assert_eq!(limiter(dir.path()).names(), ["erin"]);
}

#[test]
fn a_torn_last_line_is_skipped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let l = limiter(dir.path());
    for _ in 0..5 {
        fail(&l, "dave", "h", NOW);
    }
    drop(l);
    let journal = dir.path().join(JOURNAL_FILE);
    let mut f = OpenOptions::new().append(true).open(&journal).unwrap();
    f.write_all(b"{\"failure\":{\"user\":\"da").unwrap();
    let (l, warning) = AttemptLimiter::open(dir.path(), LockoutPolicy::default()).unwrap();
    assert!(warning.unwrap().contains("1 unreadable"));
    assert_eq!(l.source_locked("dave", "h", NOW), Some(NOW + 60));
}

#[test]
fn the_journal_is_compacted_when_it_grows() {
    let dir = tempfile::tempdir().unwrap();
    // Limits no burst here reaches: no lockout, so no fdatasync per line.
    let limits = LockoutPolicy {
        max_failures: 1_000_000,
        account_max_failures: 1_000_000,
        ..LockoutPolicy::default()
    };
    let l = AttemptLimiter::open(dir.path(), limits.clone()).unwrap().0;
    let journal = dir.path().join(JOURNAL_FILE);
    let mut i = 0u64;
    while fs::metadata(&journal).unwrap().len() < MAX_JOURNAL_BYTES / 2 {
        fail(&l, &format!("u{}", i % 50), "h", NOW + i);
        i += 1;
    }
    let lines_for_half = i;
    for _ in 0..lines_for_half + 10 {
        fail(&l, &format!("u{}", i % 50), "h", NOW + i);
        i += 1;
    }
    assert!(fs::metadata(&journal).unwrap().len() < MAX_JOURNAL_BYTES / 2);
    drop(l);
    // The compacted state is what was counted.
    let l = AttemptLimiter::open(dir.path(), limits).unwrap().0;
    assert_eq!(l.tracked(), 50);
}

#[test]
fn the_table_is_bounded_and_keeps_lockouts_over_idle_names() {
    let dir = tempfile::tempdir().unwrap();
    let l = limiter(dir.path());
    for _ in 0..5 {
        fail(&l, "victim", "h", NOW);
    }
    for i in 0..(MAX_TRACKED + 100) {
        fail(&l, &format!("name{i}"), "h", NOW + 1 + i as u64 / 1000);
    }
    assert!(l.tracked() <= MAX_TRACKED);
    assert_eq!(l.source_locked("victim", "h", NOW + 30), Some(NOW + 60));
}

/// Issue 14 item 7: four wrong codes for a victim, then one failure each for 10,050
/// made-up names. Before, the victim's entry (no lock yet, oldest failure) was forgotten
/// to make room and its lockout came at the 9th guess; its failures inside the window now
/// keep it, the names that do not fit share the overflow state, and the 5th guess locks.
#[test]
fn a_flood_of_new_names_does_not_flush_a_victims_count() {
    let dir = tempfile::tempdir().unwrap();
    let l = limiter(dir.path());
    for i in 0..4 {
        assert_eq!(
            fail(&l, "victim", "203.0.113.9", NOW + i),
            FailureEffect::Counted
        );
    }
    let flood = MAX_TRACKED as u64 + 50;
    for i in 0..flood {
        // The clock moves on: a millisecond's worth of names per second.
        fail(&l, &format!("name{i}"), "198.51.100.7", NOW + 4 + i / 1000);
    }
    let later = NOW + 4 + flood / 1000 + 1;
    assert!(l.tracked() <= MAX_TRACKED);
    assert_eq!(
        fail(&l, "victim", "203.0.113.9", later),
        FailureEffect::SourceLocked(later + 60),
        "the victim's 5th guess"
    );
    // The names that did not fit locked themselves out together: their source at once,
    // every name not in the table across sources (recovery codes only) after 20.
    assert!(
        l.source_locked("another-new-name", "198.51.100.7", later)
            .is_some()
    );
    assert!(l.account_locked("another-new-name", later).is_some());
    assert_eq!(l.source_locked("victim", "198.51.100.7", later), None);
    assert_eq!(l.account_locked("victim", later), None);
    // It survives a restart, snapshot and journal alike.
    drop(l);
    let l = limiter(dir.path());
    assert_eq!(
        l.source_locked("victim", "203.0.113.9", later),
        Some(later + 60)
    );
    assert!(
        l.source_locked("another-new-name", "198.51.100.7", later)
            .is_some()
    );
    // Once the flood's window and locks are over, new names are tracked again.
    let much_later = later + 2 * 3600;
    fail(&l, "a-newcomer", "192.0.2.1", much_later);
    assert!(l.names().contains(&"a-newcomer".to_owned()));
    assert_eq!(l.account_locked("someone-else", much_later), None);
}

#[test]
fn an_admin_unlock_of_a_name_outside_the_table_clears_the_overflow_state() {
    let dir = tempfile::tempdir().unwrap();
    let l = limiter(dir.path());
    for i in 0..MAX_TRACKED {
        fail(&l, &format!("name{i}"), "h", NOW);
    }
    for _ in 0..5 {
        fail(&l, "late", "h2", NOW);
    }
    assert!(!l.names().contains(&"late".to_owned()));
    assert_eq!(l.source_locked("late", "h2", NOW), Some(NOW + 60));
    assert!(l.clear_source("late", "h2").unwrap());
    assert_eq!(l.source_locked("late", "h2", NOW), None);
    for _ in 0..5 {
        fail(&l, "late", "h2", NOW);
    }
    l.clear("late").unwrap();
    drop(l);
    let l = limiter(dir.path());
    assert_eq!(l.source_locked("late", "h2", NOW), None);
    assert_eq!(l.tracked(), MAX_TRACKED);
}

#[test]
fn corrupt_snapshot_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(SNAPSHOT_FILE), "{\"version\":1,\"users\":").unwrap();
    let err = AttemptLimiter::open(dir.path(), LockoutPolicy::default()).unwrap_err();
    assert!(err.to_string().contains("corrupt"), "{err}");
}
