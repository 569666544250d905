//! Approving a sign-in on the phone, end to end: a daemon with `[web]` and the real
//! `mfa-web` in front of it ([`WebSite`]), headless Chromium with a passkey authenticator
//! playing the phone ([`Phone`]), and a pamtester login that chooses approval and reads the
//! number and the link the daemon shows ([`ApprovalLogin`]).

use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::browser::{AuthenticatorId, AuthenticatorOptions, Browser, Credential, Page};
use crate::daemon::Daemon;
use crate::enroll::{json_line_with, mfa_enroll};
use crate::pam::{PamService, Pamtester};
use crate::process::{Interaction, Run};
use crate::text::MENU_PROMPT;
use crate::user::TestUser;
use crate::web::{MfaWeb, free_web_port, web_settings};

/// The menu entry a user with a passkey sees when `[web]` is set.
pub const APPROVE_ENTRY: &str = "1. Approve on your phone";
/// Start of the approval prompt; the two-digit number follows.
pub const APPROVAL_PROMPT: &str = "Approve the sign-in on your phone: number ";
/// What follows the number in the approval prompt.
pub const APPROVAL_PROMPT_END: &str = ". Press Enter when done, or type a code: ";
/// Enter after the request's life: the menu comes again.
pub const APPROVAL_EXPIRED: &str = "The approval request expired; choose it again or enter a code.";
/// Enter after the page denied (deny, not me, wrong number, an assertion refused).
pub const APPROVAL_DENIED: &str = "The sign-in was denied on your phone.";
/// No request could be opened (paused, too many, mfa-web's side unavailable).
pub const APPROVAL_UNAVAILABLE: &str =
    "Approval on your phone is not available now; enter a code instead";
/// Where a request's page is: `<public_url>/approve/<id>`.
pub const APPROVE_PATH: &str = "/approve/";

/// How long a page may take to show a request or its verdict.
pub const PAGE_WAIT: Duration = Duration::from_secs(15);
const POLL_INTERVAL: Duration = Duration::from_millis(10);
/// How long pamtester's stdout line (the link notice) may lag behind its prompt on stderr.
const NOTICE_WAIT: Duration = Duration::from_secs(5);

/// A daemon with `[web]` and mfa-web serving its pages as the account `[web] user` names.
/// Fields drop in order: mfa-web, the daemon, then that account.
#[derive(Debug)]
pub struct WebSite {
    web: Option<MfaWeb>,
    /// The daemon.
    pub daemon: Daemon,
    web_user: TestUser,
    origin: String,
}

impl WebSite {
    /// A daemon on the real clock whose config adds `settings` (top-level keys and tables;
    /// `[web]` extra keys go in `web_extra`).
    pub fn start(settings: &str, web_extra: &str) -> WebSite {
        WebSite::start_on(settings, web_extra, false)
    }

    /// Like [`WebSite::start`], the daemon on a clock the test moves.
    pub fn start_on_moving_clock(settings: &str, web_extra: &str) -> WebSite {
        WebSite::start_on(settings, web_extra, true)
    }

    fn start_on(settings: &str, web_extra: &str, moving_clock: bool) -> WebSite {
        let web_user = TestUser::create();
        let port = free_web_port();
        let config = format!(
            "{settings}\n{}{web_extra}\n",
            web_settings(port, web_user.name())
        );
        let daemon = if moving_clock {
            Daemon::start_on_moving_clock(&config)
        } else {
            Daemon::start_with(&config)
        };
        let web = MfaWeb::start(&daemon, port, &web_user);
        let origin = web.origin().to_owned();
        WebSite {
            web: Some(web),
            daemon,
            web_user,
            origin,
        }
    }

    /// `http://localhost:PORT`, the daemon's `public_url`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The account mfa-web runs as.
    pub fn web_user(&self) -> &TestUser {
        &self.web_user
    }

    /// mfa-web's process id, unless it was killed (the benchmarks read its memory).
    pub fn web_pid(&self) -> Option<u32> {
        self.web.as_ref().and_then(MfaWeb::pid)
    }

    /// Kills mfa-web (SIGKILL, by PID); the daemon keeps running.
    pub fn kill_web(&mut self) {
        self.web = None;
    }

