use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use super::*;
use crate::store::{RECORD_VERSION, TotpFactor};
use mfa_core::factor::totp::{Algorithm, Secret, TotpParams};

fn record_with_totp() -> UserRecord {
    UserRecord {
        totp: vec![TotpFactor {
            label: "app".to_owned(),
            params: TotpParams {
                algorithm: Algorithm::Sha1,
                digits: 6,
                period: 30,
            },
            secret: Secret::from_bytes(vec![7; 20]),
            enrolled_at: 1,
            last_step: 2,
            skew: None,
        }],
        ..UserRecord::default()
    }
}

fn open(dir: &Path) -> FileStore {
    FileStore::open(dir).unwrap()
}

fn update(store: &FileStore, user: &str, change: impl FnOnce(&mut UserRecord)) {
    (store as &dyn RecordStore).update(user, change).unwrap();
}

#[test]
fn round_trip_and_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let store = open(&state);
    assert_eq!(fs::metadata(&state).unwrap().mode() & 0o777, 0o700);
    assert!(store.load("alice").unwrap().is_none());
    update(&store, "alice", |r| *r = record_with_totp());
    assert_eq!(store.load("alice").unwrap().unwrap(), record_with_totp());
    let file = state.join("users/alice.rec");
    assert_eq!(fs::metadata(&file).unwrap().mode() & 0o777, 0o600);
    drop(store);
    // Read back from the file by a new store, not from memory.
    let store = open(&state);
    assert_eq!(store.load("alice").unwrap().unwrap(), record_with_totp());
}

#[test]
fn changes_alternate_slots_in_place_and_the_file_keeps_its_inode_and_size() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    update(&store, "amy", |r| r.revision = 1);
    let path = dir.path().join("users/amy.rec");
    let first = fs::metadata(&path).unwrap();
    assert_eq!(first.len() % (2 * BLOCK as u64), 0);
    for revision in 2..=5 {
        update(&store, "amy", |r| r.revision = revision);
        let now = fs::metadata(&path).unwrap();
        assert_eq!((now.ino(), now.len()), (first.ino(), first.len()));
        let bytes = fs::read(&path).unwrap();
        let (slot, seq, _, record) = decode_file(&path, &bytes).unwrap();
        assert_eq!(
            (slot as u64, seq, record.revision),
            ((revision - 1) % 2, revision, revision)
        );
    }
}

#[test]
fn a_torn_slot_leaves_the_other_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    update(&store, "tom", |r| r.revision = 1);
    update(&store, "tom", |r| r.revision = 2);
    drop(store);
    let path = dir.path().join("users/tom.rec");
    let mut bytes = fs::read(&path).unwrap();
    let slot_size = bytes.len() / 2;
    // Revision 2 is in slot 1, and slot 0 was wiped. A crash while revision 3 was written
    // over slot 0: its header is there, its JSON only half.
    let third = UserRecord {
        revision: 3,
        ..UserRecord::default()
    };
    let json = serde_json::to_vec(&third).unwrap();
    let torn = encode_slot(3, &json);
    let half = HEADER + json.len() / 2;
    bytes[..half].copy_from_slice(&torn[..half]);
    fs::write(&path, &bytes).unwrap();
    let store = open(dir.path());
    assert_eq!(store.load("tom").unwrap().unwrap().revision, 2);
    // The next write goes over the torn slot, and wins.
    update(&store, "tom", |r| r.revision = 4);
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.load("tom").unwrap().unwrap().revision, 4);
    let bytes = fs::read(&path).unwrap();
    assert!(
        bytes[slot_size..].iter().all(|&b| b == 0),
        "the previous slot is wiped"
    );
}

#[test]
fn a_record_that_outgrows_its_slot_moves_to_bigger_slots() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    update(&store, "gus", |r| r.revision = 1);
    let path = dir.path().join("users/gus.rec");
    let small = fs::metadata(&path).unwrap().len();
    update(&store, "gus", |r| {
        for i in 0..40 {
            let mut app = record_with_totp().totp.remove(0);
            app.label = format!("app{i}");
            r.totp.push(app);
        }
    });
    assert!(fs::metadata(&path).unwrap().len() > small);
    drop(store);
    assert_eq!(
        open(dir.path()).load("gus").unwrap().unwrap().totp.len(),
        40
    );
}

#[test]
fn unchanged_record_is_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    update(&store, "bob", |_| ());
    assert!(!dir.path().join("users/bob.rec").exists());
}

#[test]
fn a_transaction_dropped_without_commit_changes_nothing_and_unlocks() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    update(&store, "dan", |r| r.revision = 1);
    drop(store.begin("dan").unwrap());
    update(&store, "dan", |r| r.revision += 1);
    assert_eq!(store.load("dan").unwrap().unwrap().revision, 2);
}

#[test]
fn invalid_names_never_reach_a_path() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for name in ["../x", "a/b", "", ".."] {
        assert!(matches!(store.load(name), Err(StoreError::InvalidUser)));
        assert!(matches!(store.begin(name), Err(StoreError::InvalidUser)));
    }
}

#[test]
fn symlinked_record_is_refused_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let target = dir.path().join("elsewhere");
    fs::write(&target, "{}").unwrap();
    std::os::unix::fs::symlink(&target, dir.path().join("users/eve.rec")).unwrap();
    assert!(matches!(store.load("eve"), Err(StoreError::Unsafe { .. })));
    assert!(
        (&store as &dyn RecordStore)
            .update("eve", |r| r.revision += 1)
            .is_err()
    );
    assert_eq!(fs::read_to_string(&target).unwrap(), "{}");
}

