//! `~/.google_authenticator` files written by Debian's `google-authenticator` tool
//! (libpam-google-authenticator 20191231) and then updated by `pam_google_authenticator.so`
//! after one login through pamtester. Secrets and scratch codes are fake, made for these tests.

mod common;

use mfa_import::google_authenticator::{self, OtpKind, RateLimit};
use mfa_import::{Location, Problem};

const TOTP_RATE_LIMITED: &[u8] = include_bytes!("fixtures/google_authenticator/totp_rate_limited");
const TOTP_AFTER_LOGIN: &[u8] = include_bytes!("fixtures/google_authenticator/totp_after_login");
const TOTP_STEP60: &[u8] = include_bytes!("fixtures/google_authenticator/totp_step60_window17");
const TOTP_NO_SCRATCH: &[u8] = include_bytes!("fixtures/google_authenticator/totp_no_scratch");
const HOTP: &[u8] = include_bytes!("fixtures/google_authenticator/hotp");
const HOTP_AFTER_LOGIN: &[u8] = include_bytes!("fixtures/google_authenticator/hotp_after_login");
const HOTP_TEN_SCRATCH: &[u8] = include_bytes!("fixtures/google_authenticator/hotp_ten_scratch");

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn problem_at(input: &str) -> (Location, Problem) {
    let error = google_authenticator::parse(input.as_bytes()).expect_err("must be refused");
    (error.location, error.problem)
}

#[test]
fn totp_file_from_the_tool_keeps_step_window_reuse_rate_limit_and_scratch_codes() {
    // Written by: google-authenticator -t -d -r 3 -R 30 -w 3 -C -f -Q NONE -s FILE
    let file = google_authenticator::parse(TOTP_RATE_LIMITED).unwrap();
    assert_eq!(
        file.kind,
        OtpKind::Totp {
            step: 30,
            window: 3
        }
    );
    assert!(file.disallow_reuse);
    assert_eq!(
        file.rate_limit,
        Some(RateLimit {
            attempts: 3,
            seconds: 30
        })
    );
    let codes: Vec<&str> = file.scratch_codes.iter().map(|c| c.expose()).collect();
    assert_eq!(
        codes,
        ["62918870", "99652593", "83166172", "48084819", "24022921"]
    );
    assert_eq!(file.secret.len(), 16);
    // `oathtool -c 1 -b JDOYWRAQQKLZ5NAPM6PX2ARF2E` printed 931372.
    assert_eq!(common::hotp(file.secret.expose(), 1, 6), "931372");
}

#[test]
fn the_modules_own_state_after_a_login_is_read_past() {
    // After one login the module appended a login time to RATE_LIMIT and a used time step to
    // DISALLOW_REUSE; the enrolment itself is unchanged.
    assert!(text(TOTP_AFTER_LOGIN).contains("\" DISALLOW_REUSE 5"));
    let before = google_authenticator::parse(TOTP_RATE_LIMITED).unwrap();
    let after = google_authenticator::parse(TOTP_AFTER_LOGIN).unwrap();
    assert_eq!(before, after);
}

#[test]
fn step_size_and_window_size_are_kept() {
    // -t -D -S 60 -w 17 -e 2 -u
    let file = google_authenticator::parse(TOTP_STEP60).unwrap();
    assert_eq!(
        file.kind,
        OtpKind::Totp {
            step: 60,
            window: 17
        }
    );
    assert!(!file.disallow_reuse);
    assert_eq!(file.rate_limit, None);
    assert_eq!(file.scratch_codes.len(), 2);
    assert_eq!(common::hotp(file.secret.expose(), 2, 6), "243222");
}

#[test]
fn a_file_without_scratch_codes_is_read() {
    let file = google_authenticator::parse(TOTP_NO_SCRATCH).unwrap();
    assert!(file.scratch_codes.is_empty());
    assert!(file.disallow_reuse);
    assert_eq!(common::hotp(file.secret.expose(), 1, 6), "706719");
}

#[test]
fn counter_based_file_gives_the_next_counter() {
    // -c -w 5 -u: the tool sets HOTP_COUNTER 1, the counter the token produces next.
    let file = google_authenticator::parse(HOTP).unwrap();
    assert_eq!(
        file.kind,
        OtpKind::Hotp {
            counter: 1,
            window: 5
        }
    );
    assert_eq!(common::hotp(file.secret.expose(), 1, 6), "635783");
    // After a login with code 1 the module wrote HOTP_COUNTER 2.
    let after = google_authenticator::parse(HOTP_AFTER_LOGIN).unwrap();
    assert_eq!(
        after.kind,
        OtpKind::Hotp {
            counter: 2,
            window: 5
        }
    );
    assert_eq!(after.secret, file.secret);
}

#[test]
fn counter_based_file_with_rate_limit_and_ten_scratch_codes() {
    // -c -r 5 -R 60 -e 10 -W
    let file = google_authenticator::parse(HOTP_TEN_SCRATCH).unwrap();
    assert_eq!(
        file.kind,
        OtpKind::Hotp {
            counter: 1,
            window: 1
        }
    );
    assert_eq!(
        file.rate_limit,
        Some(RateLimit {
            attempts: 5,
            seconds: 60
        })
    );
    assert_eq!(file.scratch_codes.len(), 10);
    assert_eq!(common::hotp(file.secret.expose(), 2, 6), "355585");
}