    /// The daemon's and mfa-web's logs, for failure messages.
    pub fn logs(&self) -> String {
        let web = self
            .web
            .as_ref()
            .map(MfaWeb::log_section)
            .unwrap_or_else(|| "--- mfa-web killed ---".to_owned());
        format!("{}\n{web}", self.daemon.log_section())
    }

    /// Enrolls a passkey labelled `label` for `user` on `phone` (root runs `mfa-enroll
    /// passkey --user`, the phone opens the link and adds the passkey); panics if any step
    /// fails.
    pub fn enroll_passkey(&self, phone: &mut Phone, user: &TestUser, label: &str) {
        self.enroll_passkey_then(phone, user, label, |_, _| {});
    }

    /// Like [`WebSite::enroll_passkey`]; `on_page` runs once the enrollment page is open,
    /// before the passkey is added, with the link's token (a page opened from the user's own
    /// link may subscribe the browser to pushes).
    pub fn enroll_passkey_then(
        &self,
        phone: &mut Phone,
        user: &TestUser,
        label: &str,
        on_page: impl FnOnce(&mut Phone, &str),
    ) {
        let args = ["passkey", "--label", label, "--user", user.name()];
        let enroll = Interaction::spawn(mfa_enroll(&self.daemon, None, &args));
        let shown = enroll.wait_until(|output| output.contains("\"open\""));
        assert!(shown, "no link: {}\n{}", enroll.finish(), self.logs());
        let line = json_line_with(&enroll.stdout(), "open").expect("the JSON line with the link");
        let link = line["open"].as_str().expect("open is a string").to_owned();
        let token = link.rsplit('/').next().unwrap_or_default().to_owned();
        phone.navigate(&link);
        phone.wait(
            "!document.getElementById('enroll-form').hidden \
             || document.getElementById('status').className === 'error'",
        );
        on_page(phone, &token);
        phone.click("#add-passkey");
        phone.wait("['done', 'error'].includes(document.getElementById('status').className)");
        let status = phone.status();
        assert_eq!(status.kind, "done", "{status:?}\n{}", self.logs());
        let done = enroll.finish();
        assert!(done.succeeded(), "{done}\n{}", self.logs());
    }
}

/// A phone: a browser tab with a passkey authenticator (CTAP2, internal, user verification).
#[derive(Debug)]
pub struct Phone {
    /// The tab.
    pub page: Page,
    /// Its authenticator.
    pub authenticator: AuthenticatorId,
    // Last: the tab's connection closes before Chromium is killed.
    _browser: Browser,
}

/// What the approval page shows.
#[derive(Debug, Clone, Default)]
pub struct ApprovalShown {
    /// `#user`.
    pub user: String,
    /// `#host`.
    pub host: String,
    /// `#service`.
    pub service: String,
    /// `#source`.
    pub source: String,
    /// The three choices, as the buttons show them.
    pub choices: Vec<String>,
    /// `#status`'s text.
    pub status: String,
    /// `#status`'s class: `done`, `error` or empty.
    pub kind: String,
    /// Whether the details are shown (the daemon answered with the request).
    pub details: bool,
}

impl ApprovalShown {
    /// Whether the page says the link is not valid (expired, used, never made).
    pub fn refused(&self) -> bool {
        self.kind == "error" && !self.details
    }
}

/// `#status`'s text and class.
#[derive(Debug, Clone)]
pub struct Status {
    /// Its text.
    pub text: String,
    /// `done`, `error` or empty.
    pub kind: String,
}