#[test]
fn symlinked_state_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real");
    fs::create_dir(&real).unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    assert!(matches!(
        FileStore::open(&link),
        Err(StoreError::Unsafe { .. })
    ));
}

#[test]
fn corrupt_record_fails_closed_and_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let path = dir.path().join("users/carol.rec");
    let garbage = vec![b'g'; 2 * BLOCK];
    fs::write(&path, &garbage).unwrap();
    let err = store.load("carol").unwrap_err();
    assert!(err.to_string().contains("corrupt"), "{err}");
    assert!(
        (&store as &dyn RecordStore)
            .update("carol", |r| r.recovery_codes.clear())
            .is_err()
    );
    assert_eq!(fs::read(&path).unwrap(), garbage);
}

#[test]
fn a_record_an_admin_restores_by_hand_is_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    update(&store, "ida", |r| r.revision = 1);
    let path = dir.path().join("users/ida.rec");
    let backup = dir.path().join("ida.backup");
    fs::copy(&path, &backup).unwrap();
    update(&store, "ida", |r| r.revision = 2);
    assert_eq!(store.load("ida").unwrap().unwrap().revision, 2);
    // Restored as an admin would (a new file renamed into place).
    let staged = dir.path().join("users/ida.staged");
    fs::copy(&backup, &staged).unwrap();
    fs::rename(&staged, &path).unwrap();
    assert_eq!(store.load("ida").unwrap().unwrap().revision, 1);
    fs::remove_file(&path).unwrap();
    assert!(store.load("ida").unwrap().is_none());
}

#[test]
fn corrupt_record_errors_never_quote_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users");
    fs::create_dir_all(&users).unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
    fs::set_permissions(&users, fs::Permissions::from_mode(0o700)).unwrap();
    let json =
        br#"{"version":1,"recovery_codes":{"hash":"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"}}"#;
    let mut bytes = vec![0u8; 2 * BLOCK];
    let slot = encode_slot(1, json);
    bytes[..slot.len()].copy_from_slice(&slot);
    fs::write(users.join("frank.rec"), &bytes).unwrap();
    let store = open(dir.path());
    let err = store.load("frank").unwrap_err().to_string();
    assert!(err.contains("unexpected content at line 1"), "{err}");
    assert!(!err.contains("argon2id"), "{err}");
}

#[test]
fn json_records_of_earlier_versions_are_migrated_when_the_store_opens() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    let users = dir.path().join("users");
    let v1 = r#"{"version":1,"totp":null,"recovery_codes":["$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"],"limits":{"sources":{"h":{"failures":[1],"locked_until":0,"rounds":0,"last_failure":1}},"account":{"failures":[],"locked_until":0,"rounds":0,"last_failure":0}}}"#;
    fs::write(users.join("gina.json"), v1).unwrap();
    fs::write(
        users.join("hal%40corp.example.json"),
        r#"{"version":5,"revision":7}"#,
    )
    .unwrap();
    fs::write(users.join("broken.json"), "{\"version\":1,\"totp\":").unwrap();
    let store = open(dir.path());
    assert!(!users.join("gina.json").exists());
    assert!(!users.join("hal%40corp.example.json").exists());
    let record = store.load("gina").unwrap().unwrap();
    assert_eq!(record.version, RECORD_VERSION);
    assert_eq!(record.recovery_codes.len(), 1);
    assert_eq!(store.load("hal@corp.example").unwrap().unwrap().revision, 7);
    // A corrupt one stays, and its user fails closed rather than look unenrolled.
    assert!(users.join("broken.json").exists());
    assert!(
        store
            .load("broken")
            .unwrap_err()
            .to_string()
            .contains("corrupt")
    );
    assert_eq!(
        store.users().unwrap(),
        ["broken", "gina", "hal@corp.example"]
    );
}

#[test]
fn directory_names_get_one_file_in_the_users_directory() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    update(&store, "CORP\\hal", |r| r.revision = 1);
    update(&store, "hal@corp.example", |r| r.revision = 2);
    assert!(dir.path().join("users/CORP%5Chal.rec").exists());
    assert!(dir.path().join("users/hal%40corp.example.rec").exists());
    assert_eq!(store.load("CORP\\hal").unwrap().unwrap().revision, 1);
}

#[test]
fn users_are_the_decoded_record_names_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for name in ["zoe", "CORP\\hal", "hal@corp.example", "ä"] {
        update(&store, name, |r| r.revision = 1);
    }
    let users = dir.path().join("users");
    for stray in [
        ".zoe.rec.1.0.tmp",
        "notes.txt",
        "%zz.rec",
        "%2E%2E.rec",
        "a b.rec",
        ".rec",
    ] {
        fs::write(users.join(stray), "{}").unwrap();
    }
    assert_eq!(
        store.users().unwrap(),
        ["CORP\\hal", "hal@corp.example", "zoe", "ä"]
    );
}

#[test]
fn second_daemon_on_same_state_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = open(dir.path());
    let err = FileStore::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("another mfa-daemon"), "{err}");
}

#[test]
fn stale_temp_files_are_removed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    let stale = dir.path().join("users/.dave.rec.123.0.tmp");
    fs::write(&stale, "partial").unwrap();
    let _store = open(dir.path());
    assert!(!stale.exists());
}

#[test]
fn concurrent_updates_are_serialized() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            std::thread::spawn(move || {
                for _ in 0..10 {
                    update(&store, "erin", |r| r.revision += 1);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(store.load("erin").unwrap().unwrap().revision, 80);
    drop(store);
    assert_eq!(open(dir.path()).load("erin").unwrap().unwrap().revision, 80);
}
