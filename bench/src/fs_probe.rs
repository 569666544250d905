//! What the filesystem under a state directory charges for each step of the daemon's durable
//! record writes, replayed with plain files one at a time, which tells how much of an
//! authentication's latency is the disk's:
//! - the write of a login since issue 9 (`mfa-daemon/src/store/files.rs`): open the user's
//!   two-slot file, check its identity, one `pwrite` of the new slot over the other slot, one
//!   `fdatasync`, then the previous slot wiped with an unsynced `pwrite`;
//! - the write it replaced, still used to create a record (or to move it to bigger slots):
//!   create a temp file, write, fsync, rename over the old record, fsync the directory.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::BenchError;
use crate::stats::Summary;

/// Records kept in the probe directory, replaced in turn (like users' records).
const RECORDS: usize = 16;

/// Slot sizes are multiples of this (as in the file engine).
const BLOCK: usize = 4096;

#[derive(Default)]
struct InPlaceTimes {
    open: Vec<Duration>,
    fstat: Vec<Duration>,
    pwrite: Vec<Duration>,
    fdatasync: Vec<Duration>,
    wipe: Vec<Duration>,
    fstat_close: Vec<Duration>,
    total: Vec<Duration>,
}

#[derive(Default)]
struct StepTimes {
    create: Vec<Duration>,
    write: Vec<Duration>,
    fsync: Vec<Duration>,
    rename: Vec<Duration>,
    fsync_dir: Vec<Duration>,
    total: Vec<Duration>,
    /// The rename again, in a second pass that holds the old record open across it.
    rename_held: Vec<Duration>,
    /// Closing that old record afterwards, which is when its blocks are freed.
    close_held: Vec<Duration>,
}

/// Replaces records of `record_bytes` bytes (a slot's content: header and JSON) in a new
/// directory under `parent` `writes` times each way, and prints the median and p90 of each
/// step.
pub fn run(parent: &Path, record_bytes: usize, writes: usize) -> Result<(), BenchError> {
    let dir = parent.join(format!("fs-probe-{}", std::process::id()));
    fs::create_dir(&dir).map_err(BenchError::io(format!("create {}", dir.display())))?;
    let slot_size = slot_size_for(record_bytes);
    let result = probe_in_place(&dir, record_bytes, slot_size, writes)
        .and_then(|in_place| Ok((in_place, probe(&dir, record_bytes, writes)?)));
    let _ = fs::remove_dir_all(&dir);
    let (in_place, times) = result?;
    println!(
        "{writes} writes of a {record_bytes}-byte record each way, one at a time, in the \
         daemon's order. In place (a login's write since issue 9): a file of two \
         {slot_size}-byte slots, the new slot written over the other one with one pwrite, \
         one fdatasync, then the previous slot wiped with an unsynced pwrite. Rename (the \
         write before, still used to create a record): temp file, write, fsync, rename over \
         the old record, fsync the directory; a rename over a record nothing holds open also \
         frees the old record's blocks.\n"
    );
    println!("| write | step | median ms | p90 ms |");
    println!("|---|---|---:|---:|");
    let steps = [
        (
            "in place",
            "open the record file (O_WRONLY)",
            &in_place.open,
        ),
        (
            "in place",
            "fstat (the file is the one read)",
            &in_place.fstat,
        ),
        ("in place", "pwrite the new slot", &in_place.pwrite),
        ("in place", "fdatasync", &in_place.fdatasync),
        (
            "in place",
            "pwrite zeros over the previous slot (not synced)",
            &in_place.wipe,
        ),
        ("in place", "fstat and close", &in_place.fstat_close),
        ("in place", "**whole write**", &in_place.total),
        (
            "rename",
            "create the temp file (O_CREAT, O_EXCL)",
            &times.create,
        ),
        ("rename", "write", &times.write),
        ("rename", "fsync the file", &times.fsync),
        ("rename", "rename over the old record", &times.rename),
        ("rename", "fsync the directory", &times.fsync_dir),
        ("rename", "**whole write**", &times.total),
        (
            "rename",
            "second pass, old record held open: rename over it",
            &times.rename_held,
        ),
        (
            "rename",
            "second pass: close the old record after the directory fsync",
            &times.close_held,
        ),
    ];
    for (write, name, samples) in steps {
        if let Some(s) = Summary::of(samples) {
            println!("| {write} | {name} | {:.3} | {:.3} |", s.p50, s.p90);
        }
    }
    Ok(())
}

