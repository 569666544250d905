//! Where the binaries under test are: `$MFA_BIN_DIR`, or `<workspace>/target/release`; and
//! where a suite leaves what people look at after a run: `<workspace>/target/test-output`.

use std::path::{Path, PathBuf};

/// The build that produces every artifact, named in the panic when one is missing.
const BUILD_COMMAND: &str = "cargo build --release --workspace";

fn artifact_dir() -> PathBuf {
    let dir = match std::env::var_os("MFA_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release"),
    };
    // pam.d files and runuser'd commands need an absolute path.
    std::path::absolute(&dir)
        .unwrap_or_else(|e| panic!("cannot make {} absolute: {e}", dir.display()))
}

fn artifact(file: &str) -> PathBuf {
    let path = artifact_dir().join(file);
    assert!(
        path.is_file(),
        "{} is missing: build it with `{BUILD_COMMAND}` (or set MFA_BIN_DIR to the directory \
         that holds mfa-daemon, mfa-enroll, mfactl and libpam_mfa.so)",
        path.display()
    );
    path
}

/// The `mfa-daemon` binary.
pub fn daemon_binary() -> PathBuf {
    artifact("mfa-daemon")
}

/// The `mfa-enroll` binary.
pub fn enroll_binary() -> PathBuf {
    artifact("mfa-enroll")
}

/// The `mfactl` binary.
pub fn mfactl_binary() -> PathBuf {
    artifact("mfactl")
}

/// The `mfa-web` binary.
pub fn web_binary() -> PathBuf {
    artifact("mfa-web")
}

/// The `mfa-radius` binary.
pub fn radius_binary() -> PathBuf {
    artifact("mfa-radius")
}

/// The PAM module, `libpam_mfa.so` as cargo names it (packages install it as `pam_mfa.so`).
pub fn pam_module() -> PathBuf {
    artifact("libpam_mfa.so")
}

/// `<workspace>/target/test-output/<suite>`, created if missing: where a suite leaves files
/// for people to look at after the run (screenshots, page logs). Kept across runs; a test
/// names its files after itself, so that a new run overwrites the last one's.
pub fn suite_output_dir(suite: &str) -> PathBuf {
    let tests_crate = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = tests_crate.parent().unwrap_or(tests_crate);
    let dir = workspace.join("target/test-output").join(suite);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}
