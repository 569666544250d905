//! The account page of mfa-web (`/`), end to end: headless Chromium, whose virtual
//! authenticator holds a passkey enrolled through the real `mfa-enroll passkey`, signs in
//! with it, sees the user's passkeys, trusted devices (made by a real pamtester login with
//! `policy.remember`) and notified browsers, and removes them; the daemon's record, audit
//! log and status follow. Then what must be refused: another user's passkey, a decoy
//! challenge for a name with no passkey (shaped like a real one), a session after sign-out,
//! and a removal below `policy.min_factors`.

use mfa_tests::approval::{ApprovalLogin, Phone, Prompted, WebSite, web_push_settings};
use mfa_tests::standins::PushStandin;
use mfa_tests::text::CODE_PROMPT;
use mfa_tests::{
    Authenticator, PamService, Pamtester, TestUser, enroll_totp, root_suite_ready, status,
};
use serde_json::{Value, json};

const SUITE: &str = "account_page";
/// The remote address of the login that makes a trusted device.
const DEVICE_ADDRESS: &str = "192.0.2.77";

/// Signs in on the account page as `user`; panics unless the account's lists show.
fn sign_in(site: &WebSite, phone: &mut Phone, user: &str) -> Value {
    phone.navigate(&format!("{}/", site.origin()));
    phone.wait("document.body.dataset.page === 'account'");
    let typed = phone.evaluate(&format!(
        "document.getElementById('account').value = {}; true",
        json!(user)
    ));
    assert_eq!(typed, Value::Bool(true));
    phone.click("#sign-in");
    phone.wait(
        "!document.getElementById('account-view').hidden \
         || document.getElementById('status').className === 'error'",
    );
    let status = phone.status();
    assert_eq!(status.kind, "done", "{status:?}\n{}", site.logs());
    lists(phone)
}

/// What the page lists now: the text of each entry of the three lists.
fn lists(phone: &mut Phone) -> Value {
    phone.evaluate(
        "(() => { const of = (id) => Array.from(document.querySelectorAll('#' + id + ' li')) \
         .map((li) => li.textContent); \
         return { passkeys: of('passkeys'), devices: of('devices'), browsers: of('browsers'), \
         session: document.getElementById('account-view').hidden ? null : 'open' }; })()",
    )
}

/// Clicks a remove button and waits for the page to say how it went.
fn remove(phone: &mut Phone, selector: &str) -> mfa_tests::approval::Status {
    phone.evaluate("document.getElementById('status').className = ''; true");
    phone.click(selector);
    phone.wait("['done', 'error'].includes(document.getElementById('status').className)");
    phone.status()
}

/// The session the page holds, read from its API by signing in again is not possible
/// from outside; the page's own calls carry it. This reads it from a fresh sign-in's
/// answer instead, through the page's origin.
fn api_sign_in(phone: &mut Phone, user: &str) -> (u16, Value) {
    let (status, challenge) = phone.post("/api/account/begin", &json!({ "user": user }));
    assert_eq!(status, 200, "{challenge}");
    let script = format!(
        "(async () => {{ const c = {challenge}; \
         const b = (t) => {{ const s = atob(t.replace(/-/g, '+').replace(/_/g, '/')); \
           return Uint8Array.from(s, (ch) => ch.charCodeAt(0)).buffer; }}; \
         const e = (buf) => buf === null ? null : btoa(String.fromCharCode(...new Uint8Array(buf))) \
           .replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, ''); \
         const pk = Object.assign({{}}, c.options.publicKey); \
         pk.challenge = b(pk.challenge); \
         pk.allowCredentials = (pk.allowCredentials || []).map((x) => Object.assign({{}}, x, {{ id: b(x.id) }})); \
         const cred = await navigator.credentials.get({{ publicKey: pk }}); \
         const assertion = {{ id: cred.id, rawId: e(cred.rawId), type: cred.type, extensions: {{}}, \
           response: {{ authenticatorData: e(cred.response.authenticatorData), \
             clientDataJSON: e(cred.response.clientDataJSON), signature: e(cred.response.signature), \
             userHandle: e(cred.response.userHandle) }} }}; \
         const r = await fetch('/api/account/finish', {{ method: 'POST', \
           headers: {{ 'Content-Type': 'application/json' }}, \
           body: JSON.stringify({{ token: c.token, assertion }}) }}); \
         return {{ status: r.status, json: await r.json() }}; }})()"
    );
    let value = phone.evaluate(&script);
    let status = value["status"].as_u64().unwrap_or_default();
    (
        u16::try_from(status).unwrap_or_default(),
        value["json"].clone(),
    )
}

