//! The generated pages as a reader and the packages get them: `mfa-man OUTDIR` writes all
//! five, `man --warnings` renders each without a word on stderr (in a UTF-8 and in the C
//! locale, and the way lintian runs it), and everything the pages are made from is on them:
//! every README option and key, every subcommand and option of the CLIs, every flag the
//! daemon's hand-written parser accepts, every flag `mfa-web --help` and `mfa-radius --help`
//! list, every PAM code the module returns.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use clap::CommandFactory;
use tempfile::TempDir;

const PAGES: [&str; 7] = [
    "pam_mfa.8",
    "mfa-daemon.8",
    "mfa-web.8",
    "mfa-radius.8",
    "mfa-enroll.1",
    "mfactl.8",
    "mfa.toml.5",
];

/// The pages in a fresh directory, made by the binary the packages run.
struct Generated {
    _dir: TempDir,
    out: PathBuf,
}

impl Generated {
    fn new() -> Self {
        let dir = TempDir::new().expect("make a temporary directory");
        // A directory that does not exist yet: mfa-man makes it.
        let out = dir.path().join("man");
        let run = mfa_man(&[out.as_os_str()], &[]);
        assert!(
            run.status.success(),
            "mfa-man failed: {}",
            text(&run.stderr)
        );
        Generated { _dir: dir, out }
    }

    fn path(&self, page: &str) -> PathBuf {
        self.out.join(page)
    }

    fn roff(&self, page: &str) -> String {
        fs::read_to_string(self.path(page)).expect("read a generated page")
    }

    /// The page as `man` shows it, 80 columns wide, without fonts.
    fn rendered(&self, page: &str) -> String {
        let run = man(&["-l"], &self.path(page), "C.UTF-8", &[]);
        assert!(run.status.success(), "man -l {page}: {}", text(&run.stderr));
        text(&run.stdout)
    }
}

fn mfa_man(args: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mfa-man"));
    command.args(args).env_remove("SOURCE_DATE_EPOCH");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run mfa-man")
}

