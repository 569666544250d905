//! Attacks on mfa-radius (issue 18): UDP floods from a known client over its rate and from an
//! address no client has, malformed and oversized packets, a challenge's State used by
//! another user or used twice, a client's secret from the wrong address, hundreds of open
//! challenges, and user names built to forge log lines. Each test says how it would fail
//! without the defence it checks. The attacker speaks through [`RadiusSocket`]
//! (`mfa_radius::packet`'s client side, raw bytes where a length must lie); the legitimate
//! logins beside it use radclient.
//!
//! Loopback has the whole 127.0.0.0/8, so the attackers sit on 127.0.0.2 and 127.0.0.3
//! while the legitimate client is 127.0.0.1.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use mfa_radius::packet::{Attribute, attr};
use mfa_tests::radius::{
    AccessRequest, MfaRadius, RadiusAnswer, RadiusClientSetup, RadiusCode, RadiusSetup,
    RadiusSocket,
};
use mfa_tests::{Daemon, Enrollment, TestUser, enroll_totp, is_sign_in, root_suite_ready};

const SETTINGS: &str =
    "max_tries = 1\n[limits]\nmax_failures = 1000\naccount_max_failures = 1000\n";
const LEGITIMATE: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const STRANGER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
/// How long a legitimate login may take while an attack runs: radclient's own timeout.
const LOGIN_DEADLINE: Duration = Duration::from_secs(3);

/// mfa-radius, the daemon, and an enrolled user logging in through client `vpn1`
/// (127.0.0.1). Fields drop in order: the server first.
struct Target {
    radius: MfaRadius,
    enrollment: Enrollment,
    user: TestUser,
    daemon: Daemon,
}

impl Target {
    /// `vpn1` on 127.0.0.1 plus `extra` clients.
    fn start(extra: Vec<RadiusClientSetup>) -> Target {
        let mut setup = RadiusSetup::new().client(RadiusClientSetup::new("vpn1", "127.0.0.1"));
        for client in extra {
            setup = setup.client(client);
        }
        let daemon = Daemon::start_with(&format!("{SETTINGS}\n{}", setup.settings()));
        let radius = MfaRadius::start(&daemon, setup);
        let user = TestUser::create();
        let enrollment = enroll_totp(&daemon, &user);
        Target {
            radius,
            enrollment,
            user,
            daemon,
        }
    }

    fn logs(&self) -> String {
        format!(
            "{}\n{}",
            self.radius.log_section(),
            self.daemon.log_section()
        )
    }

    /// The user logs in with a fresh code through radclient; asserts Accept within
    /// [`LOGIN_DEADLINE`] and returns how long it took.
    fn assert_login_works(&self) -> Duration {
        // The app may wait for the next time step; that is not the server's time.
        let code = self.enrollment.authenticator.next_code();
        let started = Instant::now();
        let answer = self
            .radius
            .radclient("vpn1")
            .send(&AccessRequest::new(self.user.name()).password(&code));
        let took = started.elapsed();
        assert_eq!(answer.code, RadiusCode::Accept, "{answer}\n{}", self.logs());
        assert!(took < LOGIN_DEADLINE, "the login took {took:?}");
        took
    }

    fn assert_running(&mut self) {
        assert!(
            self.radius.is_running(),
            "mfa-radius died:\n{}",
            self.radius.log_section()
        );
    }

    /// Sign-in events of anyone but the test user.
    fn other_sign_ins(&self) -> usize {
        self.daemon
            .audit_events()
            .iter()
            .filter(|e| is_sign_in(e) && e["user"] != self.user.name())
            .count()
    }

    /// Successful sign-ins of anyone but the test user.
    fn other_successes(&self) -> usize {
        self.daemon
            .audit_events()
            .iter()
            .filter(|e| e["event"] == "sign_in_succeeded" && e["user"] != self.user.name())
            .count()
    }
}

