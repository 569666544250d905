//! Writes the seed inputs of every fuzz target into `corpus/<target>/seed-*`:
//! `cargo run --manifest-path fuzz/Cargo.toml --example seeds`. Frames come from
//! `mfa_proto::encode`, so they are exactly what a peer sends.

use std::fs;
use std::path::Path;

use mfa_proto::{
    AuthRequest, FailureKind, Lockout, Outcome, Request, Response, StatusReport, Step,
    TotpEnrollment, TotpStatus, encode,
};

/// Variant tags in the order `fuzz_targets/request.rs` picks them from its first byte.
const TAGS: [&str; 8] = [
    "authenticate",
    "answer",
    "enroll_totp",
    "confirm_totp",
    "new_recovery_codes",
    "remove_factors",
    "status",
    "unlock",
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
        let tag = TAGS.iter().position(|t| *t == name).expect("a known tag");
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
        (
            "status",
            Response::Status(StatusReport {
                user: "alice".into(),
                totp: Some(TotpStatus {
                    algorithm: "SHA256".into(),
                    digits: 8,
                    period: 60,
                    enrolled_at: 1_700_000_000,
                }),
                recovery_codes_left: 9,
                lockouts: vec![Lockout {
                    source: "sshd:pts/1".into(),
                    until: 1_700_000_600,
                }],
                account_locked_until: None,
                trusted_devices: Vec::new(),
                exempt_until: None,
            }),
        ),
        ("ok", Response::Ok { message: "removed".into() }),
        (
            "failed",
            Response::Failed {
                kind: FailureKind::ProofRequired,
                message: "give a current code".into(),
            },
        ),
    ]
}

/// The configs of `mfa-daemon/src/config.rs`'s tests: valid ones and each kind of error.
const CONFIGS: [(&str, &str); 10] = [
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
];

/// Records as `mfa-daemon/src/store.rs` writes them: version 1 (bare hashes, counters) and
/// version 2 (IDs and revision).
const RECORDS: [(&str, &str); 4] = [
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
        "v1-corrupt",
        r#"{"version":1,"recovery_codes":"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"}"#,
    ),
];

const ANSWERS: [(&str, &str); 7] = [
    ("totp-6", "123456"),
    ("totp-8", "12345678"),
    ("recovery-display", "K7QM-X2PD-9RTW"),
    ("recovery-spaced", " k7qm x2pd 9rtw "),
    ("recovery-bad-letter", "k7qm-x2pd-9rt0"),
    ("fullwidth-digits", "１２３４５６"),
    ("unicode-space", "k7qm\u{3000}x2pd\u{2003}9rtw"),
];
