//! Writes the seed inputs of every fuzz target into `corpus/<target>/seed-*`:
//! `cargo run --manifest-path fuzz/Cargo.toml --example seeds`. Frames come from
//! `mfa_proto::encode`, so they are exactly what a peer sends.

use std::fs;
use std::path::Path;

use mfa_proto::{
    AuthRequest, BypassStatus, Channel, ContactKind, ContactStatus, FailureKind, LastSuccessStatus,
    Lockout, NewContact, Outcome, Request, Response, StatusReport, Step, TotpEnrollment,
    TotpStatus, TrustedDeviceStatus, encode,
};

/// Variant tags in the order `fuzz_targets/request.rs` picks them from its first byte
/// (`list_users` has no fields, so no tag).
const TAGS: [&str; 15] = [
    "authenticate",
    "answer",
    "enroll_totp",
    "confirm_totp",
    "new_recovery_codes",
    "remove_factors",
    "status",
    "unlock",
    "add_contact",
    "confirm_contact",
    "remove_contact",
    "forget_devices",
    "exempt",
    "remove_totp",
    "bypass",
];

fn main() -> std::io::Result<()> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let write = |target: &str, name: &str, bytes: &[u8]| -> std::io::Result<()> {
        let dir = corpus.join(target);
        fs::create_dir_all(&dir)?;
        fs::write(dir.join(format!("seed-{name}")), bytes)
    };

    for (name, request) in requests() {
        let frame = encode(&request).expect("a seed request encodes");
        write("frame", name, &frame)?;
        let Some(tag) = TAGS.iter().position(|t| *t == name) else {
            continue;
        };
        let body = std::str::from_utf8(&frame[mfa_proto::HEADER_LEN..]).expect("JSON is UTF-8");
        let inner = &body[r#"{"v":1,"msg":{""#.len() + name.len() + 2..body.len() - 2];
        let mut raw = vec![u8::try_from(2 * tag + 1).expect("few tags")];
        raw.extend_from_slice(inner.as_bytes());
        write("request", name, &raw)?;
    }
    write(
        "request",
        "built",
        &[0, 3, b'1', b'2', b'3', b'4', b'5', b'6'],
    )?;
    // serde also takes a struct as an array of its fields (found by the fuzzer).
    write("request", "status-as-array", b"\x0d[\"alice\"]")?;
    for (name, step) in steps() {
        write(
            "frame",
            &format!("step-{name}"),
            &encode(&step).expect("a seed step encodes"),
        )?;
    }
    for (name, response) in responses() {
        let frame = encode(&response).expect("a seed response encodes");
        write("frame", &format!("response-{name}"), &frame)?;
    }

    let packaged = include_str!("../../packaging/config.toml");
    write("config", "packaging", packaged.as_bytes())?;
    for (name, text) in CONFIGS {
        write("config", name, text.as_bytes())?;
    }

    for (name, text) in RECORDS {
        write("record", name, text.as_bytes())?;
    }

    for (name, text) in ANSWERS {
        write("answer", name, text.as_bytes())?;
    }

    for (name, bytes) in radius_packets() {
        write("radius_packet", name, &bytes)?;
    }
    Ok(())
}

