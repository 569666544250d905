//! A fake directory service for name lookups: nss_wrapper (Debian's `libnss-wrapper`)
//! preloaded into a program, with a small NSS module of ours that resolves names the way
//! SSSD (case-insensitive, fully qualified names) or winbind does.

use std::fs;
use std::path::Path;

use crate::process::run_setup;
use crate::scratch::ScratchDir;

/// nss_wrapper, preloaded to give a program its own user database.
const NSS_WRAPPER_LIBRARY: &str = "libnss_wrapper.so";
/// The module's source, compiled for each fixture.
const MODULE_SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/nss_mfatest.c");
/// The `_nss_<prefix>_*` symbols the module exports.
const MODULE_PREFIX: &str = "mfatest";

/// The realm of the fake directory, as `fixtures/nss_mfatest.c` spells it: `NAME@corp.example`
/// and `CORP\NAME` mean the account `name`.
pub const DIRECTORY_DOMAIN: &str = "corp.example";
/// The realm's short (NetBIOS) name, for `CORP\name`.
pub const DIRECTORY_SHORT_DOMAIN: &str = "CORP";

/// A scratch copy of /etc/passwd and /etc/group, and the module compiled from
/// `tests/fixtures/nss_mfatest.c`. A program started with [`FakeNss::env`] sees every
/// account of /etc/passwd (as it was when the fixture was made) under each of its directory
/// spellings: `NAME`, `Name`, `name@corp.example`, `CORP\name`; `getpwnam` always answers
/// with the canonical lower-case `pw_name`. Removed on drop.
#[derive(Debug)]
pub struct FakeNss {
    env: Vec<(String, String)>,
    _scratch: ScratchDir,
}

impl FakeNss {
    /// Copies the account files and compiles the module with `cc`.
    pub fn create() -> FakeNss {
        let scratch = ScratchDir::create();
        let dir = scratch.path();
        let passwd = dir.join("passwd");
        let group = dir.join("group");
        for (from, to) in [("/etc/passwd", &passwd), ("/etc/group", &group)] {
            fs::copy(from, to).unwrap_or_else(|e| panic!("cannot copy {from}: {e}"));
        }
        let module = dir.join(format!("libnss_{MODULE_PREFIX}.so.2"));
        run_setup(
            "cc",
            &[
                "-shared",
                "-fPIC",
                "-Wall",
                "-Werror",
                "-o",
                &module.to_string_lossy(),
                MODULE_SOURCE,
            ],
        );
        let text = |path: &Path| path.to_string_lossy().into_owned();
        let env = vec![
            ("LD_PRELOAD".to_owned(), NSS_WRAPPER_LIBRARY.to_owned()),
            ("NSS_WRAPPER_PASSWD".to_owned(), text(&passwd)),
            ("NSS_WRAPPER_GROUP".to_owned(), text(&group)),
            ("NSS_WRAPPER_MODULE_SO_PATH".to_owned(), text(&module)),
            (
                "NSS_WRAPPER_MODULE_FN_PREFIX".to_owned(),
                MODULE_PREFIX.to_owned(),
            ),
        ];
        FakeNss {
            env,
            _scratch: scratch,
        }
    }

    /// The environment that makes a program use the fake directory.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }
}
