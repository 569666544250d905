//! Approving a sign-in on the phone, end to end: a pamtester (or sshd + ssh) login of a user
//! with a passkey chooses `1. Approve on your phone`, reads the number from the prompt and
//! the page's link from the notice before it; headless Chromium, whose virtual authenticator
//! holds the passkey enrolled through the real `mfa-enroll passkey`, opens the page served by
//! the real `mfa-web`, picks the number and signs; Enter at the prompt ends the login. Then
//! what must be refused: a wrong number, a denial and "This wasn't me", an expired request,
//! another user's passkey, a replayed assertion, a cloned key whose counter went backwards;
//! and Web Push of the link to a subscribed browser.

use std::time::{Duration, Instant};

use mfa_tests::approval::{
    APPROVAL_DENIED, APPROVAL_EXPIRED, APPROVAL_PROMPT, APPROVAL_PROMPT_END, APPROVE_ENTRY,
    APPROVE_PATH, ApprovalLogin, Asked, Phone, Prompted, WebSite, link_in, number_in,
    web_push_settings,
};
use mfa_tests::standins::{Kind, PushStandin};
use mfa_tests::text::{MENU_PROMPT, PAMTESTER_SUCCESS};
use mfa_tests::{
    Authenticator, DELIVERY_WAIT, Daemon, PamService, Providers, Sshd, TestUser, enroll_totp,
    root_suite_ready,
};
use serde_json::{Value, json};

const SUITE: &str = "approval";
/// The daemon's default `[web] approval_timeout`.
const APPROVAL_TIMEOUT: Duration = Duration::from_secs(60);
/// How long Enter may wait for the daemon's answer (it waits up to 4 s for the page).
const ENTER_ANSWER_WAIT: Duration = Duration::from_secs(10);

/// A site, a user with a passkey on a phone, and a PAM service of pam_mfa.so alone.
/// Fields drop in order: the service, the phone, the user, then the site.
struct Approver {
    service: PamService,
    phone: Phone,
    user: TestUser,
    site: WebSite,
}

impl Approver {
    fn new(site: WebSite) -> Approver {
        let user = TestUser::create();
        Approver::with_user(site, user)
    }

    fn with_user(site: WebSite, user: TestUser) -> Approver {
        let mut phone = Phone::new();
        site.enroll_passkey(&mut phone, &user, "phone");
        let service = PamService::mfa(site.daemon.socket(), "");
        Approver {
            service,
            phone,
            user,
            site,
        }
    }

    fn login(&self) -> ApprovalLogin {
        ApprovalLogin::start(&self.service, self.user.name())
    }

    fn daemon(&self) -> &Daemon {
        &self.site.daemon
    }

    /// Audit events of `kind` about this user.
    fn audited(&self, kind: &str) -> Vec<Value> {
        self.daemon()
            .audit_events()
            .into_iter()
            .filter(|e| e["event"] == kind && e["user"] == self.user.name())
            .collect()
    }
}

/// Enroll an app for `user` first, so that codes work beside the passkey.
fn with_app(site: &WebSite, user: &TestUser) -> Authenticator {
    enroll_totp(&site.daemon, user).authenticator
}