/// Sends `rate` valid-looking Access-Requests a second for `duration` from `socket` (unknown
/// user names, each with a fresh authenticator) and counts the datagrams that come back.
fn flood(socket: &RadiusSocket, rate: u32, duration: Duration) -> (usize, usize) {
    let stop = AtomicBool::new(false);
    let answers = AtomicUsize::new(0);
    let mut sent = 0;
    thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                if socket.receive(Duration::from_millis(100)).is_some() {
                    answers.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        let gap = Duration::from_secs(1) / rate;
        let started = Instant::now();
        while started.elapsed() < duration {
            let name = format!("flood{sent}");
            let request = socket.request((sent % 256) as u8, name.as_bytes(), Some(b"123456"), &[]);
            socket.send_raw(&request.bytes);
            sent += 1;
            thread::sleep(gap);
        }
        // Answers still on their way.
        thread::sleep(Duration::from_secs(1));
        stop.store(true, Ordering::Relaxed);
    });
    (sent, answers.load(Ordering::Relaxed))
}

/// A known client over its `requests_per_second` is cut to that rate, and another client's
/// login is not delayed. Without the per-client bucket every one of the ~1,200 requests
/// would reach the daemon and be answered (a Reject each), and the legitimate login would
/// queue behind them on two cores.
#[test]
fn a_flood_from_a_known_client_is_cut_to_its_rate() {
    if !root_suite_ready() {
        return;
    }
    let mut t = Target::start(vec![
        RadiusClientSetup::new("noisy", "127.0.0.2").requests_per_second(5),
    ]);
    let socket = RadiusSocket::bind(
        ATTACKER,
        t.radius.address(),
        t.radius.setup().client_setup("noisy").secret.as_bytes(),
    );
    let duration = Duration::from_secs(3);
    let (sent, answered) = thread::scope(|scope| {
        let flooding = scope.spawn(|| flood(&socket, 400, duration));
        thread::sleep(Duration::from_millis(500));
        let took = t.assert_login_works();
        println!("login during the flood took {took:?}");
        flooding.join().expect("flood thread")
    });
    println!("noisy client: {sent} requests sent, {answered} answered");
    // Burst 5, then 5 a second for the flood's seconds and the second after it, plus slack.
    let allowed = 5 + 5 * (duration.as_secs() as usize + 2) + 5;
    assert!(
        answered <= allowed,
        "{answered} of {sent} requests over the rate were answered (at most {allowed})\n{}",
        t.logs()
    );
    assert!(
        answered > 0,
        "nothing answered at all: the bucket is not a rate\n{}",
        t.logs()
    );
    t.assert_running();
    t.assert_login_works();
}

/// An address no client has gets no answer, mfa-radius keeps serving, and the drops are
/// logged a few times, not once per datagram. Without the throttle the log would take a
/// line for each of the ~900 datagrams (a disk and journal flood).
#[test]
fn a_flood_from_an_unknown_address_is_dropped_with_few_log_lines() {
    if !root_suite_ready() {
        return;
    }
    let mut t = Target::start(Vec::new());
    let socket = RadiusSocket::bind(
        STRANGER,
        t.radius.address(),
        t.radius.setup().client_setup("vpn1").secret.as_bytes(),
    );
    let (sent, answered) = thread::scope(|scope| {
        let flooding = scope.spawn(|| flood(&socket, 300, Duration::from_secs(3)));
        thread::sleep(Duration::from_millis(500));
        t.assert_login_works();
        flooding.join().expect("flood thread")
    });
    assert_eq!(answered, 0, "the unknown address got answers");
    let lines = t
        .radius
        .log()
        .lines()
        .filter(|line| line.contains("127.0.0.3"))
        .count();
    println!("unknown address: {sent} datagrams, {lines} log lines naming it");
    assert!(
        (1..=3).contains(&lines),
        "{lines} log lines for {sent} datagrams from 127.0.0.3 (want 1 to 3)\n{}",
        t.radius.log_section()
    );
    assert_eq!(t.other_sign_ins(), 0, "{}", t.logs());
    t.assert_running();
}

