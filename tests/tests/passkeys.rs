//! Enrolling a passkey end to end: the real `mfa-enroll passkey --json`, run as a test user,
//! prints a one-time link; headless Chromium with a virtual authenticator opens it on the
//! real `mfa-web` (run as its own unprivileged account, the daemon's `[web] user`), whose
//! page asks the daemon over its web socket; the daemon verifies the credential and stores
//! it, and `mfa-enroll` prints the result. Then the link's limits (used once, 10 minutes,
//! only while mfa-enroll waits, only for the page's origin) and the factor limits
//! (`max_authenticators`, `min_factors`, `remove passkey`).

use std::fs;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mfa_tests::browser::{AuthenticatorId, AuthenticatorOptions, Browser, Page};
use mfa_tests::records::current_record;
use mfa_tests::text::PROOF_PROMPT;
use mfa_tests::{
    Daemon, Interaction, MfaWeb, Run, TestUser, enroll_totp, free_web_port, json_line_with,
    mfa_enroll, mfactl_binary, root_suite_ready, run, run_answering, status, suite_output_dir,
    web_settings,
};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};

/// The link's life, as the daemon promises it.
const LINK_LIFE: Duration = Duration::from_secs(600);
/// How long a page may take to show the link's details or its verdict.
const PAGE_WAIT: Duration = Duration::from_secs(15);
/// The page's state once the daemon answered the link: shown or refused.
const LINK_ANSWERED: &str = "!document.getElementById('enroll-form').hidden \
     || document.getElementById('status').className === 'error'";
/// The page's state once the passkey was stored or refused.
const CEREMONY_DONE: &str =
    "['done', 'error'].includes(document.getElementById('status').className)";

/// A daemon with `[web]`, and mfa-web serving its pages as the account `[web] user` names.
/// Fields drop in order: mfa-web, the daemon, then the account.
struct Site {
    web: MfaWeb,
    daemon: Daemon,
    _web_user: TestUser,
}

impl Site {
    /// `settings`: the daemon's other config (top-level keys and tables before `[web]`).
    fn start(settings: &str, moving_clock: bool) -> Site {
        let web_user = TestUser::create();
        let port = free_web_port();
        let config = format!("{settings}\n{}", web_settings(port, web_user.name()));
        let daemon = if moving_clock {
            Daemon::start_on_moving_clock(&config)
        } else {
            Daemon::start_with(&config)
        };
        let web = MfaWeb::start(&daemon, port, &web_user);
        Site {
            web,
            daemon,
            _web_user: web_user,
        }
    }

    fn logs(&self) -> String {
        format!("{}\n{}", self.daemon.log_section(), self.web.log_section())
    }

    /// The user's passkeys as the daemon's record file holds them.
    fn recorded_passkeys(&self, user: &TestUser) -> Vec<Value> {
        let path = self.daemon.users_dir().join(format!("{}.rec", user.name()));
        current_record(&path)
            .and_then(|record| record["passkeys"].as_array().cloned())
            .unwrap_or_default()
    }
}

/// `mfa-enroll --json passkey` running as a user, after it printed its link.
struct Pending {
    enroll: Interaction,
    link: String,
    expires_at: u64,
}

impl Pending {
    /// Waits for mfa-enroll to end and returns what it did.
    fn finish(self) -> Run {
        self.enroll.finish()
    }
}

/// Starts `mfa-enroll --json passkey [--label LABEL]` as `user`, answering the proof question
/// with `proof` if it comes. `Err` is the finished run when no link was printed.
fn start_enrollment(
    site: &Site,
    user: &TestUser,
    label: Option<&str>,
    proof: Option<&str>,
) -> Result<Pending, Run> {
    let mut args = vec!["passkey"];
    if let Some(label) = label {
        args.extend(["--label", label]);
    }
    let mut enroll = Interaction::spawn(mfa_enroll(&site.daemon, Some(user.name()), &args));
    let link_shown = |output: &str| output.contains("\"open\"");
    if !enroll.wait_until(|output| link_shown(output) || output.contains(PROOF_PROMPT)) {
        return Err(enroll.finish());
    }
    if !link_shown(&enroll.stdout()) {
        let Some(proof) = proof else {
            return Err(enroll.finish());
        };
        enroll.send(&format!("{proof}\n"));
        if !enroll.wait_until(link_shown) {
            return Err(enroll.finish());
        }
    }
    let shown = json_line_with(&enroll.stdout(), "open").expect("the JSON line with the link");
    assert_eq!(
        shown.as_object().map(|o| o.len()),
        Some(2),
        "only open and expires_at: {shown}"
    );
    let link = shown["open"].as_str().expect("open is a string").to_owned();
    let expires_at = shown["expires_at"]
        .as_u64()
        .expect("expires_at is a number");
    Ok(Pending {
        enroll,
        link,
        expires_at,
    })
}