/// Waits for pamtester's success line; the time it took, or `None` if the login ended
/// without it.
fn until_success(login: &ApprovalLogin, since: Instant) -> Option<Duration> {
    login.wait_for(PAMTESTER_SUCCESS).then(|| since.elapsed())
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

#[test]
fn a_sign_in_is_approved_on_the_phone_with_the_number_shown_at_the_prompt() {
    if !root_suite_ready() {
        return;
    }
    let mut a = Approver::new(WebSite::start("", ""));
    let mut login = a.login();
    let asked = login.choose_approval();
    let output = login.output();
    assert!(output.contains(APPROVE_ENTRY), "{output}");
    assert!(
        output.contains(&format!(
            "{APPROVAL_PROMPT}{:02}{APPROVAL_PROMPT_END}",
            asked.number
        )),
        "{output}"
    );
    let page_prefix = format!("{}{APPROVE_PATH}", a.site.origin());
    assert!(asked.link.starts_with(&page_prefix), "{asked:?}\n{output}");

    let shown = a.phone.open_approval(&asked.link);
    assert!(shown.details, "{shown:?}\n{}", a.site.logs());
    assert_eq!(shown.user, a.user.name(), "{shown:?}");
    assert_eq!(shown.service, a.service.name(), "{shown:?}");
    assert_eq!(shown.source, "local", "{shown:?}");
    assert!(!shown.host.is_empty(), "{shown:?}");
    let wanted = format!("{:02}", asked.number);
    assert_eq!(
        shown.choices.iter().filter(|c| **c == wanted).count(),
        1,
        "the number is one of the three choices: {shown:?}"
    );
    a.phone.screenshot(SUITE, "approval-page.png");

    let clicked = Instant::now();
    a.phone.pick(asked.number);
    let verdict = a.phone.verdict();
    let page_done = clicked.elapsed();
    assert_eq!(verdict.kind, "done", "{verdict:?}\n{}", a.site.logs());
    assert!(verdict.text.starts_with("Approved."), "{verdict:?}");
    a.phone.screenshot(SUITE, "approval-approved.png");

    let entered = Instant::now();
    login.send("");
    let to_success = until_success(&login, entered);
    let total = clicked.elapsed();
    let done = login.finish();
    assert!(done.succeeded(), "{done}\n{}", a.site.logs());
    assert!(to_success.is_some(), "{done}");
    eprintln!(
        "timing: click -> page approved {} ms; Enter -> PAM_SUCCESS {} ms; click -> PAM_SUCCESS \
         {} ms (with the test's own polling)",
        ms(page_done),
        ms(to_success.unwrap_or_default()),
        ms(total)
    );

    let success = a.daemon().auth_success();
    assert_eq!(success["user"], a.user.name(), "{success}");
    assert_eq!(success["factor"], "passkey", "{success}");
    assert_eq!(success["service"], a.service.name(), "{success}");
    assert_eq!(a.audited("approval_requested").len(), 1);
    assert!(a.audited("approval_refused").is_empty());
}

/// Enter before the page is used: the daemon waits up to 4 s for the verdict and answers as
/// soon as it comes, without asking again.
#[test]
fn enter_pressed_first_waits_for_the_phone_and_ends_when_it_approves() {
    if !root_suite_ready() {
        return;
    }
    let mut a = Approver::new(WebSite::start("", ""));
    let mut login = a.login();
    let asked = login.choose_approval();
    let shown = a.phone.open_approval(&asked.link);
    assert!(shown.details, "{shown:?}\n{}", a.site.logs());

    login.send("");
    let clicked = Instant::now();
    a.phone.pick(asked.number);
    let to_success = until_success(&login, clicked);
    let verdict = a.phone.verdict();
    let done = login.finish();
    assert_eq!(verdict.kind, "done", "{verdict:?}\n{}", a.site.logs());
    assert!(done.succeeded(), "{done}\n{}", a.site.logs());
    let to_success = to_success.expect("PAM_SUCCESS");
    eprintln!(
        "timing: click -> PAM_SUCCESS {} ms (Enter pressed before; includes the page's number \
         check, the WebAuthn ceremony and 10 ms polling)",
        ms(to_success)
    );
    assert_eq!(
        done.stderr.matches(APPROVAL_PROMPT).count(),
        1,
        "asked again although the approval came within the wait: {done}"
    );
    assert!(to_success < Duration::from_secs(4), "{to_success:?}");
}

#[test]
fn an_approval_through_sshd_shows_the_number_in_the_keyboard_interactive_prompt() {
    if !root_suite_ready() {
        return;
    }
    let mut a = Approver::new(WebSite::start("", ""));
    let sshd = Sshd::start(a.daemon(), "");
    sshd.authorize(&a.user);

    let mut ssh = sshd.start_login(a.user.name(), "127.0.0.1");
    assert!(ssh.wait_for_prompts(1), "{}", ssh.output());
    let first = ssh.prompts()[0].clone();
    assert!(first.contains(MENU_PROMPT), "{first:?}");
    ssh.answer("1");
    assert!(
        ssh.wait_for_prompts(2),
        "{}\n{}",
        ssh.output(),
        a.site.logs()
    );
    let prompt = ssh.prompts()[1].clone();
    let number = number_in(&prompt).unwrap_or_else(|| panic!("no number in {prompt:?}"));
    assert!(prompt.ends_with(APPROVAL_PROMPT_END), "{prompt:?}");
    let client_text = format!("{}\n{}", ssh.prompts().join("\n"), ssh.output());
    let link = link_in(&client_text).unwrap_or_else(|| panic!("no link in {client_text}"));

    let shown = a.phone.open_approval(&link);
    assert!(shown.details, "{shown:?}\n{}", a.site.logs());
    assert_eq!(shown.service, sshd.service(), "{shown:?}");
    assert_eq!(shown.source, "127.0.0.1", "{shown:?}");
    a.phone.pick(number);
    let verdict = a.phone.verdict();
    assert_eq!(verdict.kind, "done", "{verdict:?}\n{}", a.site.logs());
    ssh.answer("");
    let done = ssh.finish();
    assert!(
        done.run.succeeded(),
        "{}\nprompts: {:?}\n--- sshd ---\n{}\n{}",
        done.run,
        done.prompts,
        sshd.log(),
        a.site.logs()
    );
    let success = a.daemon().auth_success();
    assert_eq!(success["factor"], "passkey", "{success}");
    assert_eq!(success["service"], sshd.service(), "{success}");
}

#[test]
fn a_wrong_number_denies_the_sign_in() {
    if !root_suite_ready() {
        return;
    }
    let mut a = Approver::new(WebSite::start("", ""));
    let mut login = a.login();
    let asked = login.choose_approval();
    let shown = a.phone.open_approval(&asked.link);
    assert!(shown.details, "{shown:?}\n{}", a.site.logs());
    a.phone.pick_other_than(asked.number);
    let verdict = a.phone.verdict();
    assert_eq!(verdict.kind, "error", "{verdict:?}");
    assert!(verdict.text.starts_with("Wrong number"), "{verdict:?}");
    a.phone.screenshot(SUITE, "approval-wrong-number.png");

    login.send("");
    let done = login.finish();
    assert!(!done.succeeded(), "{done}");
    assert!(done.mentions(APPROVAL_DENIED), "{done}");
    let refused = a.audited("approval_refused");
    assert_eq!(refused.len(), 1, "{}", a.site.logs());
    assert_eq!(refused[0]["reason"], "wrong_number", "{}", refused[0]);
    assert!(a.audited("sign_in_succeeded").is_empty());
    // The request is over: the page cannot be used again.
    let again = a.phone.open_approval(&asked.link);
    assert!(again.refused(), "{again:?}");
}

#[test]
fn deny_and_this_wasnt_me_fail_the_login_and_not_me_quiets_notifications_while_approvals_and_codes_work()
 {
    if !root_suite_ready() {
        return;
    }
    let site = WebSite::start("", "");
    let user = TestUser::create();
    let app = with_app(&site, &user);
    let mut a = Approver::with_user(site, user);

    for not_me in [false, true] {
        let mut login = a.login();
        let asked = login.choose_approval();
        let shown = a.phone.open_approval(&asked.link);
        assert!(shown.details, "{shown:?}\n{}", a.site.logs());
        a.phone.click(if not_me { "#not-me" } else { "#deny" });
        let verdict = a.phone.verdict();
        assert_eq!(verdict.kind, "done", "{verdict:?}\n{}", a.site.logs());
        assert!(verdict.text.starts_with("Denied."), "{verdict:?}");
        login.send("");
        let done = login.finish();
        assert!(!done.succeeded(), "not_me={not_me}: {done}");
        assert!(done.mentions(APPROVAL_DENIED), "{done}");
    }
    let denied = a.audited("sign_in_denied_by_user");
    assert_eq!(denied.len(), 2, "{}", a.site.logs());
    assert!(
        denied[0].get("reason").is_none_or(Value::is_null),
        "{}",
        denied[0]
    );
    assert_eq!(denied[1]["reason"], "not_me", "{}", denied[1]);
    assert!(a.audited("sign_in_succeeded").is_empty());

    // Quiet: "This wasn't me" stops the notifications, not the approvals (whoever holds the
    // password sees an approval link at the prompt and could press it to shut the user out).
    // Choosing approval opens a request whose link the prompt shows, says notifications are
    // paused, and the page still approves; a code at that prompt works too.
    let mut login = a.login();
    let asked = login.choose_approval();
    assert!(login.output().contains("paused"), "{}", login.output());
    let shown = a.phone.open_approval(&asked.link);
    assert!(shown.details, "{shown:?}\n{}", a.site.logs());
    a.phone.pick(asked.number);
    let verdict = a.phone.verdict();
    assert_eq!(verdict.kind, "done", "{verdict:?}\n{}", a.site.logs());
    login.send("");
    let done = login.finish();
    assert!(done.succeeded(), "{done}\n{}", a.site.logs());
    let mut login = a.login();
    login.choose_approval();
    login.send(&app.next_code());
    let done = login.finish();
    assert!(done.succeeded(), "{done}\n{}", a.site.logs());
    let requested = a.audited("approval_requested");
    assert_eq!(requested.len(), 4, "{requested:#?}");
    for quiet in &requested[2..] {
        assert_eq!(quiet["reason"], "notifications_paused", "{quiet}");
        assert_eq!(quiet["outcome"], "ok", "{quiet}");
    }
    let factors: Vec<Value> = a
        .audited("sign_in_succeeded")
        .iter()
        .map(|e| e["factor"].clone())
        .collect();
    assert_eq!(factors, [json!("passkey"), json!("totp")], "{factors:?}");
}

#[test]
fn an_expired_request_brings_the_menu_back_and_its_page_is_no_longer_valid() {
    if !root_suite_ready() {
        return;
    }
    let mut a = Approver::new(WebSite::start_on_moving_clock("", ""));
    let mut login = a.login();
    let asked = login.choose_approval();
    let shown = a.phone.open_approval(&asked.link);
    assert!(shown.details, "{shown:?}\n{}", a.site.logs());

    a.daemon()
        .clock()
        .advance(APPROVAL_TIMEOUT + Duration::from_secs(1));
    // The page opened in time; the number comes too late.
    a.phone.pick(asked.number);
    let verdict = a.phone.verdict();
    assert_eq!(verdict.kind, "error", "{verdict:?}\n{}", a.site.logs());
    let reopened = a.phone.open_approval(&asked.link);
    assert!(reopened.refused(), "{reopened:?}\n{}", a.site.logs());
    assert!(reopened.status.contains("not valid"), "{reopened:?}");
    a.phone.screenshot(SUITE, "approval-expired.png");

    let entered = Instant::now();
    login.send("");
    let next = login.next_prompt();
    assert_eq!(next, Prompted::Menu, "{}", login.output());
    assert!(entered.elapsed() < ENTER_ANSWER_WAIT);
    assert!(
        login.output().contains(APPROVAL_EXPIRED),
        "{}",
        login.output()
    );
    let done = login.finish();
    assert!(!done.succeeded(), "{done}");
    assert!(a.audited("sign_in_succeeded").is_empty());
}

#[test]
fn another_users_passkey_cannot_approve_the_sign_in() {
    if !root_suite_ready() {
        return;
    }
    let a = Approver::new(WebSite::start("", ""));
    let other = TestUser::create();
    let mut other_phone = Phone::new();
    a.site.enroll_passkey(&mut other_phone, &other, "phone");

    let mut login = a.login();
    let asked = login.choose_approval();
    // The other user's phone, with only their passkey, opens the link; told to sign with
    // its own passkey instead of one of the user's, it does.
    let shown = other_phone.open_approval(&asked.link);
    assert!(shown.details, "{shown:?}\n{}", a.site.logs());
    other_phone.offer_own_credentials_next_time();
    other_phone.pick(asked.number);
    let verdict = other_phone.verdict();
    assert_eq!(verdict.kind, "error", "{verdict:?}\n{}", a.site.logs());

    login.send("");
    let done = login.finish();
    assert!(!done.succeeded(), "{done}\n{}", a.site.logs());
    let refused = a.audited("approval_refused");
    assert_eq!(refused.len(), 1, "{}", a.site.logs());
    assert_eq!(refused[0]["reason"], "not_verified", "{}", refused[0]);
    assert!(a.audited("sign_in_succeeded").is_empty());
}

/// The assertion a successful approval sent, captured on the page.
fn approve_capturing(a: &mut Approver) -> (Asked, Value) {
    let mut login = a.login();
    let asked = login.choose_approval();
    let shown = a.phone.open_approval(&asked.link);
    assert!(shown.details, "{shown:?}\n{}", a.site.logs());
    a.phone.intercept_finish(None);
    a.phone.pick(asked.number);
    let verdict = a.phone.verdict();
    assert_eq!(verdict.kind, "done", "{verdict:?}\n{}", a.site.logs());
    login.send("");
    let done = login.finish();
    assert!(done.succeeded(), "{done}\n{}", a.site.logs());
    let sent = a
        .phone
        .intercepted_finish()
        .expect("the page sent its assertion");
    assert!(
        sent["assertion"]["response"]["signature"].is_string(),
        "{sent}"
    );
    (asked, sent)
}

#[test]
fn a_replayed_assertion_is_refused_for_its_own_request_and_for_a_new_one() {
    if !root_suite_ready() {
        return;
    }
    let mut a = Approver::new(WebSite::start("", ""));
    let (first, sent) = approve_capturing(&mut a);
    let id = first.link.rsplit('/').next().unwrap_or_default().to_owned();

    // Again, for the request it approved: that request is over.
    let (status, answer) = a.phone.post(&format!("/api/approve/{id}/finish"), &sent);
    assert_eq!(status, 404, "{answer}\n{}", a.site.logs());
    assert_eq!(answer["error"], "not_found", "{answer}");

    // For a new request, after its number was matched: the challenge is another.
    let mut login = a.login();
    let asked = login.choose_approval();
    assert_ne!(asked.link, first.link);
    let shown = a.phone.open_approval(&asked.link);
    assert!(shown.details, "{shown:?}\n{}", a.site.logs());
    a.phone.intercept_finish(Some(&sent));
    a.phone.pick(asked.number);
    let verdict = a.phone.verdict();
    assert_eq!(verdict.kind, "error", "{verdict:?}\n{}", a.site.logs());
    login.send("");
    let done = login.finish();
    assert!(!done.succeeded(), "{done}\n{}", a.site.logs());
    assert!(done.mentions(APPROVAL_DENIED), "{done}");
    let refused = a.audited("approval_refused");
    assert_eq!(refused.len(), 1, "{}", a.site.logs());
    assert_eq!(refused[0]["reason"], "wrong_challenge", "{}", refused[0]);
    assert_eq!(a.audited("sign_in_succeeded").len(), 1);
}

#[test]
fn a_cloned_passkey_whose_counter_went_backwards_is_refused() {
    if !root_suite_ready() {
        return;
    }
    let mut a = Approver::new(WebSite::start("", ""));
    approve_capturing(&mut a);
    let counters: Vec<u64> = a
        .phone
        .credentials()
        .iter()
        .map(|c| c.sign_count())
        .collect();
    assert!(counters.iter().all(|&c| c >= 1), "{counters:?}");
    // The clone starts from zero: its next signature carries 1, not above what the daemon
    // saw last.
    a.phone.clone_credentials_with_sign_count(0);

    let mut login = a.login();
    let asked = login.choose_approval();
    let shown = a.phone.open_approval(&asked.link);
    assert!(shown.details, "{shown:?}\n{}", a.site.logs());
    a.phone.pick(asked.number);
    let verdict = a.phone.verdict();
    assert_eq!(verdict.kind, "error", "{verdict:?}\n{}", a.site.logs());
    login.send("");
    let done = login.finish();
    assert!(!done.succeeded(), "{done}\n{}", a.site.logs());
    let refused = a.audited("approval_refused");
    assert_eq!(refused.len(), 1, "{}", a.site.logs());
    assert_eq!(
        refused[0]["reason"], "sign_count_went_backwards",
        "{}",
        refused[0]
    );
    assert_eq!(a.audited("sign_in_succeeded").len(), 1);
}

#[test]
fn choosing_approval_pushes_the_link_host_and_service_to_the_subscribed_browser_and_no_code() {
    if !root_suite_ready() {
        return;
    }
    let keys = mfa_tests::ScratchDir::create();
    let push = PushStandin::start();
    let web_extra = web_push_settings(keys.path());
    let site = WebSite::start("", &web_extra);
    let user = TestUser::create();
    let app = with_app(&site, &user);
    let mut phone = Phone::new();
    let mut subscription = None;
    site.enroll_passkey_then(&mut phone, &user, "phone", |phone, token| {
        let key = phone.evaluate(
            "(async () => (await (await fetch('/api/push/key', {cache: 'no-store'})).json()).key)()",
        );
        let key = key.as_str().expect("a VAPID key from /api/push/key");
        let browser = push.subscribe(key);
        let body = json!({
            "link": token,
            "subscription": serde_json::from_str::<Value>(&browser.to_json()).expect("JSON"),
        });
        let (status, answer) = phone.post("/api/push/subscribe", &body);
        assert_eq!(status, 200, "{answer}");
        subscription = Some(browser);
    });
    let subscription = subscription.expect("subscribed on the enrollment page");
    let a = Approver {
        service: PamService::mfa(site.daemon.socket(), ""),
        phone,
        user,
        site,
    };

    let mut a = a;
    let mut login = a.login();
    let asked = login.choose_approval();
    let shown = a.phone.open_approval(&asked.link);
    assert!(shown.details, "{shown:?}\n{}", a.site.logs());
    let deadline = Instant::now() + Duration::from_secs(10);
    while push.messages(&subscription.id).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    login.send(&app.next_code());
    let done = login.finish();
    assert!(done.succeeded(), "{done}\n{}", a.site.logs());

    let messages = push.messages(&subscription.id);
    assert_eq!(
        messages.len(),
        1,
        "{:#?}\n{}",
        push.received(),
        a.site.logs()
    );
    let payload: Value = serde_json::from_slice(&messages[0]).expect("a JSON payload");
    let fields: Vec<&str> = payload
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(fields, ["body", "title", "url"], "{payload}");
    assert_eq!(payload["url"], asked.link.as_str(), "{payload}");
    let text = format!("{} {}", payload["title"], payload["body"]);
    assert!(
        text.contains(&shown.host),
        "no host {:?}: {payload}",
        shown.host
    );
    assert!(text.contains(a.service.name()), "{payload}");
    let number = format!("{:02}", asked.number);
    let words: Vec<&str> = text.split(|c: char| !c.is_ascii_alphanumeric()).collect();
    assert!(
        !words.contains(&number.as_str()),
        "the number is pushed: {payload}"
    );
    for code in app.codes_handed_out() {
        assert!(!text.contains(&code), "a code is pushed: {payload}");
    }
}

// Issue 16: "a text message or email with the link": the link also goes to the user's
// verified phones and addresses (policy.approval_channels), and policy.push = "auto".

const PHONE: &str = "+14155554567";
const EMAIL: &str = "approver@example.com";
/// How an approval link's text message or email begins.
const LINK_TEXT_START: &str = "Sign-in to ";

/// A site sending through the provider stand-ins with `policy` (the keys of `[policy]`), and
/// a user with a verified phone and address (added by root, the codes typed back) and a
/// passkey. Returns the approver and the codes the contacts were confirmed with.
fn approver_with_contacts(providers: &Providers, policy: &str) -> (Approver, Vec<String>) {
    let settings = format!("[policy]\n{policy}\n{}", providers.config());
    let site = WebSite::start(&settings, "");
    let user = TestUser::create();
    let phone = providers.add_phone(&site.daemon, user.name(), PHONE);
    let email = providers.add_email(&site.daemon, user.name(), EMAIL);
    let codes = [phone.code, email.code].into_iter().flatten().collect();
    (Approver::with_user(site, user), codes)
}

/// The oldest approval link texted to [`PHONE`] not read yet.
fn texted_link(providers: &Providers) -> String {
    providers
        .twilio
        .wait_for_where(PHONE, DELIVERY_WAIT, |m| {
            m.kind == Kind::Sms && m.body.starts_with(LINK_TEXT_START)
        })
        .body
}

/// The body of the oldest approval link mailed to [`EMAIL`] not read yet.
fn mailed_link(providers: &Providers) -> String {
    providers
        .smtp
        .wait_for_where(EMAIL, DELIVERY_WAIT, |m| {
            m.body().starts_with(LINK_TEXT_START)
        })
        .body()
}

/// Approval links that reached either stand-in so far.
fn links_delivered(providers: &Providers) -> usize {
    let texts = providers
        .twilio
        .messages_to(PHONE)
        .iter()
        .filter(|m| m.body.contains(APPROVE_PATH))
        .count();
    let mails = providers
        .smtp
        .messages_to(EMAIL)
        .iter()
        .filter(|m| m.body().contains(APPROVE_PATH))
        .count();
    texts + mails
}

/// Panics unless `message` names the host and service and carries neither the number to
/// match nor any of `codes`. The link itself (random) and the email's time line are left
/// out of the number check: their digits are not the daemon telling the number.
fn assert_tells_only_where(
    message: &str,
    asked: &Asked,
    host: &str,
    service: &str,
    codes: &[String],
) {
    assert!(message.contains(host), "no host {host:?}: {message:?}");
    assert!(message.contains(service), "no service: {message:?}");
    for code in codes {
        assert!(!message.contains(code.as_str()), "a code in {message:?}");
    }
    let told: String = message
        .replace(&asked.link, " ")
        .lines()
        .filter(|line| !line.starts_with("This notice is about"))
        .collect::<Vec<_>>()
        .join("\n");
    let number = format!("{:02}", asked.number);
    let words: Vec<&str> = told.split(|c: char| !c.is_ascii_alphanumeric()).collect();
    assert!(
        !words.contains(&number.as_str()) && !told.contains("number"),
        "the number {number} is told: {message:?}"
    );
}

#[test]
fn the_link_goes_by_text_and_email_and_the_texted_link_approves_the_sign_in() {
    if !root_suite_ready() {
        return;
    }
    let providers = Providers::start();
    let (mut a, codes) = approver_with_contacts(&providers, "");
    let mut login = a.login();
    let asked = login.choose_approval();

    let sms = texted_link(&providers);
    let mail = mailed_link(&providers);
    assert_eq!(
        link_in(&sms).as_deref(),
        Some(asked.link.as_str()),
        "{sms:?}"
    );
    assert_eq!(
        link_in(&mail).as_deref(),
        Some(asked.link.as_str()),
        "{mail:?}"
    );
    assert!(sms.contains(" from a local session: "), "{sms:?}");
    eprintln!("texted: {sms}\nmailed: {mail}");

    let shown = a.phone.open_approval(&link_in(&sms).unwrap_or_default());
    assert!(shown.details, "{shown:?}\n{}", a.site.logs());
    for message in [&sms, &mail] {
        assert_tells_only_where(message, &asked, &shown.host, a.service.name(), &codes);
    }
    a.phone.pick(asked.number);
    let verdict = a.phone.verdict();
    assert_eq!(verdict.kind, "done", "{verdict:?}\n{}", a.site.logs());
    login.send("");
    let done = login.finish();
    assert!(done.succeeded(), "{done}\n{}", a.site.logs());
    assert_eq!(a.daemon().auth_success()["factor"], "passkey");

    let sent = a.audited("approval_link_sent");
    let mut channels: Vec<&str> = sent.iter().filter_map(|e| e["channel"].as_str()).collect();
    channels.sort_unstable();
    assert_eq!(channels, ["email", "sms"], "{sent:#?}");
    assert!(sent.iter().all(|e| e["outcome"] == "ok"), "{sent:#?}");
    // The link is a bearer capability: neither the audit nor the daemon's log holds it.
    let id = asked.link.rsplit('/').next().unwrap_or_default();
    assert!(id.len() >= 16, "{asked:?}");
    let log = a.daemon().log();
    assert!(
        !log.contains(id),
        "the link's id is in the daemon's log:\n{log}"
    );
}

#[test]
fn approval_channels_push_alone_sends_no_text_and_no_email() {
    if !root_suite_ready() {
        return;
    }
    let providers = Providers::start();
    let (mut a, _) = approver_with_contacts(&providers, "approval_channels = [\"push\"]");
    let before = links_delivered(&providers);
    let mut login = a.login();
    let asked = login.choose_approval();
    let shown = a.phone.open_approval(&asked.link);
    assert!(shown.details, "{shown:?}\n{}", a.site.logs());
    a.phone.pick(asked.number);
    assert_eq!(a.phone.verdict().kind, "done", "{}", a.site.logs());
    login.send("");
    let done = login.finish();
    assert!(done.succeeded(), "{done}\n{}", a.site.logs());
    // The links go out in the background: give them as long as the other test's arrive in.
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        assert_eq!(links_delivered(&providers), before, "a link went out");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(a.audited("approval_link_sent").is_empty());
}

#[test]
fn approval_channels_email_alone_mails_the_link_and_texts_nothing() {
    if !root_suite_ready() {
        return;
    }
    let providers = Providers::start();
    let (mut a, codes) = approver_with_contacts(&providers, "approval_channels = [\"email\"]");
    let mut login = a.login();
    let asked = login.choose_approval();
    // The phone was added first, so a text would have left before the email did.
    let mail = mailed_link(&providers);
    assert_eq!(
        link_in(&mail).as_deref(),
        Some(asked.link.as_str()),
        "{mail:?}"
    );
    let texts = providers.twilio.messages_to(PHONE);
    assert!(
        texts.iter().all(|m| !m.body.contains(APPROVE_PATH)),
        "{texts:#?}"
    );
    let shown = a.phone.open_approval(&asked.link);
    assert_tells_only_where(&mail, &asked, &shown.host, a.service.name(), &codes);
    login.send("");
    login.finish();
    let sent = a.audited("approval_link_sent");
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0]["channel"], "email", "{}", sent[0]);
}