/// `man ARGS PAGE` with stdout captured (or dropped, for the warnings checks).
fn man(args: &[&str], page: &Path, locale: &str, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new("man");
    command
        .args(args)
        .arg(page)
        .env("MANWIDTH", "80")
        .env("LC_ALL", locale)
        .env_remove("LANG")
        .env_remove("MANOPT")
        .env_remove("MAN_KEEP_FORMATTING")
        .stdin(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    match command.output() {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "`man` is not installed, so the pages cannot be checked: install man-db and \
             groff-base (scripts/install-deps.sh does)"
        ),
        Err(e) => panic!("cannot run man: {e}"),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn mfa_man_writes_every_page_with_its_title() {
    let generated = Generated::new();
    let mut files: Vec<String> = fs::read_dir(&generated.out)
        .expect("list the output directory")
        .map(|e| {
            e.expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    files.sort();
    let mut expected: Vec<String> = PAGES.iter().map(|p| p.to_string()).collect();
    expected.sort();
    assert_eq!(files, expected);
    for page in PAGES {
        let (name, section) = page.rsplit_once('.').expect("name.section");
        let roff = generated.roff(page);
        let title = format!(".TH {} {section} ", name.to_uppercase());
        assert!(
            roff.lines().any(|l| l.starts_with(&title)),
            "{page} has no `{title}` line:\n{roff}"
        );
        assert!(roff.contains("\n.SH NAME\n"), "{page}");
        assert!(roff.contains("\n.SH \"SEE ALSO\"\n"), "{page}");
    }
}

/// One way of running `man --warnings`.
struct WarningsRun {
    args: &'static [&'static str],
    locale: &'static str,
    env: &'static [(&'static str, &'static str)],
}

#[test]
fn man_shows_every_page_without_a_warning() {
    let generated = Generated::new();
    for page in PAGES {
        let path = generated.path(page);
        // As asked in issue 8, in a UTF-8 locale and in the C locale (ASCII output), then
        // as lintian's manpage-has-errors-from-man check runs it.
        let runs = [
            WarningsRun {
                args: &["--warnings", "-l"],
                locale: "C.UTF-8",
                env: &[],
            },
            WarningsRun {
                args: &["--warnings", "-l"],
                locale: "C",
                env: &[],
            },
            WarningsRun {
                args: &["--warnings", "-E", "UTF-8", "-Tutf8", "-Z", "-l"],
                locale: "C.UTF-8",
                env: &[("MANROFFSEQ", "")],
            },
        ];
        for WarningsRun { args, locale, env } in runs {
            let run = man(args, &path, locale, env);
            assert!(
                run.status.success(),
                "man {args:?} {page} (LC_ALL={locale}) failed: {}",
                text(&run.stderr)
            );
            assert_eq!(
                text(&run.stderr),
                "",
                "man {args:?} {page} (LC_ALL={locale}) warned"
            );
        }
    }
}

#[test]
fn every_page_has_a_whatis_entry() {
    let generated = Generated::new();
    for page in PAGES {
        let name = page.rsplit_once('.').expect("name.section").0;
        let run = Command::new("lexgrog")
            .arg(generated.path(page))
            .output()
            .expect("run lexgrog (man-db)");
        let out = text(&run.stdout);
        assert!(run.status.success(), "lexgrog {page}: {out}");
        assert!(out.contains(&format!("\"{name} - ")), "{page}: {out}");
    }
}

/// The first-column code spans of the table under `heading` in README.md, read here without
/// the crate's parser.
fn readme_table_keys(heading: &str) -> Vec<String> {
    let readme = mfa_man::README;
    let start = readme
        .lines()
        .position(|l| l == heading)
        .unwrap_or_else(|| panic!("README.md has no `{heading}`"));
    let keys: Vec<String> = readme
        .lines()
        .skip(start + 1)
        .take_while(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with("| `"))
        .flat_map(|row| {
            let first = row.split(" | ").next().unwrap_or_default().to_owned();
            first
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(keys.len() > 5, "too few rows under {heading}: {keys:?}");
    keys
}

#[test]
fn every_module_option_in_the_readme_is_on_pam_mfa_8() {
    let generated = Generated::new();
    let page = generated.rendered("pam_mfa.8");
    let options = readme_table_keys("### Module options");
    for option in &options {
        assert!(
            page.contains(option.as_str()),
            "{option} is not on pam_mfa(8)"
        );
    }
    assert!(
        page.contains("[socket=PATH] [nullok] [failmode=secure|safe]"),
        "the synopsis is not the README's:\n{page}"
    );
    // The PAM stack examples come from the README too.
    assert!(page.contains("AuthenticationMethods publickey,keyboard-interactive"));
    assert!(page.contains("auth required pam_mfa.so"));
}

#[test]
fn every_config_key_in_the_readme_is_on_mfa_toml_5() {
    let generated = Generated::new();
    let page = generated.rendered("mfa.toml.5");
    let keys = readme_table_keys("### Daemon configuration");
    for key in &keys {
        assert!(page.contains(key.as_str()), "{key} is not on mfa.toml(5)");
    }
    for table in [
        "[totp]", "[limits]", "[otp]", "[policy]", "[twilio]", "[email]", "[radius]",
    ] {
        assert!(page.contains(table), "no subsection {table}");
    }
}

#[test]
fn every_return_code_of_the_module_is_on_pam_mfa_8() {
    let source = include_str!("../../pam_mfa/src/result_code.rs");
    let code = source.split("#[cfg(test)]").next().unwrap_or(source);
    let codes: BTreeSet<&str> = code
        .split(|c: char| !(c.is_ascii_uppercase() || c == '_'))
        .filter(|w| w.starts_with("PAM_") && w.len() > 4)
        .collect();
    assert!(codes.len() >= 10, "{codes:?}");
    let generated = Generated::new();
    let page = generated.rendered("pam_mfa.8");
    for code in codes {
        assert!(page.contains(code), "{code} is not on pam_mfa(8)");
    }
}

#[test]
fn every_flag_the_daemon_accepts_is_on_mfa_daemon_8() {
    let source = include_str!("../../mfa-daemon/src/cli.rs");
    let code = source.split("#[cfg(test)]").next().unwrap_or(source);
    let flags: BTreeSet<&str> = code
        .split('"')
        .filter(|s| {
            s.starts_with('-')
                && s.len() > 1
                && s.chars().all(|c| c == '-' || c.is_ascii_alphanumeric())
        })
        .collect();
    assert!(
        flags.contains("--config") && flags.contains("--check-config"),
        "{flags:?}"
    );
    let generated = Generated::new();
    let page = generated.rendered("mfa-daemon.8");
    for flag in flags {
        assert!(page.contains(flag), "{flag} is not on mfa-daemon(8)");
    }
    assert!(page.contains("mfa-daemon [--config FILE]\n"), "{page}");
    assert!(page.contains("mfa-daemon --check-config FILE\n"), "{page}");
    for section in ["SIGNALS", "SIGHUP", "SIGTERM", "EXIT STATUS", "FILES"] {
        assert!(page.contains(section), "no {section}");
    }
    for file in [
        "/etc/mfa/config.toml",
        "/var/lib/mfa",
        "/run/mfa/mfa.sock",
        "/run/mfa/private/mfa.sock",
        "mfa-daemon.service",
    ] {
        assert!(page.contains(file), "{file} is not on mfa-daemon(8)");
    }
}

#[test]
fn every_flag_mfa_web_accepts_is_on_mfa_web_8() {
    // The built binary's own help: mfa-man does not link mfa-web.
    let web = mfa_tests::daemon_binary().with_file_name("mfa-web");
    let help = Command::new(&web)
        .arg("--help")
        .output()
        .unwrap_or_else(|e| panic!("run {} --help: {e}", web.display()));
    assert!(help.status.success(), "{}", text(&help.stderr));
    let help = text(&help.stdout);
    let flags: BTreeSet<&str> = help
        .split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']')
        .filter(|word| word.starts_with("--") && word.len() > 2)
        .collect();
    assert!(
        flags.contains("--config") && flags.contains("--check-config"),
        "{flags:?} in\n{help}"
    );
    let generated = Generated::new();
    let page = generated.rendered("mfa-web.8");
    for flag in flags {
        assert!(page.contains(flag), "{flag} is not on mfa-web(8)");
    }
    for text in [
        "mfa-web [--config FILE]\n",
        "mfa-web --check-config FILE\n",
        "mfa-web.service",
        "LoadCredential=config.toml:/etc/mfa/config.toml",
        "/run/mfa/web.sock",
        "SIGTERM",
        "EXIT STATUS",
    ] {
        assert!(
            page.contains(text),
            "{text:?} is not on mfa-web(8):\n{page}"
        );
    }
}

#[test]
fn every_flag_mfa_radius_accepts_is_on_mfa_radius_8() {
    // The built binary's own help: mfa-man does not link mfa-radius.
    let radius = mfa_tests::daemon_binary().with_file_name("mfa-radius");
    let help = Command::new(&radius)
        .arg("--help")
        .output()
        .unwrap_or_else(|e| panic!("run {} --help: {e}", radius.display()));
    assert!(help.status.success(), "{}", text(&help.stderr));
    let help = text(&help.stdout);
    let flags: BTreeSet<&str> = help
        .split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']')
        .filter(|word| word.starts_with("--") && word.len() > 2)
        .collect();
    assert!(
        flags.contains("--config") && flags.contains("--check-config"),
        "{flags:?} in\n{help}"
    );
    let generated = Generated::new();
    let page = generated.rendered("mfa-radius.8");
    for flag in flags {
        assert!(page.contains(flag), "{flag} is not on mfa-radius(8)");
    }
    for text in [
        "mfa-radius [--config FILE] [--check-config]\n",
        "mfa-radius.service",
        "LoadCredential=config.toml:/etc/mfa/config.toml",
        "SupplementaryGroups=shadow",
        "/run/mfa/radius.sock",
        "Message-Authenticator",
        "radius:NAME",
        "SIGTERM",
        "EXIT STATUS",
    ] {
        assert!(
            page.contains(text),
            "{text:?} is not on mfa-radius(8):\n{page}"
        );
    }
}

/// Every subcommand path (`remove totp`) of `cmd` and every long option, `--help` aside.
fn commands_and_options(cmd: &clap::Command, path: &str, out: &mut Vec<(String, String)>) {
    for arg in cmd.get_arguments() {
        if let Some(long) = arg.get_long().filter(|l| *l != "help" && *l != "version") {
            out.push((path.to_owned(), format!("--{long}")));
        }
    }
    for sub in cmd.get_subcommands() {
        let sub_path = format!("{path} {}", sub.get_name());
        out.push((sub_path.clone(), String::new()));
        commands_and_options(sub, &sub_path, out);
    }
}

#[test]
fn every_subcommand_and_option_of_the_clis_is_on_their_pages() {
    let generated = Generated::new();
    for (page, cmd) in [
        ("mfa-enroll.1", mfa_enroll::Cli::command()),
        ("mfactl.8", mfactl::Cli::command()),
    ] {
        let rendered = generated.rendered(page);
        let mut found = Vec::new();
        commands_and_options(&cmd, cmd.get_name(), &mut found);
        assert!(found.len() > 10, "{found:?}");
        for (path, option) in found {
            // Each subcommand's synopsis starts with its whole path.
            assert!(
                rendered.contains(&format!("       {path}")),
                "`{path}` has no synopsis on {page}"
            );
            if !option.is_empty() {
                assert!(
                    rendered.contains(&option),
                    "{path} {option} is not on {page}"
                );
            }
        }
        for section in [
            "COMMANDS",
            "EXIT STATUS",
            "ENVIRONMENT",
            "FILES",
            "EXAMPLES",
        ] {
            assert!(
                rendered.contains(&format!("\n{section}\n")),
                "{page} has no {section}"
            );
        }
        for var in ["MFA_SOCKET", "MFA_DAEMON_USER"] {
            assert!(rendered.contains(var), "{var} is not on {page}");
        }
    }
}

#[test]
fn the_readme_examples_of_the_clis_are_on_their_pages() {
    let generated = Generated::new();
    for (page, heading) in [
        ("mfa-enroll.1", "### Enrolling and managing factors"),
        ("mfactl.8", "#### Admin tool"),
    ] {
        let rendered = generated.rendered(page);
        let block: Vec<&str> = mfa_man::README
            .lines()
            .skip_while(|l| *l != heading)
            .skip_while(|l| !l.starts_with("```"))
            .skip(1)
            .take_while(|l| !l.starts_with("```"))
            .collect();
        assert!(block.len() > 3, "no examples under {heading}");
        for line in block {
            let command = line.split(" # ").next().unwrap_or(line).trim();
            assert!(
                rendered.contains(command),
                "the example `{command}` is not on {page}"
            );
        }
    }
}

#[test]
fn the_example_config_on_mfa_toml_5_passes_check_config() {
    let generated = Generated::new();
    let rendered = generated.rendered("mfa.toml.5");
    for line in mfa_man::EXAMPLE_CONFIG.lines().filter(|l| !l.is_empty()) {
        assert!(rendered.contains(line), "`{line}` is not on mfa.toml(5)");
    }
    let dir = TempDir::new().expect("make a temporary directory");
    let config = dir.path().join("config.toml");
    fs::write(&config, mfa_man::EXAMPLE_CONFIG).expect("write the example");
    // The credentials the example names, as systemd's LoadCredential= hands them over.
    let credentials = dir.path().join("credentials");
    fs::create_dir(&credentials).expect("make the credentials directory");
    for name in ["twilio-token", "smtp-password"] {
        let file = credentials.join(name);
        fs::write(&file, "not-a-real-secret\n").expect("write a credential");
        fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).expect("chmod 0600");
    }
    let run = Command::new(mfa_tests::daemon_binary())
        .arg("--check-config")
        .arg(&config)
        .env("CREDENTIALS_DIRECTORY", &credentials)
        .output()
        .expect("run mfa-daemon --check-config");
    assert!(
        run.status.success(),
        "mfa-daemon --check-config refuses the example: {}",
        text(&run.stderr)
    );
}

#[test]
fn a_bad_outdir_is_refused_with_its_name() {
    let dir = TempDir::new().expect("make a temporary directory");
    let file = dir.path().join("a-file");
    fs::write(&file, "").expect("write a file");
    for outdir in [file.clone(), file.join("below")] {
        let run = mfa_man(&[outdir.as_os_str()], &[]);
        let stderr = text(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{outdir:?}: {stderr}");
        assert!(
            stderr.starts_with(&format!(
                "mfa-man: cannot make the output directory {}: ",
                outdir.display()
            )),
            "{stderr}"
        );
    }
    let run = mfa_man(&[], &[]);
    assert_eq!(
        run.status.code(),
        Some(2),
        "no OUTDIR: {}",
        text(&run.stderr)
    );
    assert!(text(&run.stderr).contains("OUTDIR"));
}

#[test]
fn source_date_epoch_dates_the_pages() {
    let dir = TempDir::new().expect("make a temporary directory");
    let run = mfa_man(
        &[dir.path().as_os_str()],
        &[("SOURCE_DATE_EPOCH", "1796083200")],
    );
    assert!(run.status.success(), "{}", text(&run.stderr));
    let roff = fs::read_to_string(dir.path().join("mfactl.8")).expect("read mfactl.8");
    assert!(roff.contains(".TH MFACTL 8 2026-12-01 "), "{roff}");

    let run = mfa_man(
        &[dir.path().as_os_str()],
        &[("SOURCE_DATE_EPOCH", "yesterday")],
    );
    assert_eq!(run.status.code(), Some(1));
    assert!(
        text(&run.stderr).contains("SOURCE_DATE_EPOCH is \"yesterday\""),
        "{}",
        text(&run.stderr)
    );
}