/// A browser tab with a phone's passkey authenticator.
struct Phone {
    page: Page,
    authenticator: AuthenticatorId,
    // Last: the tab's connection closes before Chromium is killed.
    _browser: Browser,
}

impl Phone {
    fn new() -> Phone {
        let mut browser = Browser::launch().unwrap_or_else(|e| panic!("{e}"));
        let mut page = browser.new_page().unwrap_or_else(|e| panic!("{e}"));
        page.navigate("about:blank")
            .unwrap_or_else(|e| panic!("{e}"));
        let authenticator = page
            .add_virtual_authenticator(AuthenticatorOptions::default())
            .unwrap_or_else(|e| panic!("{e}"));
        Phone {
            page,
            authenticator,
            _browser: browser,
        }
    }

    /// Opens `link` and waits for the daemon's answer; returns what the page shows.
    fn open(&mut self, link: &str) -> Shown {
        self.page.navigate(link).unwrap_or_else(|e| panic!("{e}"));
        self.page
            .wait_for(LINK_ANSWERED, PAGE_WAIT)
            .unwrap_or_else(|e| panic!("{e}\n{:#?}", self.page.console()));
        self.shown()
    }

    /// Clicks "Add passkey" and waits for the verdict.
    fn add(&mut self) -> Shown {
        self.page
            .click("#add-passkey")
            .unwrap_or_else(|e| panic!("{e}\n{:#?}", self.page.console()));
        self.page
            .wait_for(CEREMONY_DONE, PAGE_WAIT)
            .unwrap_or_else(|e| panic!("{e}\n{:#?}", self.page.console()));
        self.shown()
    }

    fn shown(&mut self) -> Shown {
        let script = "(() => { const t = (id) => document.getElementById(id).textContent; \
             return { user: t('user'), host: t('host'), label: t('label'), status: t('status'), \
             kind: document.getElementById('status').className, \
             can_add: !document.getElementById('enroll-form').hidden }; })()";
        let value = self.page.evaluate(script).unwrap_or_else(|e| panic!("{e}"));
        let text = |key: &str| value[key].as_str().unwrap_or_default().to_owned();
        Shown {
            user: text("user"),
            host: text("host"),
            label: text("label"),
            status: text("status"),
            kind: text("kind"),
            can_add: value["can_add"] == true,
        }
    }

    /// The credential ids the authenticator holds, base64url without padding as the daemon
    /// records them (CDP gives standard base64).
    fn credential_ids(&mut self) -> Vec<String> {
        self.page
            .credentials(&self.authenticator)
            .unwrap_or_else(|e| panic!("{e}"))
            .iter()
            .map(|c| {
                c.id()
                    .trim_end_matches('=')
                    .replace('+', "-")
                    .replace('/', "_")
            })
            .collect()
    }

    fn screenshot(&mut self, name: &str) {
        let path = suite_output_dir("passkeys").join(name);
        self.page
            .screenshot(&path)
            .unwrap_or_else(|e| panic!("{e}"));
        eprintln!("screenshot: {}", path.display());
    }
}

/// What the enrollment page shows.
#[derive(Debug)]
struct Shown {
    user: String,
    host: String,
    label: String,
    status: String,
    kind: String,
    can_add: bool,
}