fn requests() -> Vec<(&'static str, Request)> {
    vec![
        (
            "authenticate",
            Request::Authenticate {
                auth: AuthRequest {
                    user: "alice".into(),
                    service: "sshd".into(),
                    rhost: Some("192.0.2.7".into()),
                    tty: Some("ssh".into()),
                    ruser: None,
                    auth_info: Some("publickey ssh-ed25519 AAAA".into()),
                    nullok: true,
                },
            },
        ),
        (
            "answer",
            Request::Answer {
                text: "123456".into(),
            },
        ),
        (
            "enroll_totp",
            Request::EnrollTotp {
                user: "alice".into(),
                proof: Some("k7qm-x2pd-9rtw".into()),
                label: Some("phone2".into()),
            },
        ),
        (
            "confirm_totp",
            Request::ConfirmTotp {
                code: "654321".into(),
            },
        ),
        (
            "new_recovery_codes",
            Request::NewRecoveryCodes {
                user: "bob".into(),
                proof: None,
            },
        ),
        (
            "remove_factors",
            Request::RemoveFactors {
                user: "bob".into(),
                proof: Some("12345678".into()),
            },
        ),
        (
            "status",
            Request::Status {
                user: "carol".into(),
            },
        ),
        (
            "unlock",
            Request::Unlock {
                user: "carol".into(),
                source: Some("192.0.2.7".into()),
            },
        ),
        (
            "add_contact",
            Request::AddContact {
                user: "alice".into(),
                contact: NewContact::Phone {
                    number: "+15555550123".into(),
                    voice_only: false,
                    label: Some("work".into()),
                },
                proof: Some("123456".into()),
                unverified: false,
            },
        ),
        (
            "confirm_contact",
            Request::ConfirmContact {
                code: "482913".into(),
            },
        ),
        (
            "remove_contact",
            Request::RemoveContact {
                user: "alice".into(),
                kind: ContactKind::Email,
                which: "a•••@example.com".into(),
                proof: None,
            },
        ),
        (
            "forget_devices",
            Request::ForgetDevices {
                user: "alice".into(),
                proof: Some("123456".into()),
            },
        ),
        ("list_users", Request::ListUsers),
        (
            "exempt",
            Request::Exempt {
                user: "dave".into(),
                until: Some(1_700_086_400),
            },
        ),
        (
            "remove_totp",
            Request::RemoveTotp {
                user: "alice".into(),
                label: "phone2".into(),
                proof: Some("123456".into()),
            },
        ),
        (
            "bypass",
            Request::Bypass {
                user: "alice".into(),
                uses: 2,
                valid_secs: 14_400,
            },
        ),
    ]
}

fn steps() -> Vec<(&'static str, Step)> {
    vec![
        (
            "prompt",
            Step::Prompt {
                text: "Verification code: ".into(),
                echo: false,
            },
        ),
        (
            "info",
            Step::Info {
                text: "2 tries left".into(),
            },
        ),
        (
            "error",
            Step::Error {
                text: "Wrong code.".into(),
            },
        ),
        (
            "done",
            Step::Done {
                outcome: Outcome::LockedOut,
            },
        ),
        (
            "enroll-info",
            Step::Info {
                text: "Your account needs a second factor.\n\u{2588}\u{2580}\u{2584} \u{2584}\u{2588}\notpauth://totp/pam-mfa:alice?secret=JBSWY3DPEHPK3PXP&issuer=pam-mfa\nKey: JBSWY3DPEHPK3PXP".into(),
            },
        ),
        (
            "enroll-prompt",
            Step::Prompt {
                text: "Code from your app (or press Enter to skip: 3 days left): ".into(),
                echo: false,
            },
        ),
        (
            "skipped",
            Step::Done {
                outcome: Outcome::Ignore,
            },
        ),
        (
            "failed",
            Step::Failed {
                kind: FailureKind::BadRequest,
                message: "expected an answer".into(),
            },
        ),
    ]
}

