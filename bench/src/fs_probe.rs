//! What the filesystem under a state directory charges for each step of the daemon's durable
//! record write (see `mfa-daemon/src/store.rs`): create a temp file, write the record, fsync
//! it, rename it over the old record, fsync the directory. Replaying the same steps with
//! plain files, one at a time, tells how much of an authentication's latency is the disk's.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::BenchError;
use crate::stats::Summary;

/// Records kept in the probe directory, replaced in turn (like users' records).
const RECORDS: usize = 16;

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

/// Replaces records of `record_bytes` bytes in a new directory under `parent` `writes`
/// times, and prints the median and p90 of each step.
pub fn run(parent: &Path, record_bytes: usize, writes: usize) -> Result<(), BenchError> {
    let dir = parent.join(format!("fs-probe-{}", std::process::id()));
    fs::create_dir(&dir).map_err(BenchError::io(format!("create {}", dir.display())))?;
    let result = probe(&dir, record_bytes, writes);
    let _ = fs::remove_dir_all(&dir);
    let times = result?;
    println!(
        "{writes} replacements of a {record_bytes}-byte record, one at a time, in the \
         daemon's order (temp file, write, fsync, rename over the old record, fsync the \
         directory). A rename over a record nothing holds open also frees the old \
         record's blocks:\n"
    );
    println!("| step | median ms | p90 ms |");
    println!("|---|---:|---:|");
    let steps = [
        ("create the temp file (O_CREAT, O_EXCL)", &times.create),
        ("write", &times.write),
        ("fsync the file", &times.fsync),
        ("rename over the old record", &times.rename),
        ("fsync the directory", &times.fsync_dir),
        ("whole write", &times.total),
        (
            "second pass, old record held open: rename over it",
            &times.rename_held,
        ),
        (
            "second pass: close the old record after the directory fsync",
            &times.close_held,
        ),
    ];
    for (name, samples) in steps {
        if let Some(s) = Summary::of(samples) {
            println!("| {name} | {:.3} | {:.3} |", s.p50, s.p90);
        }
    }
    Ok(())
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