impl Phone {
    /// A new browser with one tab and one authenticator.
    pub fn new() -> Phone {
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

    /// Loads `url`.
    pub fn navigate(&mut self, url: &str) {
        self.page
            .navigate(url)
            .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// Waits until the JavaScript `condition` holds, up to [`PAGE_WAIT`].
    pub fn wait(&mut self, condition: &str) {
        if let Err(e) = self.page.wait_for(condition, PAGE_WAIT) {
            panic!("{e}\n{:#?}", self.page.console());
        }
    }

    /// Clicks the element `selector` matches.
    pub fn click(&mut self, selector: &str) {
        if let Err(e) = self.page.click(selector) {
            panic!("{e}\n{:#?}", self.page.console());
        }
    }

    /// Runs `script` in the page.
    pub fn evaluate(&mut self, script: &str) -> Value {
        self.page
            .evaluate(script)
            .unwrap_or_else(|e| panic!("{e}\n{:#?}", self.page.console()))
    }

    /// `#status` now.
    pub fn status(&mut self) -> Status {
        let value = self.evaluate(
            "(() => { const s = document.getElementById('status'); \
             return { text: s.textContent, kind: s.className }; })()",
        );
        Status {
            text: value["text"].as_str().unwrap_or_default().to_owned(),
            kind: value["kind"].as_str().unwrap_or_default().to_owned(),
        }
    }

    /// Opens an approval page and waits for the daemon's answer (the request, or a refusal).
    pub fn open_approval(&mut self, link: &str) -> ApprovalShown {
        self.navigate(link);
        self.wait(
            "!document.getElementById('details').hidden \
             || document.getElementById('status').className === 'error'",
        );
        self.approval_shown()
    }

    /// What the approval page shows now.
    pub fn approval_shown(&mut self) -> ApprovalShown {
        let value = self.evaluate(
            "(() => { const t = (id) => document.getElementById(id).textContent; \
             return { user: t('user'), host: t('host'), service: t('service'), \
             source: t('source'), choices: [t('choice-0'), t('choice-1'), t('choice-2')], \
             status: t('status'), kind: document.getElementById('status').className, \
             details: !document.getElementById('details').hidden }; })()",
        );
        let text = |key: &str| value[key].as_str().unwrap_or_default().to_owned();
        ApprovalShown {
            user: text("user"),
            host: text("host"),
            service: text("service"),
            source: text("source"),
            choices: value["choices"]
                .as_array()
                .map(|c| {
                    c.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            status: text("status"),
            kind: text("kind"),
            details: value["details"] == true,
        }
    }

    /// Clicks the choice showing `number` (two digits); panics if none does.
    pub fn pick(&mut self, number: u8) {
        let shown = self.approval_shown();
        let wanted = format!("{number:02}");
        let at = shown
            .choices
            .iter()
            .position(|c| *c == wanted)
            .unwrap_or_else(|| panic!("no choice shows {wanted}: {shown:?}"));
        self.click(&format!("#choice-{at}"));
    }

    /// Clicks a choice that does not show `number`.
    pub fn pick_other_than(&mut self, number: u8) {
        let shown = self.approval_shown();
        let wanted = format!("{number:02}");
        let at = shown
            .choices
            .iter()
            .position(|c| *c != wanted)
            .unwrap_or_else(|| panic!("every choice shows {wanted}: {shown:?}"));
        self.click(&format!("#choice-{at}"));
    }

    /// Waits until the page shows a verdict (`#status` is `done` or `error`) and returns it.
    pub fn verdict(&mut self) -> Status {
        self.wait("['done', 'error'].includes(document.getElementById('status').className)");
        self.status()
    }

    /// Makes every later `fetch` of the page to `…/finish` keep its JSON body in
    /// `window.mfatFinish` (the assertion the page sends), and, if `replace` is given, send
    /// `replace` instead: an attacker replaying an assertion they saw.
    pub fn intercept_finish(&mut self, replace: Option<&Value>) {
        let script = format!(
            "(() => {{ const real = window.fetch.bind(window); const replace = {replace}; \
             window.fetch = (path, init) => {{ \
               if (String(path).endsWith('/finish') && init && init.body) {{ \
                 window.mfatFinish = JSON.parse(init.body); \
                 if (replace !== null) init = Object.assign({{}}, init, \
                   {{ body: JSON.stringify(replace) }}); }} \
               return real(path, init); }}; return true; }})()",
            replace = replace.map_or_else(|| "null".to_owned(), Value::to_string)
        );
        assert_eq!(self.evaluate(&script), Value::Bool(true));
    }

    /// The body the page last sent to `…/finish` (see [`Phone::intercept_finish`]).
    pub fn intercepted_finish(&mut self) -> Option<Value> {
        Some(self.evaluate("window.mfatFinish || null")).filter(|v| !v.is_null())
    }

    /// Makes the page's next `navigator.credentials.get` allow only this phone's own
    /// credentials instead of those the daemon listed, so the authenticator signs with a
    /// passkey of another account: how a foreign assertion reaches the daemon.
    pub fn offer_own_credentials_next_time(&mut self) {
        let ids: Vec<String> = self
            .credentials()
            .iter()
            .map(|c| c.id().to_owned())
            .collect();
        let script = format!(
            "(() => {{ const ids = {ids}; \
             const real = navigator.credentials.get.bind(navigator.credentials); \
             navigator.credentials.get = (options) => {{ \
               navigator.credentials.get = real; \
               const pk = Object.assign({{}}, options.publicKey); \
               pk.allowCredentials = ids.map((id) => ({{ type: 'public-key', \
                 id: Uint8Array.from(atob(id), (c) => c.charCodeAt(0)).buffer }})); \
               return real(Object.assign({{}}, options, {{ publicKey: pk }})); }}; \
             return true; }})()",
            ids = json!(ids)
        );
        assert_eq!(self.evaluate(&script), Value::Bool(true));
    }

    /// POSTs `body` as JSON to `path` of the page's origin, as the page's own script does;
    /// returns the status and the JSON answer.
    pub fn post(&mut self, path: &str, body: &Value) -> (u16, Value) {
        let script = format!(
            "(async () => {{ const r = await fetch({path}, {{ method: 'POST', \
             credentials: 'omit', cache: 'no-store', \
             headers: {{ 'Content-Type': 'application/json' }}, body: {body} }}); \
             let json = null; try {{ json = await r.json(); }} catch (e) {{}} \
             return {{ status: r.status, json }}; }})()",
            path = json!(path),
            body = json!(body.to_string())
        );
        let value = self.evaluate(&script);
        let status = value["status"].as_u64().unwrap_or_default();
        (
            u16::try_from(status).unwrap_or_default(),
            value["json"].clone(),
        )
    }

    /// The credentials the authenticator holds.
    pub fn credentials(&mut self) -> Vec<Credential> {
        self.page
            .credentials(&self.authenticator)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Replaces every credential the authenticator holds with a clone whose signature
    /// counter is `sign_count`.
    pub fn clone_credentials_with_sign_count(&mut self, sign_count: u64) {
        for credential in self.credentials() {
            self.page
                .remove_credential(&self.authenticator, credential.id())
                .unwrap_or_else(|e| panic!("{e}"));
            self.page
                .add_credential(&self.authenticator, &credential.with_sign_count(sign_count))
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }

    /// Saves the page as `name` (PNG) in the suite's output directory.
    pub fn screenshot(&mut self, suite: &str, name: &str) {
        let path = crate::artifacts::suite_output_dir(suite).join(name);
        self.page
            .screenshot(&path)
            .unwrap_or_else(|e| panic!("{e}"));
        eprintln!("screenshot: {}", path.display());
    }
}

impl Default for Phone {
    fn default() -> Phone {
        Phone::new()
    }
}

/// What an approval prompt asked: the number, and the page's link from the notice before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asked {
    /// The two-digit number to pick on the page.
    pub number: u8,
    /// `<public_url>/approve/<id>`.
    pub link: String,
}

/// The next prompt a login showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompted {
    /// An approval prompt (a new one, or the same again after Enter).
    Approval(Asked),
    /// The menu again.
    Menu,
    /// The login ended.
    Ended,
}

/// The number of the last approval prompt in `text`.
pub fn number_in(text: &str) -> Option<u8> {
    let at = text.rfind(APPROVAL_PROMPT)? + APPROVAL_PROMPT.len();
    let digits: String = text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The last approval page link in `text`.
pub fn link_in(text: &str) -> Option<String> {
    text.split_whitespace()
        .filter(|word| word.contains(APPROVE_PATH) && word.starts_with("http"))
        .map(|word| word.trim_end_matches(|c: char| !c.is_ascii_alphanumeric() && c != '_'))
        .map(str::to_owned)
        .next_back()
}

/// A pamtester login (stdout line-buffered, so the link notice can be read before the
/// prompt is answered) that meets the menu and the approval prompt.
#[derive(Debug)]
pub struct ApprovalLogin {
    login: Interaction,
    menus_seen: usize,
    approvals_seen: usize,
    links_seen: usize,
    new_request_due: bool,
}

impl ApprovalLogin {
    /// Starts `pamtester SERVICE USER authenticate`.
    pub fn start(service: &PamService, user: &str) -> ApprovalLogin {
        ApprovalLogin::of(Pamtester::new(service, user).start_line_buffered())
    }

    /// Takes over a login just started.
    pub fn of(login: Interaction) -> ApprovalLogin {
        ApprovalLogin {
            login,
            menus_seen: 0,
            approvals_seen: 0,
            links_seen: 0,
            new_request_due: false,
        }
    }

    /// Waits for the next prompt: an approval prompt (with its number and the link shown
    /// before it), the menu, or the end.
    pub fn next_prompt(&mut self) -> Prompted {
        let (menus, approvals) = (self.menus_seen, self.approvals_seen);
        self.login.wait_until(|output| {
            output.matches(MENU_PROMPT).count() > menus
                || output.matches(APPROVAL_PROMPT).count() > approvals
        });
        let output = self.output();
        let menus_now = output.matches(MENU_PROMPT).count();
        let approvals_now = output.matches(APPROVAL_PROMPT).count();
        if approvals_now > approvals {
            self.approvals_seen = approvals_now;
            let number = number_in(&output).expect("a number in the approval prompt");
            return Prompted::Approval(Asked {
                number,
                link: self.link(),
            });
        }
        if menus_now > menus {
            self.menus_seen = menus_now;
            return Prompted::Menu;
        }
        Prompted::Ended
    }

    /// The link of the newest request. Right after a menu answer a new notice is due (on
    /// stdout, which may lag a moment behind the prompt on stderr); a prompt repeated after
    /// Enter comes without one.
    fn link(&mut self) -> String {
        if self.new_request_due {
            self.new_request_due = false;
            let seen = self.links_seen;
            let deadline = Instant::now() + NOTICE_WAIT;
            while self.login.stdout().matches(APPROVE_PATH).count() <= seen
                && Instant::now() < deadline
            {
                thread::sleep(POLL_INTERVAL);
            }
        }
        self.links_seen = self.login.stdout().matches(APPROVE_PATH).count();
        link_in(&self.login.stdout()).unwrap_or_default()
    }

    /// Waits for the menu and answers it; panics if another prompt or the end comes.
    pub fn at_menu(&mut self, answer: &str) {
        let next = self.next_prompt();
        assert_eq!(next, Prompted::Menu, "{}", self.output());
        self.new_request_due = true;
        self.send(answer);
    }

    /// Chooses approval at the menu and returns the approval prompt's number and link;
    /// panics if no approval prompt comes.
    pub fn choose_approval(&mut self) -> Asked {
        self.at_menu("1");
        match self.next_prompt() {
            Prompted::Approval(asked) => asked,
            other => panic!(
                "{other:?} instead of an approval prompt:\n{}",
                self.output()
            ),
        }
    }

    /// The first prompt of a login under `policy.push = "auto"`: an approval prompt shown
    /// without the menu, with its number and the link of the notice before it; panics if
    /// the menu or the end comes instead.
    pub fn first_approval(&mut self) -> Asked {
        self.new_request_due = true;
        match self.next_prompt() {
            Prompted::Approval(asked) => asked,
            other => panic!(
                "{other:?} instead of an approval prompt first:\n{}",
                self.output()
            ),
        }
    }

    /// Types `answer` and Enter.
    pub fn send(&mut self, answer: &str) {
        self.login.send(&format!("{answer}\n"));
    }

    /// Waits until `text` appears in the output; `false` if the login ended first.
    pub fn wait_for(&self, text: &str) -> bool {
        self.login.wait_for(text, 1)
    }

    /// Everything printed so far, stdout then stderr.
    pub fn output(&self) -> String {
        format!("{}\n{}", self.login.stdout(), self.login.stderr())
    }

    /// Closes stdin and waits for the end.
    pub fn finish(self) -> Run {
        self.login.finish()
    }
}

/// A P-256 key in PEM (PKCS#8), made by `openssl genpkey` in `dir`, 0600 as the daemon's
/// secret files must be: a VAPID key for `[web] vapid_key_file`.
pub fn vapid_key(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("vapid.pem");
    let made = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ])
        .arg(&path)
        .output()
        .expect("run openssl");
    assert!(made.status.success(), "{made:?}");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod the VAPID key");
    path
}

/// The `[web]` keys that turn Web Push on with a fresh VAPID key made in `dir` (see
/// [`vapid_key`]), for `WebSite::start`'s `web_extra`.
pub fn web_push_settings(dir: &std::path::Path) -> String {
    let key = vapid_key(dir);
    format!(
        "vapid_key_file = {}\nvapid_subject = \"mailto:admin@example.com\"\n",
        json!(key.display().to_string())
    )
}
