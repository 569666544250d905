//! Attacks on approval on the phone (issue 16): push bombing, mfa-web dying mid-approval,
//! a local account knocking on the daemon's web socket, and malformed frames on it. Each
//! test says how it would fail without the guard it checks.
//!
//! A local account is played by this test binary run again as a test account with only its
//! `#[ignore]`d helper selected (as in tests/adversarial.rs).

use std::io::{ErrorKind, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mfa_proto::web::{WebRequest, WebResponse, web_socket};
use mfa_proto::{FrameError, MAX_FRAME_LEN, encode, read_frame};
use mfa_tests::approval::{
    APPROVAL_EXPIRED, APPROVAL_UNAVAILABLE, ApprovalLogin, Phone, Prompted, WebSite,
};
use mfa_tests::{PamService, TestUser, enroll_totp, root_suite_ready, run, test_binary_as};
use serde_json::Value;

/// The daemon's default `[web] approval_timeout`.
const APPROVAL_TIMEOUT: Duration = Duration::from_secs(60);
/// The daemon's default `policy.max_pushes_per_hour`.
const MAX_PUSHES_PER_HOUR: usize = 5;
/// The helper test that connects to the web socket as whoever runs it.
const WEB_SOCKET_CLIENT: &str = "web_socket_client";
/// Where the helper connects.
const SOCKET_ENV: &str = "MFAT_WEB_SOCKET";
/// What the helper prints when the daemon answered it.
const ANSWERED: &str = "ANSWERED";
/// What the helper prints when the daemon closed without an answer.
const REFUSED: &str = "REFUSED";
/// How long a read on the web socket may wait.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A user with an app and a passkey on a phone, at a site; a PAM service of pam_mfa.so.
struct Target {
    service: PamService,
    phone: Phone,
    app: mfa_tests::Authenticator,
    user: TestUser,
    site: WebSite,
}

impl Target {
    fn new(site: WebSite) -> Target {
        let user = TestUser::create();
        let app = enroll_totp(&site.daemon, &user).authenticator;
        let mut phone = Phone::new();
        site.enroll_passkey(&mut phone, &user, "phone");
        Target {
            service: PamService::mfa(site.daemon.socket(), ""),
            phone,
            app,
            user,
            site,
        }
    }

    fn login(&self) -> ApprovalLogin {
        ApprovalLogin::start(&self.service, self.user.name())
    }

    fn audited(&self, kind: &str) -> Vec<Value> {
        self.site
            .daemon
            .audit_events()
            .into_iter()
            .filter(|e| e["event"] == kind && e["user"] == self.user.name())
            .collect()
    }
}

// Push bombing: an attacker with the password starts login after login choosing approval,
// hoping the user taps "approve" to make it stop. Without the per-user hourly cap every one
// of them would open a request (and push), the sixth too.
#[test]
fn push_bombing_the_sixth_request_in_an_hour_is_refused_and_codes_still_work() {
    if !root_suite_ready() {
        return;
    }
    let t = Target::new(WebSite::start("", ""));
    let mut links = Vec::new();
    for _ in 0..MAX_PUSHES_PER_HOUR {
        let mut login = t.login();
        links.push(login.choose_approval().link);
        // The attacker gives up on this one (closing the conversation) and starts the next.
        let done = login.finish();
        assert!(!done.succeeded(), "{done}");
    }
    links.dedup();
    assert_eq!(links.len(), MAX_PUSHES_PER_HOUR, "{links:?}");

    let mut login = t.login();
    login.at_menu("1");
    let next = login.next_prompt();
    assert_eq!(
        next,
        Prompted::Menu,
        "{}\n{}",
        login.output(),
        t.site.logs()
    );
    assert!(
        login.output().contains(APPROVAL_UNAVAILABLE),
        "{}",
        login.output()
    );
    // The user, at their own terminal, still gets in with a code.
    login.send(&t.app.next_code());
    let done = login.finish();
    assert!(done.succeeded(), "{done}\n{}", t.site.logs());

    let requested = t.audited("approval_requested");
    assert_eq!(requested.len(), MAX_PUSHES_PER_HOUR + 1, "{requested:#?}");
    assert_eq!(
        requested[MAX_PUSHES_PER_HOUR]["reason"], "too_many_approval_requests",
        "{requested:#?}"
    );
    assert_eq!(
        t.site.daemon.auth_success()["factor"],
        "totp",
        "{}",
        t.site.logs()
    );
}

// mfa-web dies (or is killed) while a sign-in waits for the phone. The login must not pass
// on the silence: Enter keeps asking until the request expires, then the menu comes back,
// a code still works, and the daemon is unaffected. A daemon that took a lost web peer for
// an approval, or failed with it, would fail here.
#[test]
fn mfa_web_killed_mid_approval_fails_closed_and_the_daemon_lives() {
    if !root_suite_ready() {
        return;
    }
    let mut t = Target::new(WebSite::start_on_moving_clock("", ""));
    let mut login = t.login();
    let asked = login.choose_approval();
    let shown = t.phone.open_approval(&asked.link);
    assert!(shown.details, "{shown:?}\n{}", t.site.logs());

    t.site.kill_web();
    t.phone.pick(asked.number);
    let verdict = t.phone.verdict();
    assert_eq!(verdict.kind, "error", "{verdict:?}");

    login.send("");
    let again = login.next_prompt();
    assert!(
        matches!(&again, Prompted::Approval(same) if same.number == asked.number),
        "{again:?}\n{}",
        login.output()
    );
    t.site
        .daemon
        .clock()
        .advance(APPROVAL_TIMEOUT + Duration::from_secs(1));
    login.send("");
    let next = login.next_prompt();
    assert_eq!(next, Prompted::Menu, "{}", login.output());
    assert!(
        login.output().contains(APPROVAL_EXPIRED),
        "{}",
        login.output()
    );
    login.send(&t.app.next_code());
    let done = login.finish();
    assert!(done.succeeded(), "{done}\n{}", t.site.logs());
    assert_eq!(t.site.daemon.auth_success()["factor"], "totp");
    assert!(t.audited("approval_refused").is_empty());
    assert!(t.site.daemon.is_running(), "{}", t.site.logs());
}

/// Runs the helper as `user` against `socket`; what it printed.
fn knock_as(user: &TestUser, socket: &Path) -> String {
    let mut helper = test_binary_as(user, WEB_SOCKET_CLIENT);
    helper.env(SOCKET_ENV, socket);
    let done = run(helper, "");
    format!("{}\n{}", done.stdout, done.stderr)
}

// A local account that is not `[web] user` connects to web.sock and asks as mfa-web would.
// The socket is 0666 (the peer's uid is what authorizes); without the uid check at accept
// the daemon would answer it, and anyone local could walk approval pages by id.
#[test]
fn a_local_account_that_is_not_mfa_web_is_refused_on_the_web_socket() {
    if !root_suite_ready() {
        return;
    }
    let site = WebSite::start("", "");
    let socket = web_socket(site.daemon.socket());
    let stranger = TestUser::create();

    let as_web = knock_as(site.web_user(), &socket);
    assert!(as_web.contains(ANSWERED), "mfa-web's own account: {as_web}");
    let as_stranger = knock_as(&stranger, &socket);
    assert!(as_stranger.contains(REFUSED), "{as_stranger}");
    assert!(!as_stranger.contains(ANSWERED), "{as_stranger}");
    assert!(
        site.daemon.log().contains(&format!(
            "refusing uid {} on the web socket",
            stranger.uid()
        )),
        "{}",
        site.logs()
    );
}

/// The helper: connects to `$MFAT_WEB_SOCKET`, asks for the push key, and prints whether an
/// answer came.
#[test]
#[ignore = "run by a_local_account_that_is_not_mfa_web_is_refused_on_the_web_socket"]
fn web_socket_client() {
    let Some(socket) = std::env::var_os(SOCKET_ENV) else {
        return;
    };
    match ask(Path::new(&socket), &WebRequest::PushKey) {
        Ok(answer) => println!("{ANSWERED}: {answer:?}"),
        Err(e) => println!("{REFUSED}: {e}"),
    }
}

/// One request on a new connection to the web socket, and its answer.
fn ask(socket: &Path, request: &WebRequest) -> Result<WebResponse, String> {
    let mut stream = connect(socket)?;
    let frame = encode(request).map_err(|e| e.to_string())?;
    stream.write_all(&frame).map_err(|e| e.to_string())?;
    read_frame::<_, WebResponse>(&mut stream).map_err(|e| e.to_string())
}

fn connect(socket: &Path) -> Result<UnixStream, String> {
    let stream = UnixStream::connect(socket).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .map_err(|e| e.to_string())?;
    Ok(stream)
}

/// Sends `bytes` raw on a new connection and reads what comes back: one answer, or the
/// daemon closing without one (`None`). Panics if neither comes within [`READ_TIMEOUT`].
fn send_raw(socket: &Path, bytes: &[u8], close_write: bool) -> Option<WebResponse> {
    let mut stream = connect(socket).unwrap_or_else(|e| panic!("{e}"));
    // The daemon may close as soon as it has read enough to refuse.
    let _ = stream.write_all(bytes);
    if close_write {
        let _ = stream.shutdown(std::net::Shutdown::Write);
    }
    match read_frame::<_, WebResponse>(&mut stream) {
        Ok(answer) => Some(answer),
        Err(FrameError::Closed) => None,
        Err(FrameError::Io(e))
            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
        {
            panic!("no answer and the connection still open after {READ_TIMEOUT:?}")
        }
        Err(e) => panic!("the daemon's answer is not a frame: {e}"),
    }
}

fn frame_of(json: &str) -> Vec<u8> {
    let len = u32::try_from(json.len()).expect("a short test frame");
    let mut bytes = len.to_be_bytes().to_vec();
    bytes.extend_from_slice(json.as_bytes());
    bytes
}

/// What goes wrong on the wire, one connection each.
fn malformed_frames() -> Vec<(&'static str, Vec<u8>, bool)> {
    let too_long = u32::try_from(MAX_FRAME_LEN + 1).expect("fits");
    let nested = format!(
        "{{\"v\":1,\"msg\":{{\"push_subscribe\":{{\"link\":\"x\",\"from\":\"a\",\
         \"subscription\":{}{}}}}}}}",
        "[".repeat(30_000),
        "]".repeat(30_000)
    );
    let long_id = format!(
        "{{\"v\":1,\"msg\":{{\"approval_open\":{{\"id\":\"{}\",\"from\":\"a\"}}}}}}",
        "A".repeat(MAX_FRAME_LEN - 100)
    );
    vec![
        (
            "a length over the limit",
            too_long.to_be_bytes().to_vec(),
            false,
        ),
        (
            "the largest length there is",
            u32::MAX.to_be_bytes().to_vec(),
            false,
        ),
        ("a zero length", 0u32.to_be_bytes().to_vec(), false),
        ("half a header", vec![0, 0], true),
        (
            "a body cut short",
            {
                let mut b = 100u32.to_be_bytes().to_vec();
                b.extend_from_slice(b"{\"v\":1");
                b
            },
            true,
        ),
        (
            "bytes that are not JSON",
            frame_of("\u{1}\u{2}not json at all\u{ff}"),
            false,
        ),
        (
            "invalid UTF-8",
            {
                let mut b = 4u32.to_be_bytes().to_vec();
                b.extend_from_slice(&[0xff, 0xfe, 0xfd, 0xfc]);
                b
            },
            false,
        ),
        (
            "another protocol version",
            frame_of("{\"v\":999,\"msg\":\"push_key\"}"),
            false,
        ),
        (
            "an unknown request",
            frame_of("{\"v\":1,\"msg\":{\"unlock_everything\":{}}}"),
            false,
        ),
        (
            "an unknown field",
            frame_of(
                "{\"v\":1,\"msg\":{\"approval_open\":{\"id\":\"x\",\"from\":\"a\",\"user\":\"root\"}}}",
            ),
            false,
        ),
        (
            "a number out of range",
            frame_of(
                "{\"v\":1,\"msg\":{\"approval_number\":{\"id\":\"AAAAAAAAAAAAAAAAAAAAAA\",\
             \"number\":100000,\"from\":\"a\"}}}",
            ),
            false,
        ),
        ("JSON nested 30,000 deep", frame_of(&nested), false),
        ("an id of 64 KiB", frame_of(&long_id), false),
        (
            "an assertion that is a string",
            frame_of(
                "{\"v\":1,\"msg\":{\"approval_finish\":{\"id\":\"AAAAAAAAAAAAAAAAAAAAAA\",\
             \"assertion\":\"x\",\"from\":\"a\"}}}",
            ),
            false,
        ),
        (
            "a request that is a request of the other socket",
            frame_of("{\"v\":1,\"msg\":\"list_users\"}"),
            false,
        ),
    ]
}

// Bytes on web.sock that are not a well-formed request, from mfa-web's own uid (root here,
// also trusted): each is refused on its connection, and the daemon keeps answering, and
// logging in. A parser that panicked, allocated what a header announced, or recursed without
// limit would take the daemon (and every login of the host) down.
#[test]
fn oversized_and_malformed_frames_on_the_web_socket_do_not_hurt_the_daemon() {
    if !root_suite_ready() {
        return;
    }
    let mut site = WebSite::start("", "");
    let socket: PathBuf = web_socket(site.daemon.socket());
    for (what, bytes, close_write) in malformed_frames() {
        if let Some(answer) = send_raw(&socket, &bytes, close_write) {
            assert!(
                matches!(answer, WebResponse::Failed { .. }),
                "{what}: {answer:?}"
            );
        }
        assert!(site.daemon.is_running(), "{what}:\n{}", site.logs());
        let answer = ask(&socket, &WebRequest::PushKey)
            .unwrap_or_else(|e| panic!("after {what}: {e}\n{}", site.logs()));
        assert!(
            matches!(answer, WebResponse::PushKey { .. }),
            "after {what}: {answer:?}"
        );
    }
    // And a login still gets through.
    let user = TestUser::create();
    let app = enroll_totp(&site.daemon, &user).authenticator;
    let service = PamService::mfa(site.daemon.socket(), "");
    let done = mfa_tests::Pamtester::new(&service, user.name()).authenticate(&[&app.next_code()]);
    assert!(done.succeeded(), "{done}\n{}", site.logs());
}