/// A valid Access-Request from `vpn1` for `user` carrying `attributes`, as bytes.
fn request_bytes(socket: &RadiusSocket, user: &[u8], attributes: &[Attribute]) -> Vec<u8> {
    socket.request(9, user, Some(b"123456"), attributes).bytes
}

/// Datagrams whose lengths lie, or that are too big, get no answer (or a Reject) and the
/// server lives. A parser that trusted the Length field or an attribute's length would
/// read past the datagram (a panic in safe Rust, which kills the server: every later login
/// would go unanswered, which the last login here checks).
#[test]
fn malformed_and_oversized_packets_get_no_answer_and_the_server_lives() {
    if !root_suite_ready() {
        return;
    }
    let mut t = Target::start(Vec::new());
    let socket = t.radius.socket("vpn1", LEGITIMATE);
    let good = request_bytes(&socket, b"nobody", &[]);
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();

    let mut length_too_big = good.clone();
    length_too_big[2..4].copy_from_slice(&((good.len() + 40) as u16).to_be_bytes());
    cases.push(("Length past the datagram", length_too_big));
    let mut length_too_small = good.clone();
    length_too_small[2..4].copy_from_slice(&10u16.to_be_bytes());
    cases.push(("Length under 20", length_too_small));
    let mut zero_attribute = good.clone();
    zero_attribute[21] = 0;
    cases.push(("an attribute of length 0", zero_attribute));
    let mut one_attribute = good.clone();
    one_attribute[21] = 1;
    cases.push(("an attribute of length 1", one_attribute));
    let mut past_end = good.clone();
    past_end[21] = 255;
    cases.push(("an attribute running past the end", past_end));
    cases.push(("a header alone, cut short", good[..12].to_vec()));
    cases.push(("an empty datagram", Vec::new()));

    let mut huge = vec![0u8; 5000];
    huge[..good.len()].copy_from_slice(&good);
    huge[2..4].copy_from_slice(&5000u16.to_be_bytes());
    cases.push(("a 5000-byte packet", huge));

    for (what, bytes) in &cases {
        socket.send_raw(bytes);
        let answer = socket.receive(Duration::from_millis(700));
        assert!(answer.is_none(), "{what}: answered\n{}", t.logs());
    }

    // Up to the 4096-byte limit, a well-formed request with a valid Message-Authenticator
    // is handled: no Accept for an unknown user, and anything but a crash.
    // 20 header + 18 Message-Authenticator + 18 password + 8 User-Name + 15 * 255 + 207.
    let mut filler: Vec<Attribute> = (0..15)
        .map(|_| Attribute {
            kind: attr::NAS_IDENTIFIER,
            value: vec![b'n'; 253],
        })
        .collect();
    filler.push(Attribute {
        kind: attr::NAS_IDENTIFIER,
        value: vec![b'n'; 205],
    });
    let full = socket.request(10, b"nobody", Some(b"123456"), &filler);
    assert_eq!(
        full.bytes.len(),
        4096,
        "premise: a packet of the largest size"
    );
    let answer = socket.exchange(&full);
    assert!(
        matches!(answer.code, RadiusCode::NoAnswer | RadiusCode::Reject),
        "a 4096-byte request: {answer}"
    );
    // A User-Name of 253 bytes and a 144-byte password (RFC 2865 allows 128 at most).
    let long_name = vec![b'a'; 253];
    let answer = socket.exchange(&socket.request(11, &long_name, Some(&[b'7'; 144]), &[]));
    assert!(
        matches!(answer.code, RadiusCode::NoAnswer | RadiusCode::Reject),
        "oversized attributes: {answer}"
    );
    t.assert_running();
    t.assert_login_works();
    assert_eq!(t.other_successes(), 0, "{}", t.logs());
}

