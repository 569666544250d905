//! `[otp]`: what sent codes look like, how many may go out, and where.

use std::time::Duration;

use mfa_core::factor::sent_code::Charset;

use super::parse;

#[test]
fn otp_settings_parse_and_their_ranges_name_the_key() {
    let c = parse(
        "[otp]\nlength = 8\ncharset = \"alphanumeric\"\nvalidity = \"2m\"\nmax_sends = 9\nallowed_domains = [\"example.com\"]\n",
    )
    .unwrap();
    let policy = c.otp.code_policy();
    assert_eq!((policy.length, policy.charset), (8, Charset::Alphanumeric));
    assert_eq!(policy.validity, Duration::from_secs(120));
    assert_eq!(c.otp.send_policy().max_sends, 9);
    assert_eq!(c.otp.domain_rules().allowed, ["example.com"]);
    let c = parse("[otp]\nallowed_countries = [\"GB\", \"+1876\"]\nmax_notices = 3\n").unwrap();
    let countries = c.otp.country_rules();
    let shown: Vec<String> = countries.allowed.iter().map(|p| p.to_string()).collect();
    assert_eq!(shown, ["+44", "+1876"]);
    assert_eq!(c.otp.send_policy().max_notices, 3);
    for (text, key, words) in [
        ("[otp]\nlength = 3\n", "otp.length", "between 4 and 10"),
        (
            "[otp]\nvalidity = \"10s\"\n",
            "otp.validity",
            "between 30s and 30m",
        ),
        (
            "[otp]\nvalidity = \"1h\"\n",
            "otp.validity",
            "between 30s and 30m",
        ),
        (
            "[otp]\nsend_timeout = \"9s\"\n",
            "otp.send_timeout",
            "at most 8s",
        ),
        ("[otp]\ntries = 0\n", "otp.tries", "between 1 and 10"),
        (
            "[otp]\ndenied_domains = [\"a b\"]\n",
            "otp.denied_domains",
            "not a domain",
        ),
        (
            "[otp]\nallowed_countries = [\"+44\", \"US\"]\n",
            "otp.allowed_countries",
            "shares the calling code +1",
        ),
        (
            "[otp]\ndenied_countries = [\"44\"]\n",
            "otp.denied_countries",
            "neither a calling code",
        ),
        (
            "[otp]\nmax_notices = 0\n",
            "otp.max_notices",
            "between 1 and 1000",
        ),
    ] {
        let e = parse(text).unwrap_err();
        assert_eq!(e.key.as_deref(), Some(key), "{e}");
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.to_string().contains(words), "{e}");
    }
    let e = parse("[otp]\ncharset = \"emoji\"\n").unwrap_err();
    assert!(e.to_string().contains("emoji"), "{e}");
}