/// The file engine's slot size for a slot of `bytes`: room to grow, whole blocks.
fn slot_size_for(bytes: usize) -> usize {
    (bytes * 2).div_ceil(BLOCK).max(1) * BLOCK
}

fn probe_in_place(
    dir: &Path,
    record_bytes: usize,
    slot_size: usize,
    writes: usize,
) -> Result<InPlaceTimes, BenchError> {
    let slot = vec![b'x'; record_bytes];
    let zeros = vec![0u8; slot_size];
    let fail = |what: &str| BenchError::io(format!("{what} in {}", dir.display()));
    let paths: Vec<_> = (0..RECORDS)
        .map(|i| dir.join(format!("r{i}.rec")))
        .collect();
    for path in &paths {
        let mut whole = vec![0u8; 2 * slot_size];
        whole[..record_bytes].copy_from_slice(&slot);
        write_synced(path, &whole).map_err(fail("write a record"))?;
    }
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(fail("fsync the directory"))?;
    let mut times = InPlaceTimes::default();
    // Each file's record starts in slot 0; every write goes to the other slot.
    let mut current = [0usize; RECORDS];
    for i in 0..writes {
        let which = i % RECORDS;
        let (Some(path), Some(current)) = (paths.get(which), current.get_mut(which)) else {
            continue;
        };
        let started = Instant::now();
        let mut timer = started;
        let mut lap = |samples: &mut Vec<Duration>| {
            let now = Instant::now();
            samples.push(now - timer);
            timer = now;
        };
        let file = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
            .map_err(fail("open a record"))?;
        lap(&mut times.open);
        file.metadata().map_err(fail("fstat"))?;
        lap(&mut times.fstat);
        let next = 1 - *current;
        file.write_all_at(&slot, (next * slot_size) as u64)
            .map_err(fail("pwrite"))?;
        lap(&mut times.pwrite);
        file.sync_data().map_err(fail("fdatasync"))?;
        lap(&mut times.fdatasync);
        file.write_all_at(&zeros, (*current * slot_size) as u64)
            .map_err(fail("pwrite"))?;
        lap(&mut times.wipe);
        file.metadata().map_err(fail("fstat"))?;
        drop(file);
        lap(&mut times.fstat_close);
        times.total.push(started.elapsed());
        *current = next;
    }
    Ok(times)
}

fn probe(dir: &Path, record_bytes: usize, writes: usize) -> Result<StepTimes, BenchError> {
    let record = vec![b'x'; record_bytes];
    let fail = |what: &str| BenchError::io(format!("{what} in {}", dir.display()));
    for i in 0..RECORDS {
        write_synced(&dir.join(format!("r{i}.json")), &record).map_err(fail("write a record"))?;
    }
    let dir_file = File::open(dir).map_err(fail("open the directory"))?;
    dir_file.sync_all().map_err(fail("fsync the directory"))?;
    let mut times = StepTimes::default();
    for i in 0..writes {
        let target = dir.join(format!("r{}.json", i % RECORDS));
        let temp = dir.join(format!(".r{i}.tmp"));
        let started = Instant::now();
        let mut timer = started;
        let mut lap = |samples: &mut Vec<Duration>| {
            let now = Instant::now();
            samples.push(now - timer);
            timer = now;
        };
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
            .map_err(fail("create a temp file"))?;
        lap(&mut times.create);
        file.write_all(&record).map_err(fail("write"))?;
        lap(&mut times.write);
        file.sync_all().map_err(fail("fsync"))?;
        lap(&mut times.fsync);
        fs::rename(&temp, &target).map_err(fail("rename"))?;
        lap(&mut times.rename);
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(fail("fsync the directory"))?;
        lap(&mut times.fsync_dir);
        times.total.push(started.elapsed());
    }
    for i in 0..writes {
        let target = dir.join(format!("r{}.json", i % RECORDS));
        let temp = dir.join(format!(".h{i}.tmp"));
        let old = File::open(&target).map_err(fail("open a record"))?;
        write_synced(&temp, &record).map_err(fail("write a temp file"))?;
        let started = Instant::now();
        fs::rename(&temp, &target).map_err(fail("rename"))?;
        times.rename_held.push(started.elapsed());
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(fail("fsync the directory"))?;
        let started = Instant::now();
        drop(old);
        times.close_held.push(started.elapsed());
    }
    Ok(times)
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