#[test]
fn debug_output_never_shows_the_secret_or_scratch_codes() {
    let file = google_authenticator::parse(TOTP_RATE_LIMITED).unwrap();
    let debug = format!("{file:?}");
    assert!(!debug.contains("JDOYWRAQQKLZ5NAPM6PX2ARF2E"), "{debug}");
    assert!(!debug.contains("62918870"), "{debug}");
    let hex = data_encoding::HEXLOWER.encode(file.secret.expose());
    assert!(!debug.to_lowercase().contains(&hex), "{debug}");
    let bytes = format!("{:?}", file.secret.expose());
    assert!(!debug.contains(&bytes), "{debug}");
    assert!(debug.contains("Secret(16 bytes)"), "{debug}");
}

#[test]
fn a_bad_option_value_names_its_line_and_option() {
    let input = text(TOTP_RATE_LIMITED).replace("WINDOW_SIZE 3", "WINDOW_SIZE 0");
    let error = google_authenticator::parse(input.as_bytes()).unwrap_err();
    assert_eq!(error.location, Location::Line(3));
    assert_eq!(
        error.to_string(),
        "line 3: WINDOW_SIZE must be a whole number from 1 to 100, not \"0\""
    );
    let input = text(TOTP_STEP60).replace("STEP_SIZE 60", "STEP_SIZE sixty");
    assert!(matches!(
        problem_at(&input),
        (Location::Line(3), Problem::BadValue { field, .. }) if field == "STEP_SIZE"
    ));
    let input = text(TOTP_RATE_LIMITED).replace("RATE_LIMIT 3 30", "RATE_LIMIT 3");
    assert!(matches!(
        problem_at(&input),
        (Location::Line(2), Problem::Missing(_))
    ));
}

#[test]
fn unknown_repeated_and_conflicting_options_are_refused() {
    let input = text(TOTP_NO_SCRATCH).replace("\" TOTP_AUTH", "\" TOTP_AUTH\n\" NO_SUCH_OPTION 1");
    assert_eq!(
        problem_at(&input),
        (
            Location::Line(5),
            Problem::UnknownOption("NO_SUCH_OPTION".to_owned())
        )
    );
    let input = text(TOTP_NO_SCRATCH).replace("\" TOTP_AUTH", "\" TOTP_AUTH\n\" TOTP_AUTH");
    assert_eq!(
        problem_at(&input),
        (Location::Line(5), Problem::Repeated("TOTP_AUTH".to_owned()))
    );
    let input = text(HOTP).replace("\" HOTP_COUNTER 1", "\" HOTP_COUNTER 1\n\" TOTP_AUTH");
    assert_eq!(problem_at(&input), (Location::Input, Problem::TotpAndHotp));
    let input = text(TOTP_NO_SCRATCH).replace("\" TOTP_AUTH\n", "");
    assert!(matches!(
        problem_at(&input),
        (Location::Input, Problem::Missing(_))
    ));
}

#[test]
fn a_mistyped_scratch_code_names_its_line_without_quoting_it() {
    let input = text(TOTP_RATE_LIMITED).replace("48084819", "4808481");
    let error = google_authenticator::parse(input.as_bytes()).unwrap_err();
    assert_eq!(error.location, Location::Line(9));
    assert_eq!(error.problem, Problem::NotAnOptionOrScratchCode);
    assert!(!error.to_string().contains("4808481"));
}

#[test]
fn a_bad_secret_is_refused_on_line_1_without_quoting_it() {
    let input =
        text(TOTP_RATE_LIMITED).replace("JDOYWRAQQKLZ5NAPM6PX2ARF2E", "JDOYWRAQQKLZ5NAPM6PX2ARF21");
    let error = google_authenticator::parse(input.as_bytes()).unwrap_err();
    assert_eq!(error.location, Location::Line(1));
    assert_eq!(
        error.problem,
        Problem::SecretEncoding { encoding: "base32" }
    );
    assert!(!error.to_string().contains("JDOYWRAQ"));
    // 5 bytes: a key anyone could guess.
    let input = text(TOTP_RATE_LIMITED).replace("JDOYWRAQQKLZ5NAPM6PX2ARF2E", "JDOYWRAQ");
    assert!(matches!(
        problem_at(&input),
        (Location::Line(1), Problem::SecretLength { bytes: 5, .. })
    ));
}

#[test]
fn lower_case_secret_and_crlf_lines_are_read_as_the_module_reads_them() {
    let input = text(HOTP)
        .replace("GKAMTW7O5NNZRJISMSTUYGMBJM", "gkamtw7o5nnzrjismstuygmbjm")
        .replace('\n', "\r\n");
    let file = google_authenticator::parse(input.as_bytes()).unwrap();
    assert_eq!(file, google_authenticator::parse(HOTP).unwrap());
}

#[test]
fn empty_oversized_and_binary_input_is_refused() {
    assert_eq!(problem_at(""), (Location::Input, Problem::Empty));
    let huge = vec![b'1'; google_authenticator::MAX_SIZE + 1];
    let error = google_authenticator::parse(&huge).unwrap_err();
    assert!(matches!(error.problem, Problem::TooLarge { .. }));
    let error = google_authenticator::parse(&[0xff, 0xfe, b'\n']).unwrap_err();
    assert_eq!(error.problem, Problem::NotText);
}