fn responses() -> Vec<(&'static str, Response)> {
    vec![
        (
            "totp_enrollment",
            Response::TotpEnrollment(TotpEnrollment {
                otpauth_uri: "otpauth://totp/pam-mfa:alice?secret=JBSWY3DPEHPK3PXP&issuer=pam-mfa&algorithm=SHA1&digits=6&period=30".into(),
                secret: "JBSWY3DPEHPK3PXP".into(),
                algorithm: "SHA1".into(),
                digits: 6,
                period: 30,
            }),
        ),
        (
            "recovery_codes",
            Response::RecoveryCodes {
                codes: vec!["k7qm-x2pd-9rtw".into(), "2345-6789-abcd".into()],
            },
        ),
        ("status", Response::Status(full_status())),
        (
            "users",
            Response::Users(vec![
                full_status(),
                StatusReport {
                    user: "bob".into(),
                    authenticators: Vec::new(),
                    recovery_codes_left: 0,
                    lockouts: Vec::new(),
                    account_locked_until: None,
                    contacts: Vec::new(),
                    trusted_devices: Vec::new(),
                    passkeys: Vec::new(),
                    hotp: Vec::new(),
                    app_passwords: Vec::new(),
                    exempt_until: None,
                    last_success: None,
                    grace_until: Some(1_700_604_800),
                    bypass: None,
                },
            ]),
        ),
        (
            "code_sent",
            Response::CodeSent {
                channel: Channel::Sms,
                to: "+1 •••-•••-0123".into(),
            },
        ),
        (
            "contact_added",
            Response::ContactAdded(ContactStatus {
                kind: ContactKind::Email,
                label: "home".into(),
                masked: "a•••@example.com".into(),
                channels: vec![Channel::Email],
                verified: false,
                added_at: 1_700_000_000,
            }),
        ),
        (
            "bypass_code",
            Response::BypassCode {
                code: "1234-5678-9012".into(),
                uses: 1,
                expires_at: 1_700_014_400,
            },
        ),
        ("ok", Response::Ok { message: "removed".into() }),
        (
            "failed",
            Response::Failed {
                kind: FailureKind::ProofRequired,
                message: "give a current code".into(),
            },
        ),
        (
            "failed-policy",
            Response::Failed {
                kind: FailureKind::Policy,
                message: "policy.min_factors is 1".into(),
            },
        ),
    ]
}

/// A status with every field filled in.
fn full_status() -> StatusReport {
    let app = |label: &str, enrolled_at| TotpStatus {
        label: label.into(),
        algorithm: "SHA256".into(),
        digits: 8,
        period: 60,
        enrolled_at,
    };
    StatusReport {
        user: "alice".into(),
        authenticators: vec![app("app", 1_700_000_000), app("phone2", 1_700_000_100)],
        recovery_codes_left: 9,
        lockouts: vec![Lockout {
            source: "sshd:pts/1".into(),
            until: 1_700_000_600,
        }],
        account_locked_until: Some(1_700_000_900),
        contacts: vec![ContactStatus {
            kind: ContactKind::Phone,
            label: "work".into(),
            masked: "+1 •••-•••-0123".into(),
            channels: vec![Channel::Sms, Channel::Voice],
            verified: true,
            added_at: 1_700_000_200,
        }],
        trusted_devices: vec![TrustedDeviceStatus {
            key: Some("SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU".into()),
            source: "192.0.2.7".into(),
            service: "sshd".into(),
            since: 1_700_000_300,
            until: 1_700_086_700,
        }],
        passkeys: Vec::new(),
        hotp: Vec::new(),
        app_passwords: Vec::new(),
        exempt_until: Some(1_700_172_800),
        last_success: Some(LastSuccessStatus {
            at: 1_700_000_400,
            source: "192.0.2.7".into(),
            service: "sshd".into(),
            factor: "bypass_code".into(),
        }),
        grace_until: None,
        bypass: Some(BypassStatus {
            uses_left: 1,
            expires_at: 1_700_014_400,
        }),
    }
}