/// The challenge a user gets, with an empty first field.
fn challenge_for(socket: &RadiusSocket, user: &str, id: u8) -> RadiusAnswer {
    let answer = socket.exchange(&socket.request(id, user.as_bytes(), Some(b""), &[]));
    assert_eq!(answer.code, RadiusCode::Challenge, "{answer}");
    answer
}

/// An answer with `state` for `user` carrying `field`.
fn answer_with_state(
    socket: &RadiusSocket,
    user: &str,
    state: &[u8],
    field: &str,
    id: u8,
) -> RadiusAnswer {
    socket.exchange(&socket.request(
        id,
        user.as_bytes(),
        Some(field.as_bytes()),
        &[Attribute {
            kind: attr::STATE,
            value: state.to_vec(),
        }],
    ))
}

/// Mallory answers Alice's challenge with Alice's State and Mallory's own right code. The
/// session belongs to another User-Name: Reject, and Alice's State still works. Without the
/// owner check, Mallory's code would complete ALICE's login (the daemon connection is
/// Alice's), an Accept for Alice from Mallory's code.
#[test]
fn a_state_from_another_users_challenge_is_rejected() {
    if !root_suite_ready() {
        return;
    }
    let t = Target::start(Vec::new());
    let mallory = TestUser::create();
    let mallory_app = enroll_totp(&t.daemon, &mallory);
    let socket = t.radius.socket("vpn1", LEGITIMATE);
    let challenge = challenge_for(&socket, t.user.name(), 1);
    let state = challenge.state.expect("a State");

    let stolen = answer_with_state(
        &socket,
        mallory.name(),
        &state,
        &mallory_app.authenticator.next_code(),
        2,
    );
    assert_eq!(stolen.code, RadiusCode::Reject, "{stolen}\n{}", t.logs());
    assert!(
        t.daemon.auth_outcomes(t.user.name()).is_empty(),
        "Mallory's answer reached Alice's login\n{}",
        t.logs()
    );
    let owner = answer_with_state(
        &socket,
        t.user.name(),
        &state,
        &t.enrollment.authenticator.next_code(),
        3,
    );
    assert_eq!(owner.code, RadiusCode::Accept, "{owner}\n{}", t.logs());
}

/// A State is single use: after it answered a challenge, the same State with the next
/// code is refused. Without it, a captured State would reopen a finished login.
#[test]
fn a_state_replayed_after_use_is_rejected() {
    if !root_suite_ready() {
        return;
    }
    let t = Target::start(Vec::new());
    let socket = t.radius.socket("vpn1", LEGITIMATE);
    let challenge = challenge_for(&socket, t.user.name(), 1);
    let state = challenge.state.expect("a State");
    let used = answer_with_state(
        &socket,
        t.user.name(),
        &state,
        &t.enrollment.authenticator.next_code(),
        2,
    );
    assert_eq!(used.code, RadiusCode::Accept, "{used}\n{}", t.logs());
    let replayed = answer_with_state(
        &socket,
        t.user.name(),
        &state,
        &t.enrollment.authenticator.next_code(),
        3,
    );
    assert_eq!(
        replayed.code,
        RadiusCode::Reject,
        "{replayed}\n{}",
        t.logs()
    );
    assert_eq!(t.daemon.auth_outcomes(t.user.name()), ["success"]);
}

