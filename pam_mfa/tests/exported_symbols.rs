//! `pam_mfa.so` exports the PAM hooks and no other function: anything else could clash with
//! symbols of the host process (sshd, sudo, a screen locker) or of other modules.
//!
//! Builds nothing: it inspects the `libpam_mfa.so` files cargo already left in the target
//! directory. Without one (or without `nm`) it skips with a note, except under `CI=true`,
//! where that is a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

const HOOKS: [&str; 6] = [
    "pam_sm_acct_mgmt",
    "pam_sm_authenticate",
    "pam_sm_chauthtok",
    "pam_sm_close_session",
    "pam_sm_open_session",
    "pam_sm_setcred",
];

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn skip_or_fail(why: &str) {
    assert!(!in_ci(), "CI=true and {why}");
    println!("note: skipping the exported-symbol check: {why}");
}

/// `target/*/libpam_mfa.so` next to this crate in the workspace (what `cargo build` leaves),
/// and the one built with this test, beside it in `deps/` (`cargo test` does not copy that
/// one up).
fn built_modules() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
        .into_iter()
        .collect();
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
    if let Ok(profiles) = std::fs::read_dir(&target) {
        for profile in profiles.filter_map(Result::ok) {
            dirs.push(profile.path());
            dirs.push(profile.path().join("deps"));
        }
    }
    let mut modules: Vec<PathBuf> = dirs
        .into_iter()
        .map(|dir| dir.join("libpam_mfa.so"))
        .filter(|path| path.is_file())
        .filter_map(|path| path.canonicalize().ok())
        .collect();
    modules.sort();
    modules.dedup();
    modules
}

/// Names of the defined function symbols in the dynamic symbol table.
fn exported_functions(module: &Path) -> Option<Vec<String>> {
    let output = match Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(module)
        .output()
    {
        Ok(output) => output,
        Err(e) => {
            skip_or_fail(&format!("nm could not be run: {e}"));
            return None;
        }
    };
    assert!(
        output.status.success(),
        "nm -D {} failed: {}",
        module.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let listing = String::from_utf8(output.stdout).unwrap();
    let functions = listing
        .lines()
        .filter_map(|line| {
            // "ADDRESS TYPE NAME"; T/t text, W/w weak, i GNU indirect function.
            let mut fields = line.split_whitespace().rev();
            let name = fields.next()?;
            let kind = fields.next()?;
            ["T", "t", "W", "w", "i"]
                .contains(&kind)
                .then(|| name.to_owned())
        })
        .collect();
    Some(functions)
}

#[test]
fn only_pam_hooks_are_exported() {
    let modules = built_modules();
    if modules.is_empty() {
        skip_or_fail("no target/*/libpam_mfa.so (run `cargo build -p pam_mfa` first)");
        return;
    }
    for module in modules {
        let Some(functions) = exported_functions(&module) else {
            return;
        };
        let foreign: Vec<&String> = functions
            .iter()
            .filter(|name| !name.starts_with("pam_sm_"))
            .collect();
        assert!(
            foreign.is_empty(),
            "{} exports functions other than pam_sm_*: {foreign:?}",
            module.display()
        );
        for hook in HOOKS {
            assert!(
                functions.iter().any(|name| name == hook),
                "{} does not export {hook}: {functions:?}",
                module.display()
            );
        }
    }
}