/// The configs of the tests in `mfa-daemon/src/config/tests/`: valid ones and each kind of error.
const CONFIGS: [(&str, &str); 13] = [
    ("empty", ""),
    (
        "full",
        r#"
socket = "/tmp/x.sock"
state_dir = "/tmp/state"
issuer = "Example Corp"
max_tries = 2
answer_timeout = "2m"
[totp]
algorithm = "SHA512"
digits = 8
period = 60
skew = 2
[limits]
max_failures = 3
failure_window = "10m"
lockout = "30s"
max_lockout = "2h"
account_max_failures = 9
"#,
    ),
    ("unknown-key", "issuer = \"x\"\n[totp]\ndigts = 6\n"),
    ("digits-range", "[totp]\ndigits = 9\n"),
    ("algorithm", "[totp]\nalgorithm = \"MD5\"\n"),
    ("duration", "[limits]\nlockout = \"soon\"\n"),
    ("type", "max_tries = \"three\"\n"),
    ("answer-timeout", "answer_timeout = \"2h\"\n"),
    (
        "limits",
        "[limits]\nlockout = \"2h\"\nmax_lockout = \"1h\"\n",
    ),
    (
        "dotted",
        "totp.skew = 11\nlimits = { max_failures = 10, account_max_failures = 5 }\n",
    ),
    (
        "policy-enroll",
        r#"
[policy]
unenrolled = "enroll"
grace_period = "7d"
min_factors = 2
max_authenticators = 3
[[policy.rule]]
groups = ["wheel"]
unenrolled = "deny"
"#,
    ),
    ("min-factors", "[policy]\nmin_factors = 0\n"),
    ("grace-period", "[policy]\ngrace_period = \"100d\"\n"),
];