/// A login from [`DEVICE_ADDRESS`] answered with a code at the menu, which makes that
/// address a trusted device under `policy.remember`.
fn trust_a_device(site: &WebSite, user: &TestUser, app: &Authenticator) {
    let service = PamService::mfa(site.daemon.socket(), "");
    let started = Pamtester::new(&service, user.name())
        .from_rhost(DEVICE_ADDRESS)
        .start_line_buffered();
    let mut login = ApprovalLogin::of(started);
    assert_eq!(login.next_prompt(), Prompted::Menu, "{}", login.output());
    login.send(&app.next_code());
    let login = login.finish();
    assert!(login.succeeded(), "{login}\n{}", site.logs());
    let report = status(&site.daemon, user.name());
    assert_eq!(report.trusted_devices.len(), 1, "{report:?}");
}

/// A site, a user, and a phone holding that user's passkey "phone".
fn site_with_passkey() -> (WebSite, TestUser, Phone) {
    let site = WebSite::start("", "");
    let user = TestUser::create();
    let mut phone = Phone::new();
    site.enroll_passkey(&mut phone, &user, "phone");
    (site, user, phone)
}

fn audited(site: &WebSite, user: &TestUser, kind: &str) -> Vec<Value> {
    site.daemon
        .audit_events()
        .into_iter()
        .filter(|e| e["event"] == kind && e["user"] == user.name())
        .collect()
}