impl Shown {
    fn refused(&self) -> bool {
        self.kind == "error" && !self.can_add
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// The one JSON line mfa-enroll prints once the passkey is stored.
fn enrolled_line(label: &str) -> Value {
    json!({ "enrolled": { "kind": "passkey", "label": label } })
}

/// Enrolls a passkey for `user` all the way (proof if asked); panics if any step fails.
fn enroll_passkey(
    site: &Site,
    phone: &mut Phone,
    user: &TestUser,
    label: &str,
    proof: Option<&str>,
) {
    let pending = start_enrollment(site, user, Some(label), proof)
        .unwrap_or_else(|done| panic!("no link: {done}\n{}", site.logs()));
    let shown = phone.open(&pending.link);
    assert!(shown.can_add, "{shown:?}\n{}", site.logs());
    let added = phone.add();
    assert_eq!(added.kind, "done", "{added:?}\n{}", site.logs());
    let done = pending.finish();
    assert!(done.succeeded(), "{done}\n{}", site.logs());
    assert_eq!(
        json_line_with(&done.stdout, "enrolled"),
        Some(enrolled_line(label)),
        "{done}"
    );
}

#[test]
fn a_passkey_is_enrolled_from_the_link_mfa_enroll_printed_and_the_link_works_once() {
    if !root_suite_ready() {
        return;
    }
    let site = Site::start("", false);
    let alice = TestUser::create();
    let mut phone = Phone::new();

    let before = unix_now();
    let pending = start_enrollment(&site, &alice, Some("laptop"), None)
        .unwrap_or_else(|done| panic!("no link: {done}\n{}", site.logs()));
    let page_prefix = format!("{}/enroll/", site.web.origin());
    assert!(
        pending.link.starts_with(&page_prefix),
        "{} is not a page of {}",
        pending.link,
        site.web.origin()
    );
    let life = pending.expires_at.saturating_sub(before);
    assert!(
        (LINK_LIFE.as_secs() - 5..=LINK_LIFE.as_secs() + 5).contains(&life),
        "the link lives {life} s"
    );

    let shown = phone.open(&pending.link);
    assert!(shown.can_add, "{shown:?}\n{}", site.logs());
    assert_eq!(shown.user, alice.name(), "{shown:?}");
    assert_eq!(shown.label, "laptop", "{shown:?}");
    assert!(!shown.host.is_empty(), "{shown:?}");
    phone.screenshot("enrollment-page.png");
    let added = phone.add();
    assert_eq!(added.kind, "done", "{added:?}\n{}", site.logs());
    assert!(
        added.status.starts_with("Passkey \"laptop\" added"),
        "{added:?}"
    );
    phone.screenshot("enrollment-done.png");

    let link = pending.link.clone();
    let done = pending.finish();
    assert!(done.succeeded(), "{done}\n{}", site.logs());
    let lines: Vec<&str> = done.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "a link line and a result line: {done}");
    assert_eq!(
        serde_json::from_str::<Value>(lines[1]).ok(),
        Some(enrolled_line("laptop")),
        "{done}"
    );

    // The user's own status, as the user sees it.
    let own = run(
        mfa_enroll(&site.daemon, Some(alice.name()), &["status"]),
        "",
    );
    assert!(own.succeeded(), "{own}");
    let own: Value = serde_json::from_str(own.stdout.trim()).expect("status JSON");
    let keys = own["passkeys"].as_array().cloned().unwrap_or_default();
    assert_eq!(keys.len(), 1, "{own}");
    assert_eq!(keys[0]["label"], "laptop", "{own}");
    assert!(keys[0]["last_used"].is_null(), "{own}");
    let enrolled_at = keys[0]["enrolled_at"].as_u64().unwrap_or_default();
    assert!((before..=unix_now()).contains(&enrolled_at), "{own}");

    // The admin's view: a PASSKEYS column in `list`, a line in `show`.
    let mfactl = |args: &[&str]| {
        let mut command = Command::new(mfactl_binary());
        command
            .env("TZ", "UTC")
            .arg("--socket")
            .arg(site.daemon.socket())
            .args(args);
        let done = run(command, "");
        assert!(done.succeeded(), "{done}\n{}", site.logs());
        done.stdout
    };
    let table = mfactl(&["list"]);
    let heading = table.lines().next().unwrap_or_default();
    let row = table
        .lines()
        .find(|line| line.starts_with(alice.name()))
        .unwrap_or_else(|| panic!("no row for {} in:\n{table}", alice.name()));
    let column = heading.find("PASSKEYS").expect("a PASSKEYS column");
    assert!(row[column..].starts_with("laptop "), "{table}");
    let shown = mfactl(&["show", alice.name()]);
    assert!(
        shown.contains("Passkeys:\n  laptop: added ") && shown.contains(", never used\n"),
        "{shown}"
    );

    // The daemon's record holds the credential the authenticator made, for this origin.
    let held = phone.credential_ids();
    assert_eq!(held.len(), 1, "{held:?}");
    let recorded = site.recorded_passkeys(&alice);
    assert_eq!(recorded.len(), 1, "{recorded:#?}");
    assert_eq!(recorded[0]["label"], "laptop");
    assert_eq!(recorded[0]["id"], held[0].as_str(), "{recorded:#?}");
    // The authenticator's model, from the verified authenticator data (Chromium's virtual
    // authenticator names one), as a UUID.
    let aaguid = recorded[0]["aaguid"].as_str().unwrap_or_default();
    assert_eq!(aaguid.len(), 36, "{recorded:#?}");
    assert_ne!(aaguid, "00000000-0000-0000-0000-000000000000");
    site.daemon.wait_for_audit(|event| {
        event["event"] == "mfa_setup_succeeded"
            && event["user"] == alice.name()
            && event["factor"] == "passkey"
    });

    // Used once: the same link again is refused, and nothing more is stored.
    let again = phone.open(&link);
    assert!(again.refused(), "{again:?}\n{}", site.logs());
    phone.screenshot("enrollment-used-link.png");
    assert_eq!(site.recorded_passkeys(&alice).len(), 1);
}

#[test]
fn an_expired_link_is_refused_when_used_and_when_opened() {
    if !root_suite_ready() {
        return;
    }
    let site = Site::start("", true);
    let bob = TestUser::create();
    let mut phone = Phone::new();
    let pending = start_enrollment(&site, &bob, None, None)
        .unwrap_or_else(|done| panic!("no link: {done}\n{}", site.logs()));
    let shown = phone.open(&pending.link);
    assert!(shown.can_add, "{shown:?}\n{}", site.logs());
    assert_eq!(shown.label, "passkey", "the default label: {shown:?}");

    // The page was opened in time; the passkey comes after the 10 minutes.
    site.daemon
        .clock()
        .advance(LINK_LIFE + Duration::from_secs(1));
    let added = phone.add();
    assert_eq!(added.kind, "error", "{added:?}\n{}", site.logs());
    assert!(site.recorded_passkeys(&bob).is_empty(), "{}", site.logs());

    let reopened = phone.open(&pending.link);
    assert!(reopened.refused(), "{reopened:?}\n{}", site.logs());
    assert!(status(&site.daemon, bob.name()).passkeys.is_empty());
    // mfa-enroll still waits on real time; killing it is the user's Ctrl-C.
    drop(pending);
}

#[test]
fn the_link_ends_when_mfa_enroll_is_killed() {
    if !root_suite_ready() {
        return;
    }
    let site = Site::start("", false);
    let carol = TestUser::create();
    let mut phone = Phone::new();
    let pending = start_enrollment(&site, &carol, Some("phone"), None)
        .unwrap_or_else(|done| panic!("no link: {done}\n{}", site.logs()));
    let link = pending.link.clone();
    // mfa-enroll runs under runuser, which forks: kill mfa-enroll itself, as Ctrl-C or a
    // closed terminal would end it, then runuser.
    let runuser = pending.enroll.pid();
    let children = fs::read_to_string(format!("/proc/{runuser}/task/{runuser}/children"))
        .unwrap_or_else(|e| panic!("children of runuser {runuser}: {e}"));
    let children: Vec<i32> = children
        .split_whitespace()
        .map(|pid| pid.parse().expect("a PID"))
        .collect();
    assert_eq!(children.len(), 1, "runuser's children: {children:?}");
    kill(Pid::from_raw(children[0]), Signal::SIGKILL).expect("kill mfa-enroll");
    let killed = pending.finish();
    assert!(!killed.succeeded(), "{killed}");

    // The daemon notices the closed connection at once; give it a moment, no more.
    let deadline = Instant::now() + Duration::from_secs(5);
    let shown = loop {
        let shown = phone.open(&link);
        if shown.refused() || Instant::now() >= deadline {
            break shown;
        }
        thread::sleep(Duration::from_millis(200));
    };
    assert!(shown.refused(), "{shown:?}\n{}", site.logs());
    assert!(site.recorded_passkeys(&carol).is_empty(), "{}", site.logs());
}

/// Makes the page's next `navigator.credentials.create` return the credential the
/// authenticator made with its clientDataJSON's origin replaced by `origin`, as a credential
/// made on another site (or relayed from a phishing page) would carry.
fn forge_origin_next_time(page: &mut Page, origin: &str) {
    let script = format!(
        "(() => {{ const real = navigator.credentials.create.bind(navigator.credentials); \
         navigator.credentials.create = async (options) => {{ \
           navigator.credentials.create = real; \
           const made = await real(options); \
           const data = JSON.parse(new TextDecoder().decode(made.response.clientDataJSON)); \
           data.origin = {origin}; \
           const forged = new TextEncoder().encode(JSON.stringify(data)).buffer; \
           return {{ id: made.id, rawId: made.rawId, type: made.type, \
             response: {{ attestationObject: made.response.attestationObject, \
                          clientDataJSON: forged }} }}; \
         }}; return true; }})()",
        origin = json!(origin)
    );
    assert_eq!(
        page.evaluate(&script).unwrap_or_else(|e| panic!("{e}")),
        Value::Bool(true)
    );
}

#[test]
fn a_credential_made_for_another_origin_is_refused_by_the_daemon() {
    if !root_suite_ready() {
        return;
    }
    let site = Site::start("", false);
    let dave = TestUser::create();
    let mut phone = Phone::new();
    let pending = start_enrollment(&site, &dave, Some("phone"), None)
        .unwrap_or_else(|done| panic!("no link: {done}\n{}", site.logs()));

    let foreign_origins = [
        "https://mfa.example.net".to_owned(),
        // Same host, another port: another origin.
        "http://localhost:1".to_owned(),
    ];
    for foreign in &foreign_origins {
        let shown = phone.open(&pending.link);
        assert!(shown.can_add, "{shown:?}\n{}", site.logs());
        forge_origin_next_time(&mut phone.page, foreign);
        let added = phone.add();
        assert_eq!(
            added.kind,
            "error",
            "origin {foreign} accepted: {added:?}\n{}",
            site.logs()
        );
        assert!(site.recorded_passkeys(&dave).is_empty(), "{}", site.logs());
    }
    let refusals = site
        .daemon
        .audit_events()
        .into_iter()
        .filter(|e| {
            e["event"] == "mfa_setup_failed"
                && e["user"] == dave.name()
                && e["reason"] == "not_verified"
        })
        .count();
    assert_eq!(refusals, foreign_origins.len(), "{}", site.logs());
    let origin_refusals = site
        .daemon
        .log()
        .lines()
        .filter(|l| l.contains("refused") && l.to_lowercase().contains("origin"))
        .count();
    assert_eq!(
        origin_refusals,
        foreign_origins.len(),
        "the daemon's reasons should name the origin\n{}",
        site.logs()
    );

    // The refusals were about the origin: the same page and authenticator, through the same
    // re-encoding with the site's own origin, work (two refusals leave the link open; the
    // third would spend it).
    let shown = phone.open(&pending.link);
    assert!(shown.can_add, "{shown:?}\n{}", site.logs());
    let own_origin = site.web.origin().to_owned();
    forge_origin_next_time(&mut phone.page, &own_origin);
    let added = phone.add();
    assert_eq!(added.kind, "done", "{added:?}\n{}", site.logs());
    let done = pending.finish();
    assert!(done.succeeded(), "{done}\n{}", site.logs());
    assert_eq!(
        json_line_with(&done.stdout, "enrolled"),
        Some(enrolled_line("phone"))
    );
    let recorded = site.recorded_passkeys(&dave);
    assert_eq!(recorded.len(), 1, "{recorded:#?}");
    let held = phone.credential_ids();
    assert!(
        held.iter().any(|id| recorded[0]["id"] == id.as_str()),
        "{held:?} {recorded:#?}"
    );
}

#[test]
fn passkeys_count_in_max_authenticators_and_min_factors_and_can_be_removed() {
    if !root_suite_ready() {
        return;
    }
    let site = Site::start("[policy]\nmax_authenticators = 2\nmin_factors = 1\n", false);
    let erin = TestUser::create();
    let enrollment = enroll_totp(&site.daemon, &erin);
    let mut proofs = enrollment.recovery_codes.iter().map(String::as_str);
    let mut proof = || proofs.next().expect("a recovery code left");
    let mut phone = Phone::new();

    // An app and a passkey: two authenticators, the most policy allows.
    enroll_passkey(&site, &mut phone, &erin, "key1", Some(proof()));
    let full = match start_enrollment(&site, &erin, Some("key2"), Some(proof())) {
        Ok(pending) => panic!("a third authenticator got a link: {}", pending.link),
        Err(done) => done,
    };
    assert!(!full.succeeded(), "{full}");
    assert!(full.stderr.contains("max_authenticators"), "{full}");
    // Replacing key1 is no new authenticator and is still allowed.
    let replacing = start_enrollment(&site, &erin, Some("key1"), Some(proof()))
        .unwrap_or_else(|done| panic!("replacing key1 refused: {done}\n{}", site.logs()));
    drop(replacing);

    // The user removes the passkey, then adds it back and removes the app instead.
    let remove = |args: &[&str], proof: &str| {
        let command = mfa_enroll(&site.daemon, Some(erin.name()), args);
        run_answering(command, PROOF_PROMPT, &[proof])
    };
    let removed = remove(&["remove", "passkey", "key1"], proof());
    assert!(removed.succeeded(), "{removed}\n{}", site.logs());
    assert!(json_line_with(&removed.stdout, "ok").is_some(), "{removed}");
    assert!(status(&site.daemon, erin.name()).passkeys.is_empty());
    assert!(site.recorded_passkeys(&erin).is_empty());

    enroll_passkey(&site, &mut phone, &erin, "key1", Some(proof()));
    let removed = remove(&["remove", "totp", "app"], proof());
    assert!(removed.succeeded(), "{removed}\n{}", site.logs());

    // The passkey is the last factor: min_factors keeps it from the user...
    let kept = remove(&["remove", "passkey", "key1"], proof());
    assert!(!kept.succeeded(), "{kept}");
    assert!(kept.stderr.contains("min_factors"), "{kept}");
    let report = status(&site.daemon, erin.name());
    assert_eq!(report.passkeys.len(), 1, "{report:?}");
    assert!(report.authenticators.is_empty(), "{report:?}");

    // ...but not from root.
    let by_root = run(
        mfa_enroll(
            &site.daemon,
            None,
            &["remove", "passkey", "key1", "--user", erin.name()],
        ),
        "",
    );
    assert!(by_root.succeeded(), "{by_root}\n{}", site.logs());
    assert!(status(&site.daemon, erin.name()).passkeys.is_empty());
    let gone = run(
        mfa_enroll(
            &site.daemon,
            None,
            &["remove", "passkey", "key1", "--user", erin.name()],
        ),
        "",
    );
    assert!(!gone.succeeded(), "{gone}");
    assert!(gone.stderr.contains("no passkey labelled `key1`"), "{gone}");
}

#[test]
fn after_a_refused_credential_the_same_page_can_try_again() {
    if !root_suite_ready() {
        return;
    }
    let site = Site::start("", false);
    let frank = TestUser::create();
    let mut phone = Phone::new();
    let pending = start_enrollment(&site, &frank, Some("phone"), None)
        .unwrap_or_else(|done| panic!("no link: {done}\n{}", site.logs()));
    let shown = phone.open(&pending.link);
    assert!(shown.can_add, "{shown:?}\n{}", site.logs());
    forge_origin_next_time(&mut phone.page, "https://mfa.example.net");
    let refused = phone.add();
    assert_eq!(refused.kind, "error", "{refused:?}\n{}", site.logs());
    // The page offers the button again, and the link has refusals left (three spend it): a
    // second try from the same page, without reloading it, must be able to succeed.
    let again = phone.shown();
    assert!(again.can_add, "the page offers no second try: {again:?}");
    let retried = phone.add();
    assert_eq!(
        retried.kind,
        "done",
        "a retry from the same page after one refusal: {retried:?}\n{}",
        site.logs()
    );
    let done = pending.finish();
    assert!(done.succeeded(), "{done}\n{}", site.logs());
}
