//! The browser driver itself (`mfa_tests::browser`): headless Chromium enrolls a passkey on a
//! virtual authenticator and signs in with it, on a page served from 127.0.0.1 and reached as
//! `http://localhost:PORT/` (a secure context, which WebAuthn requires).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use mfa_tests::browser::{AuthenticatorOptions, Browser, BrowserError, Page};
use mfa_tests::{root_suite_ready, suite_output_dir};
use serde_json::Value;

/// Enrolls with `navigator.credentials.create` (user verification required) when `#enroll` is
/// clicked, for the user name typed into `#name`; `signIn(uv)` signs in with
/// `navigator.credentials.get` and returns what the authenticator data says.
const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>passkey self-test</title></head>
<body>
<h1>passkey self-test</h1>
<input id="name" value="">
<button id="enroll" onclick="enroll()">Add a passkey</button>
<p id="status">ready</p>
<script>
const status = (text) => { document.getElementById("status").textContent = text; };
const random = () => crypto.getRandomValues(new Uint8Array(32));
async function enroll() {
  try {
    const name = document.getElementById("name").value;
    const credential = await navigator.credentials.create({ publicKey: {
      rp: { name: "mfa-tests" },
      user: { id: new TextEncoder().encode(name), name: name, displayName: name },
      challenge: random(),
      pubKeyCredParams: [{ type: "public-key", alg: -7 }],
      authenticatorSelection: { residentKey: "required", userVerification: "required" },
    }});
    window.credentialId = credential.rawId;
    status("enrolled " + name);
  } catch (e) {
    console.error("enroll: " + e);
    status("failed: " + e.name);
  }
}
async function signIn(userVerification) {
  const assertion = await navigator.credentials.get({ publicKey: {
    challenge: random(),
    allowCredentials: [{ type: "public-key", id: window.credentialId }],
    userVerification: userVerification,
  }});
  const data = new DataView(assertion.response.authenticatorData);
  return { userVerified: (data.getUint8(32) & 4) !== 0, signCount: data.getUint32(33) };
}
</script>
</body></html>
"#;

/// Serves [`PAGE`] at `/` (404 elsewhere) on a free port of 127.0.0.1, for the rest of the
/// test process. Returns the page's address.
fn serve_page() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("local address").port();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            answer(stream);
        }
    });
    format!("http://localhost:{port}/")
}

fn answer(mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut request = Vec::new();
    let mut chunk = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&chunk[..n]),
        }
    }
    let (status, body) = if request.starts_with(b"GET / ") {
        ("200 OK", PAGE)
    } else {
        ("404 Not Found", "not found\n")
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
}

fn launch() -> Browser {
    let started = Instant::now();
    let browser = Browser::launch().unwrap_or_else(|e| panic!("{e}"));
    eprintln!("chromium launched in {} ms", started.elapsed().as_millis());
    browser
}