#[test]
fn push_auto_asks_for_approval_at_once_and_the_prompt_still_takes_a_code_instead() {
    if !root_suite_ready() {
        return;
    }
    let site = WebSite::start("[policy]\npush = \"auto\"\n", "");
    let user = TestUser::create();
    let app = with_app(&site, &user);
    let mut a = Approver::with_user(site, user);

    // Approved on the page: the first prompt already carried the number.
    let mut login = a.login();
    let asked = login.first_approval();
    assert!(!login.output().contains(MENU_PROMPT), "{}", login.output());
    let shown = a.phone.open_approval(&asked.link);
    assert!(shown.details, "{shown:?}\n{}", a.site.logs());
    a.phone.pick(asked.number);
    assert_eq!(a.phone.verdict().kind, "done", "{}", a.site.logs());
    login.send("");
    let done = login.finish();
    assert!(done.succeeded(), "{done}\n{}", a.site.logs());
    assert_eq!(a.daemon().auth_success()["factor"], "passkey");

    // A code typed at that prompt instead: logged in, and the request withdrawn.
    let mut login = a.login();
    let asked = login.first_approval();
    assert!(!login.output().contains(MENU_PROMPT), "{}", login.output());
    login.send(&app.next_code());
    let done = login.finish();
    assert!(done.succeeded(), "{done}\n{}", a.site.logs());
    let factors: Vec<Value> = a
        .audited("sign_in_succeeded")
        .iter()
        .map(|e| e["factor"].clone())
        .collect();
    assert_eq!(factors, ["passkey", "totp"], "{}", a.site.logs());
    let reopened = a.phone.open_approval(&asked.link);
    assert!(reopened.refused(), "{reopened:?}\n{}", a.site.logs());
    assert!(reopened.status.contains("not valid"), "{reopened:?}");
    assert_eq!(a.audited("approval_requested").len(), 2);
}

