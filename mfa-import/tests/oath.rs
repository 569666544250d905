//! pam_oath users files. `after_logins.oath` was written by hand and then rewritten by
//! pam_oath (libpam-oath 2.6.7) after one pamtester login per user with codes from
//! `oathtool`; `mixed.oath` was checked the same way (bob and dave logged in). Fake secrets.

mod common;

use mfa_import::oath::{self, OathKind};
use mfa_import::{Location, Problem};

const AFTER_LOGINS: &[u8] = include_bytes!("fixtures/oath/after_logins.oath");
const MIXED: &[u8] = include_bytes!("fixtures/oath/mixed.oath");

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn refused_line(line: &str) -> (Location, Problem) {
    let error = oath::parse(line.as_bytes()).expect_err("must be refused");
    (error.location, error.problem)
}

#[test]
fn lines_rewritten_by_pam_oath_after_a_login_are_read() {
    let file = oath::parse(AFTER_LOGINS).unwrap();
    assert!(file.refused.is_empty());
    let users: Vec<&str> = file.tokens.iter().map(|t| t.user.as_str()).collect();
    assert_eq!(users, ["root", "nobody", "daemon"]);

    let root = &file.tokens[0];
    assert_eq!(root.line, 2);
    assert_eq!(root.digits, 6);
    // pam_oath stored counter 1 and the code it accepted (019627): that code is HOTP(1), so
    // the next code the token gives is HOTP(2).
    assert_eq!(root.kind, OathKind::Hotp { next_counter: 2 });
    assert!(text(AFTER_LOGINS).contains("\t1\t019627\t"));
    assert_eq!(common::hotp(root.secret.expose(), 1, 6), "019627");
    assert_eq!(common::hotp(root.secret.expose(), 2, 6), "462926");
    assert_eq!(root.last_login.as_deref(), Some("2026-12-07T20:07:20L"));

    let nobody = &file.tokens[1];
    assert_eq!(
        (nobody.kind, nobody.digits),
        (OathKind::Totp { step: 30 }, 6)
    );
    assert_eq!(common::hotp(nobody.secret.expose(), 0, 6), "585901");

    let daemon = &file.tokens[2];
    assert_eq!(
        (daemon.kind, daemon.digits),
        (OathKind::Totp { step: 60 }, 8)
    );
    assert_eq!(daemon.secret.len(), 32);
    assert_eq!(common::hotp(daemon.secret.expose(), 0, 8), "63537294");
}

#[test]
fn every_token_type_comments_and_blank_lines() {
    let file = oath::parse(MIXED).unwrap();
    let tokens: Vec<(&str, usize, OathKind, u8)> = file
        .tokens
        .iter()
        .map(|t| (t.user.as_str(), t.line, t.kind, t.digits))
        .collect();
    assert_eq!(
        tokens,
        [
            ("alice", 2, OathKind::Hotp { next_counter: 0 }, 6),
            ("bob", 3, OathKind::Hotp { next_counter: 41 }, 8),
            ("carol", 5, OathKind::Totp { step: 30 }, 6),
            ("dave", 7, OathKind::Totp { step: 60 }, 7),
        ]
    );
    // Codes `oathtool` printed for these secrets.
    assert_eq!(common::hotp(file.tokens[0].secret.expose(), 0, 6), "695798");
    assert_eq!(
        common::hotp(file.tokens[1].secret.expose(), 41, 8),
        "28202739"
    );
    assert_eq!(common::hotp(file.tokens[2].secret.expose(), 0, 6), "445391");
    assert_eq!(
        common::hotp(file.tokens[3].secret.expose(), 0, 7),
        "9451841"
    );
    assert!(file.tokens.iter().all(|t| t.last_login.is_none()));
}

#[test]
fn a_user_with_a_pin_or_a_short_key_is_refused_by_name_and_the_rest_imported() {
    let file = oath::parse(MIXED).unwrap();
    let refused: Vec<(usize, &str, String)> = file
        .refused
        .iter()
        .map(|r| (r.line, r.user.as_str(), r.reason.to_string()))
        .collect();
    assert_eq!(
        refused,
        [
            (
                8,
                "erin",
                "user erin has a PIN; pam-mfa does not keep OATH PINs".to_owned()
            ),
            (
                9,
                "frank",
                "the secret is 5 bytes; from 10 to 32 bytes are accepted".to_owned()
            ),
            (
                10,
                "grace",
                "user grace has a PIN; pam-mfa does not keep OATH PINs".to_owned()
            ),
        ]
    );
    assert!(
        !format!("{:?}", file.refused).contains("1234"),
        "the PIN is not repeated"
    );
}

#[test]
fn malformed_lines_fail_the_file_naming_the_line() {
    let cases: [(&str, Problem); 7] = [
        (
            "TOTP alice - 3132333435363738393031323334353637383930",
            Problem::UnknownTokenType("TOTP".to_owned()),
        ),
        (
            "HOTP/T45 alice - 3132333435363738393031323334353637383930",
            Problem::UnknownTokenType("HOTP/T45".to_owned()),
        ),
        (
            "HOTP/6 alice - 3132333435363738393031323334353637383930",
            Problem::UnknownTokenType("HOTP/6".to_owned()),
        ),
        (
            "HOTP/E/9 alice - 3132333435363738393031323334353637383930",
            Problem::UnknownTokenType("HOTP/E/9".to_owned()),
        ),
        ("HOTP alice -", Problem::Missing("the secret".to_owned())),
        (
            "HOTP alice - 313233343536373839303132333435363738393g",
            Problem::SecretEncoding { encoding: "hex" },
        ),
        (
            "HOTP alice - 313233343536373839303132333435363738393",
            Problem::SecretEncoding { encoding: "hex" },
        ),
    ];
    for (line, problem) in cases {
        let input = format!("# header\n{line}\n");
        assert_eq!(refused_line(&input), (Location::Line(2), problem), "{line}");
    }
    let (location, problem) =
        refused_line("HOTP alice - 3132333435363738393031323334353637383930 -5");
    assert_eq!(location, Location::Line(1));
    assert!(matches!(problem, Problem::BadValue { field, .. } if field == "the counter"));
    let (_, problem) =
        refused_line("HOTP alice - 3132333435363738393031323334353637383930 1 123456 yesterday");
    assert!(matches!(problem, Problem::BadValue { field, .. } if field == "the time"));
}

#[test]
fn errors_and_debug_never_show_a_secret() {
    let line = "HOTP alice - 3132333435363738393031323334353637383930 x";
    let error = oath::parse(line.as_bytes()).unwrap_err();
    assert!(!error.to_string().contains("31323334"), "{error}");
    let file = oath::parse(AFTER_LOGINS).unwrap();
    let debug = format!("{file:?}");
    assert!(!debug.contains("fa9e54f5"), "{debug}");
    assert!(
        !debug.contains("019627"),
        "the last code is not kept: {debug}"
    );
}

#[test]
fn oversized_input_is_refused() {
    let huge = vec![b'#'; oath::MAX_SIZE + 1];
    let error = oath::parse(&huge).unwrap_err();
    assert!(matches!(error.problem, Problem::TooLarge { .. }));
}