/// vpn1's secret sent from an address that is not vpn1's: from another client's address
/// (whose secret differs) and from no client's. No answer, nothing reaches the daemon.
/// Without matching the client by source address first (say, trying every secret), a
/// leaked secret would work from anywhere.
#[test]
fn a_clients_secret_from_the_wrong_address_gets_no_answer() {
    if !root_suite_ready() {
        return;
    }
    let t = Target::start(vec![RadiusClientSetup::new("other", "127.0.0.2")]);
    let secret = t.radius.setup().client_setup("vpn1").secret.clone();
    // A right code, never checked, so both tries carry it (and the app need not wait).
    let code = t.enrollment.authenticator.next_code();
    for from in [ATTACKER, STRANGER] {
        let socket = RadiusSocket::bind(from, t.radius.address(), secret.as_bytes());
        let answer = socket.exchange(&socket.request(
            1,
            t.user.name().as_bytes(),
            Some(code.as_bytes()),
            &[],
        ));
        assert_eq!(answer.code, RadiusCode::NoAnswer, "from {from}: {answer}");
    }
    assert!(
        t.daemon.auth_outcomes(t.user.name()).is_empty(),
        "{}",
        t.logs()
    );
    t.assert_login_works();
}

/// 600 challenges for made-up names left open by one client: the server bounds the sessions
/// it keeps and still answers logins with the code in the first packet, from another client
/// and from this one. Each open challenge holds one of the daemon's 128 connections for
/// mfa-radius until it expires (180 s): without a bound under that share, one client's
/// empty fields lock every client out (seen: 128 challenges, then Access-Reject for a right
/// code from another client).
#[test]
fn hundreds_of_open_challenges_are_bounded() {
    if !root_suite_ready() {
        return;
    }
    let mut t = Target::start(vec![
        RadiusClientSetup::new("hoarder", "127.0.0.2").requests_per_second(10_000),
    ]);
    let socket = RadiusSocket::bind(
        ATTACKER,
        t.radius.address(),
        t.radius.setup().client_setup("hoarder").secret.as_bytes(),
    );
    let opened = 600;
    let mut challenges = 0;
    let mut other = 0;
    for n in 0..opened {
        let name = format!("hoard{n}");
        let answer =
            socket.exchange(&socket.request((n % 256) as u8, name.as_bytes(), Some(b""), &[]));
        match answer.code {
            RadiusCode::Challenge => challenges += 1,
            _ => other += 1,
        }
    }
    println!("{opened} empty requests: {challenges} challenges, {other} other answers");
    // Under the daemon's 128 connections for mfa-radius, with room for logins that carry
    // their code in the first packet.
    assert!(
        challenges < 128,
        "{challenges} of {opened} challenges were kept open\n{}",
        t.radius.log_section()
    );
    t.assert_running();
    t.assert_login_works();
    // The hoarding client's own users still log in with the code in the first packet.
    let own = socket.exchange(&socket.request(
        1,
        t.user.name().as_bytes(),
        Some(t.enrollment.authenticator.next_code().as_bytes()),
        &[],
    ));
    assert_eq!(own.code, RadiusCode::Accept, "{own}\n{}", t.logs());
}

/// User-Names that are not UTF-8 or hold control characters are refused, and one built to
/// look like a second log line does not make one. Without the check the newline would
/// reach the log (and the daemon's audit) as a forged line.
#[test]
fn user_names_with_control_characters_or_bad_utf8_are_refused() {
    if !root_suite_ready() {
        return;
    }
    let mut t = Target::start(Vec::new());
    let socket = t.radius.socket("vpn1", LEGITIMATE);
    let names: [&[u8]; 4] = [
        b"x\nmfa-radius: forged line",
        b"\xff\xfe\xfd",
        b"ali\x1b[31mce",
        b"bob\0",
    ];
    for (id, name) in names.iter().enumerate() {
        let answer = socket.exchange(&socket.request(id as u8, name, Some(b"123456"), &[]));
        assert!(
            matches!(answer.code, RadiusCode::Reject | RadiusCode::NoAnswer),
            "{name:?}: {answer}\n{}",
            t.logs()
        );
    }
    assert!(
        !t.radius
            .log()
            .lines()
            .any(|line| line.starts_with("mfa-radius: forged")),
        "a User-Name forged a log line:\n{}",
        t.radius.log_section()
    );
    assert_eq!(t.other_sign_ins(), 0, "{}", t.logs());
    t.assert_running();
    t.assert_login_works();
}
