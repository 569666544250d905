//! `[web]`: read into `Config.web`, its refusals pointing at the file's line and key.

use std::time::Duration;

use super::parse;

#[test]
fn no_web_section_means_no_web_pages() {
    assert!(parse("").unwrap().web.is_none());
}

#[test]
fn a_web_section_parses() {
    let c = parse(
        "[web]\nlisten = \"127.0.0.1:9443\"\npublic_url = \"https://mfa.example.com\"\n\
         approval_timeout = \"90s\"\nforwarded_for = true\n",
    )
    .unwrap();
    let web = c.web.expect("the section");
    assert_eq!(web.listen.port(), 9443);
    assert_eq!(web.approval_timeout, Duration::from_secs(90));
    assert!(web.forwarded_for);
    assert_eq!(web.effective_rp_id().unwrap(), "mfa.example.com");
}

#[test]
fn web_refusals_name_the_file_line_and_key() {
    for (text, key, line, words) in [
        (
            "issuer = \"x\"\n[web]\npublic_url = \"http://mfa.example.com\"\n",
            "web.public_url",
            3,
            "only for localhost",
        ),
        (
            "[web]\npublic_url = \"https://mfa.example.com\"\nrp_id = \"other.org\"\n",
            "web.rp_id",
            3,
            "a domain it is under",
        ),
        (
            "[web]\npublic_url = \"https://mfa.example.com\"\nlisten = \"0.0.0.0:443\"\n",
            "web.tls_cert_file",
            0,
            "not a loopback address",
        ),
        (
            "[web]\npublic_url = \"https://mfa.example.com\"\napproval_timeout = \"6m\"\n",
            "web.approval_timeout",
            3,
            "between 10s and 5m",
        ),
    ] {
        let e = parse(text).unwrap_err();
        assert_eq!(e.key.as_deref(), Some(key), "{text}");
        // 0: the key is not in the file (a missing key is what is wrong).
        assert_eq!(e.line, (line != 0).then_some(line), "{text}");
        assert!(e.to_string().contains(words), "{e}");
        assert!(
            e.to_string().starts_with("config /etc/mfa/test.toml"),
            "{e}"
        );
    }
}

#[test]
fn a_web_section_without_public_url_or_with_an_unknown_key_is_refused() {
    let e = parse("[web]\nlisten = \"127.0.0.1:8443\"\n").unwrap_err();
    assert!(e.to_string().contains("public_url"), "{e}");
    let e = parse("[web]\npublic_url = \"https://a.example\"\nport = 1\n").unwrap_err();
    assert_eq!(e.line, Some(3));
    assert!(e.to_string().contains("port"), "{e}");
}