/// Records as `mfa-daemon/src/store.rs` writes them: version 1 (bare hashes, counters),
/// version 2 (IDs and revision) and version 5 (labelled apps, grace start, last login,
/// bypass code).
const RECORDS: [(&str, &str); 5] = [
    ("v1-empty", r#"{"version":1}"#),
    (
        "v1-full",
        r#"{"version":1,"totp":{"params":{"algorithm":"SHA1","digits":6,"period":30},"secret":"A4DQOBYHA4DQOBYHA4DQOBYHA4DQOBYH","enrolled_at":1,"last_step":2},"recovery_codes":["$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"],"limits":{"sources":{"192.0.2.7":{"failures":[1700000000],"locked_until":1700000060,"rounds":1,"last_failure":1700000000}},"account":{"failures":[1700000000],"locked_until":0,"rounds":0,"last_failure":1700000000}}}"#,
    ),
    (
        "v2-full",
        r#"{"version":2,"revision":7,"totp":{"params":{"algorithm":"SHA512","digits":8,"period":60},"secret":"A4DQOBYHA4DQOBYHA4DQOBYHA4DQOBYH","enrolled_at":1700000000,"last_step":28333333},"recovery_codes":[{"id":"k7qm","hash":"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"},{"hash":"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"}]}"#,
    ),
    (
        "v5-full",
        r#"{"version":5,"revision":9,"totp":[{"label":"app","params":{"algorithm":"SHA1","digits":6,"period":30},"secret":"A4DQOBYHA4DQOBYHA4DQOBYHA4DQOBYH","enrolled_at":1700000000,"last_step":56666666},{"label":"phone2","params":{"algorithm":"SHA256","digits":8,"period":60},"secret":"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP","enrolled_at":1700000100,"last_step":0}],"recovery_codes":[{"id":"k7qm","hash":"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"}],"contacts":[],"trusted":[],"exempt_until":null,"first_seen":1699990000,"last_success":{"at":1700000400,"source":"192.0.2.7","service":"sshd","factor":"totp"},"bypass":{"hash":"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA","uses_left":2,"expires_at":1700014400,"issued_at":1700000000,"issued_by":0}}"#,
    ),
    (
        "v1-corrupt",
        r#"{"version":1,"recovery_codes":"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"}"#,
    ),
];

const ANSWERS: [(&str, &str); 10] = [
    ("totp-6", "123456"),
    ("totp-8", "12345678"),
    ("recovery-display", "K7QM-X2PD-9RTW"),
    ("recovery-spaced", " k7qm x2pd 9rtw "),
    ("recovery-bad-letter", "k7qm-x2pd-9rt0"),
    ("fullwidth-digits", "１２３４５６"),
    ("unicode-space", "k7qm\u{3000}x2pd\u{2003}9rtw"),
    ("bypass-display", "1234-5678-9012"),
    ("bypass-spaced", " 1234 5678 9012 "),
    ("bypass-without-0-or-1", "2345-6789-2345"),
];

/// Datagrams FreeRADIUS's radclient 3.2 sent (secret `xyzzy5461`, the fuzz target's), and
/// RFC 2865 §7.1's pair; then requests and a response of our own encoder.
fn radius_packets() -> Vec<(&'static str, Vec<u8>)> {
    use mfa_radius::packet::{
        Attribute, Code, Packet, attr, encode_request, encode_response, reply_messages,
    };
    const CAPTURED: [(&str, &str); 9] = [
        ("radclient-pap", "0191003efad27d1073784e0678ffa04aee3e332a01066e656d6f021286010712adeaafab60505888cde85a8650126453765c4ba2fb8c96b6930554722fb1"),
        ("radclient-proxy-state", "01e0006326fa786bb8551ad787b7f51e4ebef0730107616c6963650212cc389c788c04117441e12a801cce0cdf0406c000020a200676706e311f0e3139382e35312e3130302e3721056f6e65210574776f50127de3fcfe831743211cb652b5c812eedc"),
        ("radclient-state", "01730051ce31c9fbaa87867236dbd67790f7ca5e0107616c6963650212c98854e3553c36d6c0ba28bcfb80aeb318123031323334353637383961626364656650122203fead187727cc25d8b623897a9949"),
        ("radclient-128-byte-password", "01bc00ad96bcb73237a76b3cb52f204342e72e400105626f620282028306944c91a5c241cf810a2b9632c34101988b61c8c418fcb51eeb97c82dfa87b9e4660fd44c66ea4afeac61167aa1b4e6230ebe1cfbbfc6da08e41a81c2b349f51c5a0f862ace123c44184ea4f57aea2ad0333509ce8ad88727f01dce6d6970dc48944b3e3c398e5a9a51942b302dbbbc1bad31ad54be8b3f8c0640b217685012e4cec637afa611787398c0490d0356c9"),
        ("radclient-chap", "016d003eecd6499b9b57bc6d6b4369f737ef97670105626f620313878a5dd9239257c9182497b2eda12cc9ad5012ff926dee43afbf5997c436d9f8049a86"),
        ("radclient-status-server", "0c5c002669447c9c516936b89f2e802392f6c01350129e0e89233dcc3c73fb4c725f68167b2e"),
        ("radclient-no-message-authenticator", "0172002da7290fa6b47458d23c3c606b894c71bb01076361726f6c02122ff563f2cf1a305a5c3199160a1ac5ee"),
        ("rfc2865-request", "010000380f403f9473978057bd83d5cb98f4227a01066e656d6f02120dbe708d93d413ce3196e43f782a0aee0406c0a80110050600000003"),
        ("rfc2865-accept", "0200002686fe220e7624ba2a1005f6bf9b55e0b20606000000010f06000000000e06c0a80103"),
    ];
    let mut seeds: Vec<(&'static str, Vec<u8>)> = CAPTURED
        .iter()
        .map(|(name, hex)| {
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|at| u8::from_str_radix(&hex[at..at + 2], 16).expect("hex"))
                .collect();
            (*name, bytes)
        })
        .collect();
    let secret = b"xyzzy5461";
    let user = [Attribute::new(attr::USER_NAME, "alice")];
    let request = encode_request(7, [3; 16], Some(b"123456,sms"), &user, secret, true);
    let parsed = Packet::parse(&request).expect("our request parses");
    let mut challenge = reply_messages("1. app\n2. sms\nChoice:");
    challenge.push(Attribute::new(attr::STATE, [9; 16]));
    challenge.push(Attribute::new(attr::PROMPT, [0, 0, 0, 1]));
    let response = encode_response(Code::AccessChallenge, &parsed, &challenge, secret)
        .expect("a small response encodes");
    seeds.push(("encoded-request", request));
    seeds.push(("encoded-challenge", response));
    seeds.push((
        "encoded-empty-password",
        encode_request(8, [4; 16], Some(b""), &user, secret, false),
    ));
    seeds
}
