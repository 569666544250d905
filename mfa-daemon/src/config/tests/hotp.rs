//! `[hotp]`: the look-ahead window, its default and its bounds.

use super::parse;
use crate::config::MAX_HOTP_WINDOW;

#[test]
fn the_window_defaults_to_ten_and_can_be_set() {
    assert_eq!(parse("").unwrap().hotp.window, 10);
    assert_eq!(parse("[hotp]\nwindow = 3\n").unwrap().hotp.window, 3);
    let top = format!("[hotp]\nwindow = {MAX_HOTP_WINDOW}\n");
    assert_eq!(parse(&top).unwrap().hotp.window, MAX_HOTP_WINDOW);
}

#[test]
fn a_window_of_zero_or_past_the_cap_is_refused_by_key_and_line() {
    for bad in [0, MAX_HOTP_WINDOW + 1, 1000] {
        let e = parse(&format!("issuer = \"x\"\n[hotp]\nwindow = {bad}\n")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("hotp.window"), "{e}");
        assert_eq!(e.line, Some(3), "{e}");
        let want = format!("between 1 and {MAX_HOTP_WINDOW}, got {bad}");
        assert!(e.to_string().contains(&want), "{e}");
    }
    let e = parse("[hotp]\nwindw = 3\n").unwrap_err();
    assert!(e.to_string().contains("windw"), "{e}");
}