/// Issue 16, push bombing by text message: whoever holds the password can open approval
/// requests, and each one texts and mails the link. The approvals' hourly count
/// (`policy.max_pushes_per_hour`) lives in the daemon's memory, so a restart starts it afresh;
/// the links are also counted in the send book the store keeps, so after a restart the next
/// link to the same contacts within the hour is refused (the prompt still shows it).
#[test]
fn a_restart_gives_approval_links_no_fresh_hourly_budget() {
    if !root_suite_ready() {
        return;
    }
    let providers = Providers::start();
    let (mut a, _) = approver_with_contacts(&providers, "max_pushes_per_hour = 1");
    let mut login = a.login();
    let first = login.choose_approval();
    texted_link(&providers);
    mailed_link(&providers);
    login.finish();
    let delivered = links_delivered(&providers);
    assert_eq!(delivered, 2);

    a.site.daemon.stop();
    a.site.daemon.restart();
    let mut login = a.login();
    let second = login.choose_approval();
    assert_ne!(second.link, first.link, "a new request after the restart");
    let deadline = Instant::now() + DELIVERY_WAIT;
    let refused = loop {
        let refused: Vec<Value> = a
            .audited("approval_link_sent")
            .into_iter()
            .filter(|e| e["outcome"] == "refused")
            .collect();
        if refused.len() >= 2 || Instant::now() >= deadline {
            break refused;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    login.finish();
    assert_eq!(refused.len(), 2, "{refused:#?}\n{}", a.site.logs());
    assert!(
        refused.iter().all(|e| e["reason"] == "approval_link_limit"),
        "{refused:#?}"
    );
    assert_eq!(links_delivered(&providers), delivered);
}