/// A page of `browser` showing [`PAGE`], with a passkey enrolled for `alice` on a virtual
/// authenticator.
fn enrolled_page(browser: &mut Browser) -> (Page, mfa_tests::browser::AuthenticatorId) {
    let mut page = browser.new_page().unwrap_or_else(|e| panic!("{e}"));
    page.navigate(&serve_page())
        .unwrap_or_else(|e| panic!("{e}"));
    let authenticator = page
        .add_virtual_authenticator(AuthenticatorOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    page.type_into("#name", "alice")
        .unwrap_or_else(|e| panic!("{e}"));
    page.click("#enroll").unwrap_or_else(|e| panic!("{e}"));
    let done = "document.getElementById('status').textContent !== 'ready'";
    page.wait_for(done, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{:#?}", page.console()));
    let status = page.evaluate("document.getElementById('status').textContent");
    assert_eq!(
        status.as_ref().ok().and_then(Value::as_str),
        Some("enrolled alice"),
        "{status:?}\n{:#?}",
        page.console()
    );
    (page, authenticator)
}

fn sign_in(page: &mut Page, user_verification: &str) -> Result<Value, BrowserError> {
    page.evaluate(&format!("signIn({user_verification:?})"))
}

#[test]
fn a_virtual_authenticator_enrolls_a_passkey_and_signs_in() {
    if !root_suite_ready() {
        return;
    }
    let mut browser = launch();
    let (mut page, authenticator) = enrolled_page(&mut browser);

    let held = page.credentials(&authenticator).expect("credentials");
    assert_eq!(held.len(), 1, "{held:#?}");
    assert_eq!(held[0].rp_id(), Some("localhost"), "{held:#?}");
    let mut last_count = held[0].sign_count();
    for attempt in 1..=2 {
        let signed = sign_in(&mut page, "required")
            .unwrap_or_else(|e| panic!("sign-in {attempt}: {e}\n{:#?}", page.console()));
        assert_eq!(signed["userVerified"], true, "sign-in {attempt}: {signed}");
        let held = page.credentials(&authenticator).expect("credentials");
        let count = held[0].sign_count();
        assert!(
            count > last_count,
            "sign-in {attempt}: count {count} after {last_count}"
        );
        assert_eq!(signed["signCount"], count, "sign-in {attempt}: {signed}");
        last_count = count;
    }

    let path = suite_output_dir("browser").join("passkey-self-test.png");
    let _ = std::fs::remove_file(&path);
    page.screenshot(&path).unwrap_or_else(|e| panic!("{e}"));
    let png = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1000,
        "{} is not a PNG screenshot ({} bytes)",
        path.display(),
        png.len()
    );
}

/// What the cloned-key and user-verification tests of the passkey factor build on: a copy of
/// the credential put back with a lower counter signs with that counter, and an authenticator
/// whose user verification fails cannot answer a request that requires it.
#[test]
fn a_cloned_credential_signs_with_its_own_counter_and_verification_can_fail() {
    if !root_suite_ready() {
        return;
    }
    let mut browser = launch();
    let (mut page, authenticator) = enrolled_page(&mut browser);
    for _ in 0..3 {
        sign_in(&mut page, "required").unwrap_or_else(|e| panic!("{e}"));
    }
    let original = page.credentials(&authenticator).expect("credentials")[0].clone();
    assert!(original.sign_count() >= 3, "{original:?}");

    page.remove_credential(&authenticator, original.id())
        .expect("remove");
    assert!(
        page.credentials(&authenticator)
            .expect("credentials")
            .is_empty()
    );
    page.add_credential(&authenticator, &original.with_sign_count(1))
        .expect("add the clone");
    let signed = sign_in(&mut page, "required").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(signed["signCount"], 2, "{signed}");

    page.set_user_verified(&authenticator, false)
        .expect("user verification off");
    let refused = sign_in(&mut page, "required");
    assert!(
        matches!(&refused, Err(BrowserError::Script { message, .. }) if message.contains("NotAllowedError")),
        "{refused:?}"
    );
}

#[test]
fn a_throwing_script_is_an_error_naming_the_exception() {
    if !root_suite_ready() {
        return;
    }
    let mut browser = launch();
    let mut page = browser.new_page().unwrap_or_else(|e| panic!("{e}"));

    let thrown = page.evaluate("throw new RangeError('boom-4711')");
    assert!(
        matches!(&thrown, Err(BrowserError::Script { message, .. })
            if message.contains("RangeError") && message.contains("boom-4711")),
        "{thrown:?}"
    );
    let rejected = page.evaluate("Promise.reject(new TypeError('nope-42'))");
    assert!(
        matches!(&rejected, Err(BrowserError::Script { message, .. })
            if message.contains("TypeError") && message.contains("nope-42")),
        "{rejected:?}"
    );
    let awaited = page.evaluate("new Promise((done) => setTimeout(() => done(6 * 7), 10))");
    assert_eq!(awaited.ok(), Some(Value::from(42)));

    page.evaluate("console.warn('seen', 17); setTimeout(() => { throw new Error('late-9'); })")
        .unwrap_or_else(|e| panic!("{e}"));
    page.wait_for(
        "new Promise((done) => setTimeout(() => done(true), 50))",
        Duration::from_secs(5),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let never = page.wait_for("document.title === 'never'", Duration::from_millis(100));
    assert!(
        matches!(never, Err(BrowserError::Timeout { .. })),
        "{never:?}"
    );
    let missing = page.click("#nowhere");
    assert!(
        matches!(missing, Err(BrowserError::Element { .. })),
        "{missing:?}"
    );

    let console = page.console();
    assert!(
        console
            .iter()
            .any(|line| line == "console.warning: seen 17"),
        "{console:#?}"
    );
    assert!(
        console.iter().any(|line| line.contains("late-9")),
        "{console:#?}"
    );
}