#[test]
fn after_a_passkey_check_the_page_lists_and_removes_passkeys_devices_and_browsers() {
    if !root_suite_ready() {
        return;
    }
    let keys = mfa_tests::ScratchDir::create();
    let push = PushStandin::start();
    let web_extra = web_push_settings(keys.path());
    let site = WebSite::start("[policy]\nremember = \"1h\"\n", &web_extra);
    let user = TestUser::create();
    let app = enroll_totp(&site.daemon, &user).authenticator;
    let mut phone = Phone::new();
    site.enroll_passkey(&mut phone, &user, "phone");
    trust_a_device(&site, &user, &app);

    let shown = sign_in(&site, &mut phone, user.name());
    assert_eq!(
        shown["passkeys"].as_array().map(Vec::len),
        Some(1),
        "{shown}"
    );
    assert!(
        shown["passkeys"][0]
            .as_str()
            .unwrap_or_default()
            .starts_with("phone (")
    );
    let devices = shown["devices"].to_string();
    assert!(devices.contains(DEVICE_ADDRESS), "{shown}");
    assert_eq!(shown["browsers"], json!(["None."]), "{shown}");
    let signed_in = audited(&site, &user, "account_page_sign_in");
    assert_eq!(signed_in.len(), 1, "{signed_in:?}");
    assert_eq!(signed_in[0]["outcome"], "success", "{signed_in:?}");
    phone.screenshot(SUITE, "account.png");

    // The home-screen app subscribes from here: the session is what lets it.
    let (code, answer) = api_sign_in(&mut phone, user.name());
    assert_eq!(code, 200, "{answer}\n{}", site.logs());
    let session = answer["account"]["session"]
        .as_str()
        .expect("a session")
        .to_owned();
    let vapid = phone.evaluate(
        "(async () => (await (await fetch('/api/push/key', {cache: 'no-store'})).json()).key)()",
    );
    let browser = push.subscribe(vapid.as_str().expect("a VAPID key"));
    let subscription: Value = serde_json::from_str(&browser.to_json()).expect("JSON");
    let body = json!({ "link": session, "subscription": subscription });
    let (code, answer) = phone.post("/api/push/subscribe", &body);
    assert_eq!(code, 200, "{answer}\n{}", site.logs());
    let (code, answer) = phone.post("/api/account/show", &json!({ "session": session }));
    assert_eq!(code, 200, "{answer}");
    let browsers = answer["account"]["browsers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(browsers.len(), 1, "{answer}");
    assert!(
        !answer.to_string().contains(&browser.endpoint),
        "the page sees the push endpoint: {answer}"
    );

    // The page (signed in before the browser subscribed) shows it after a refresh of its
    // lists, which any removal brings; remove the device first.
    let removed = remove(&mut phone, "#devices button[data-kind='device']");
    assert_eq!(removed.kind, "done", "{removed:?}\n{}", site.logs());
    let now = lists(&mut phone);
    assert_eq!(now["devices"], json!(["None."]), "{now}");
    assert_eq!(now["browsers"].as_array().map(Vec::len), Some(1), "{now}");
    assert!(status(&site.daemon, user.name()).trusted_devices.is_empty());
    assert_eq!(audited(&site, &user, "devices_forgotten").len(), 1);

    let removed = remove(&mut phone, "#browsers button[data-kind='browser']");
    assert_eq!(removed.kind, "done", "{removed:?}\n{}", site.logs());
    assert_eq!(lists(&mut phone)["browsers"], json!(["None."]));
    let (_, answer) = phone.post("/api/account/show", &json!({ "session": session }));
    assert_eq!(answer["account"]["browsers"], json!([]), "{answer}");

    // Removing the passkey the sessions rest on ends them: the page's and the API's.
    let removed = remove(&mut phone, "#passkeys button[data-label='phone']");
    assert_eq!(removed.kind, "done", "{removed:?}\n{}", site.logs());
    assert!(removed.text.contains("signed out"), "{removed:?}");
    assert_eq!(lists(&mut phone)["session"], Value::Null);
    let (code, answer) = phone.post("/api/account/show", &json!({ "session": session }));
    assert_eq!(code, 404, "{answer}");
    assert!(status(&site.daemon, user.name()).passkeys.is_empty());
    let factor_removed = audited(&site, &user, "factor_removed");
    assert_eq!(factor_removed.len(), 1, "{factor_removed:?}");
    assert_eq!(factor_removed[0]["factor"], "passkey");
    assert_eq!(factor_removed[0]["service"], "mfa-web");

    // The TOTP app still works, asked again at the device whose trust was removed.
    let service = PamService::mfa(site.daemon.socket(), "");
    let login = Pamtester::new(&service, user.name())
        .from_rhost(DEVICE_ADDRESS)
        .authenticate(&[&app.next_code()]);
    assert!(login.succeeded(), "{login}");
    assert_eq!(login.count(CODE_PROMPT), 1, "{login}");
}

#[test]
fn a_name_without_a_passkey_gets_a_challenge_shaped_like_a_real_one_and_no_session() {
    if !root_suite_ready() {
        return;
    }
    let (site, user, mut phone) = site_with_passkey();
    let bare = TestUser::create();
    enroll_totp(&site.daemon, &bare);

    let begin = |phone: &mut Phone, name: &str| {
        let (code, answer) = phone.post("/api/account/begin", &json!({ "user": name }));
        assert_eq!(code, 200, "{name}: {answer}");
        answer
    };
    let shape = |answer: &Value| {
        let pk = &answer["options"]["publicKey"];
        let mut keys: Vec<String> = pk
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort();
        let allowed = pk["allowCredentials"].as_array().map(Vec::len);
        let id_len = pk["allowCredentials"][0]["id"].as_str().map(str::len);
        (
            keys,
            allowed,
            id_len,
            pk["rpId"].clone(),
            pk["timeout"].clone(),
        )
    };
    let real = begin(&mut phone, user.name());
    let unknown = begin(&mut phone, "no-such-account-on-this-host");
    let without = begin(&mut phone, bare.name());
    assert_eq!(shape(&real).0, shape(&unknown).0, "{real}\n{unknown}");
    assert_eq!(shape(&real).1, Some(1));
    assert_eq!(shape(&unknown).1, Some(1));
    assert_eq!(shape(&real).3, shape(&unknown).3);
    assert_eq!(shape(&real).4, shape(&without).4);
    assert_eq!(shape(&unknown).0, shape(&without).0);
    // Asked again, a decoy names the same credential, as a real account would.
    let again = begin(&mut phone, "no-such-account-on-this-host");
    assert_eq!(
        unknown["options"]["publicKey"]["allowCredentials"][0]["id"],
        again["options"]["publicKey"]["allowCredentials"][0]["id"]
    );

    // Answering a decoy with a real assertion of this phone (for another challenge) is
    // refused like any wrong signature, and no session opens.
    let (code, answer) = api_sign_in(&mut phone, user.name());
    assert_eq!(code, 200, "{answer}");
    let forged = json!({
        "token": unknown["token"],
        "assertion": {
            "id": "AAAA", "rawId": "AAAA", "type": "public-key", "extensions": {},
            "response": {"authenticatorData": "AAAA", "clientDataJSON": "AAAA", "signature": "AAAA", "userHandle": null}
        }
    });
    let (code, answer) = phone.post("/api/account/finish", &forged);
    assert_eq!(code, 403, "{answer}");
    assert_eq!(answer["error"], "not_verified", "{answer}");
    // The token was spent by that answer.
    let (code, _) = phone.post("/api/account/finish", &forged);
    assert_eq!(code, 404);
}

#[test]
fn another_users_passkey_cannot_open_the_account_page() {
    if !root_suite_ready() {
        return;
    }
    let site = WebSite::start("", "");
    let alice = TestUser::create();
    let mallory = TestUser::create();
    let mut alices = Phone::new();
    site.enroll_passkey(&mut alices, &alice, "phone");
    let mut mallorys = Phone::new();
    site.enroll_passkey(&mut mallorys, &mallory, "phone");

    // Mallory names Alice and signs with her own passkey instead of one Alice's challenge
    // lists.
    mallorys.navigate(&format!("{}/", site.origin()));
    mallorys.wait("document.body.dataset.page === 'account'");
    mallorys.offer_own_credentials_next_time();
    mallorys.evaluate(&format!(
        "document.getElementById('account').value = {}; true",
        json!(alice.name())
    ));
    mallorys.click("#sign-in");
    mallorys.wait("document.getElementById('status').className === 'error'");
    let shown = lists(&mut mallorys);
    assert_eq!(shown["session"], Value::Null, "{shown}");
    let refused = audited(&site, &alice, "account_page_sign_in");
    assert_eq!(refused.len(), 1, "{refused:?}\n{}", site.logs());
    assert_eq!(refused[0]["outcome"], "failure", "{refused:?}");
}

#[test]
fn the_last_factor_stays_and_a_signed_out_session_is_dead() {
    if !root_suite_ready() {
        return;
    }
    let (site, user, mut phone) = site_with_passkey();

    sign_in(&site, &mut phone, user.name());
    let refused = remove(&mut phone, "#passkeys button[data-label='phone']");
    assert_eq!(refused.kind, "error", "{refused:?}");
    assert!(
        refused.text.contains("factors you must keep"),
        "{refused:?}"
    );
    assert_eq!(status(&site.daemon, user.name()).passkeys.len(), 1);

    let (code, answer) = api_sign_in(&mut phone, user.name());
    assert_eq!(code, 200, "{answer}");
    let session = answer["account"]["session"]
        .as_str()
        .expect("a session")
        .to_owned();
    let (code, answer) = phone.post("/api/account/end", &json!({ "session": session }));
    assert_eq!(code, 200, "{answer}");
    for path in ["/api/account/show", "/api/account/end"] {
        let (code, answer) = phone.post(path, &json!({ "session": session }));
        let expected = if path.ends_with("end") { 200 } else { 404 };
        assert_eq!(code, expected, "{path}: {answer}");
    }
    let item = json!({ "passkey": { "label": "phone" } });
    let (code, answer) = phone.post(
        "/api/account/remove",
        &json!({ "session": session, "item": item }),
    );
    assert_eq!(code, 404, "{answer}");
    assert_eq!(status(&site.daemon, user.name()).passkeys.len(), 1);

    // Removed elsewhere (root, through mfa-enroll), the passkey takes its sessions along.
    let (code, answer) = api_sign_in(&mut phone, user.name());
    assert_eq!(code, 200, "{answer}");
    let session = answer["account"]["session"]
        .as_str()
        .expect("a session")
        .to_owned();
    let args = ["remove", "passkey", "phone", "--user", user.name()];
    let removed = mfa_tests::run(mfa_tests::mfa_enroll(&site.daemon, None, &args), "");
    assert!(removed.succeeded(), "{removed}\n{}", site.logs());
    let (code, answer) = phone.post("/api/account/show", &json!({ "session": session }));
    assert_eq!(code, 404, "{answer}");
}
