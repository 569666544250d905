//! Each rule of `[web]`, refused with the key it is about.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;

/// `[web]` as JSON (the shape TOML gives serde), `extra` over a minimal valid section.
fn settings(extra: Value) -> WebSettings {
    let mut base = json!({ "public_url": "https://mfa.example.com" });
    for (k, v) in extra.as_object().expect("an object") {
        base[k] = v.clone();
    }
    serde_json::from_value(base).expect("the shape parses")
}

fn refused(extra: Value) -> InvalidWebSetting {
    settings(extra.clone())
        .validate()
        .expect_err(&format!("{extra} must be refused"))
}

#[test]
fn a_minimal_section_takes_the_defaults() {
    let s = settings(json!({}));
    s.validate().unwrap();
    assert_eq!(s.listen, DEFAULT_LISTEN);
    assert_eq!(s.approval_timeout, Duration::from_secs(60));
    assert_eq!(s.user, "mfa-web");
    assert!(!s.forwarded_for);
    assert_eq!(s.effective_rp_id().unwrap(), "mfa.example.com");
    assert_eq!(s.public_url().unwrap().origin(), "https://mfa.example.com");
    assert!(s.tls_files().is_none());
}

#[test]
fn a_full_section_parses() {
    let s = settings(json!({
        "listen": "0.0.0.0:443",
        "public_url": "https://mfa.example.com:8443/",
        "rp_id": "example.com",
        "tls_cert_file": "/etc/mfa/web.crt",
        "tls_key_file": "/etc/mfa/web.key",
        "approval_timeout": "2m",
        "user": "webmfa",
        "vapid_key_file": "/etc/mfa/vapid.pem",
        "vapid_subject": "mailto:admin@example.com",
    }));
    s.validate().unwrap();
    assert_eq!(
        s.public_url().unwrap().origin(),
        "https://mfa.example.com:8443"
    );
    assert_eq!(s.effective_rp_id().unwrap(), "example.com");
    assert_eq!(s.approval_timeout, Duration::from_secs(120));
    assert!(s.tls_files().is_some());
}

#[test]
fn http_is_only_for_localhost() {
    settings(json!({"public_url": "http://localhost:8080"}))
        .validate()
        .unwrap();
    let e = refused(json!({"public_url": "http://mfa.example.com"}));
    assert_eq!(e.key, "web.public_url");
    assert!(e.why.contains("only for localhost"), "{e}");
}

#[test]
fn public_url_rules_name_the_key() {
    for (url, words) in [
        ("ftp://mfa.example.com", "must start with https://"),
        ("mfa.example.com", "must start with https://"),
        ("https://mfa.example.com/mfa", "no user, path"),
        ("https://mfa.example.com/?x=1", "no user, path"),
        ("https://u@mfa.example.com", "no user, path"),
        ("https://mfa.example.com:0", "port"),
        ("https://mfa.example.com:99999", "port"),
        ("https://mfa.example.com:+443", "port"),
        ("https://127.0.0.1:8443", "not an IP address"),
        ("https://[::1]:8443", "not an IP address"),
        ("https://MFA.example.com", "lower-case"),
        ("https://", "lower-case"),
        ("https://a..b", "lower-case"),
        ("https://-a.example.com", "lower-case"),
    ] {
        let e = refused(json!({ "public_url": url }));
        assert_eq!(e.key, "web.public_url", "{url}");
        assert!(e.why.contains(words), "{url}: {e}");
        assert!(
            e.to_string().starts_with("config key `web.public_url`: "),
            "{e}"
        );
    }
}

#[test]
fn rp_id_is_the_host_or_a_domain_above_it() {
    for ok in ["mfa.example.com", "example.com"] {
        settings(json!({ "rp_id": ok })).validate().unwrap();
    }
    for bad in [
        "other.com",
        "xample.com",
        "com",
        "a.mfa.example.com",
        "Example.com",
    ] {
        let e = refused(json!({ "rp_id": bad }));
        assert_eq!(e.key, "web.rp_id", "{bad}: {e}");
    }
}

#[test]
fn tls_files_go_together_and_are_needed_off_loopback() {
    let e = refused(json!({"tls_cert_file": "/etc/mfa/web.crt"}));
    assert_eq!(e.key, "web.tls_key_file");
    let e = refused(json!({"tls_key_file": "/etc/mfa/web.key"}));
    assert_eq!(e.key, "web.tls_cert_file");
    let e = refused(json!({"tls_cert_file": "web.crt", "tls_key_file": "/etc/mfa/web.key"}));
    assert_eq!(
        (e.key, e.why.contains("absolute")),
        ("web.tls_cert_file", true)
    );
    let e = refused(json!({"listen": "0.0.0.0:443"}));
    assert_eq!(e.key, "web.tls_cert_file");
    assert!(e.why.contains("not a loopback address"), "{e}");
    settings(json!({"listen": "[::1]:8443"}))
        .validate()
        .unwrap();
}

#[test]
fn approval_timeout_is_between_10s_and_5m() {
    for ok in ["10s", "5m"] {
        settings(json!({ "approval_timeout": ok }))
            .validate()
            .unwrap();
    }
    for bad in ["9s", "301s"] {
        let e = refused(json!({ "approval_timeout": bad }));
        assert_eq!(e.key, "web.approval_timeout");
        assert!(e.why.contains("between 10s and 5m"), "{e}");
    }
    let parse = serde_json::from_value::<WebSettings>(
        json!({"public_url": "https://a.example", "approval_timeout": "soon"}),
    );
    assert!(parse.unwrap_err().to_string().contains("not a duration"));
}

#[test]
fn user_must_be_an_account_name() {
    for bad in ["", "Web", "a b", "-x", "x".repeat(33).as_str()] {
        let e = refused(json!({ "user": bad }));
        assert_eq!(e.key, "web.user", "{bad:?}");
    }
}

#[test]
fn vapid_key_and_subject_go_together() {
    let e = refused(json!({"vapid_key_file": "/etc/mfa/vapid.pem"}));
    assert_eq!(e.key, "web.vapid_subject");
    let e = refused(json!({"vapid_subject": "mailto:a@example.com"}));
    assert_eq!(e.key, "web.vapid_key_file");
    let e = refused(json!({"vapid_key_file": "vapid.pem", "vapid_subject": "mailto:a@b.c"}));
    assert_eq!(e.key, "web.vapid_key_file");
    for bad in [
        "a@example.com",
        "mailto:",
        "http://example.com",
        "mailto:a b@c",
    ] {
        let e = refused(json!({"vapid_key_file": "/k.pem", "vapid_subject": bad}));
        assert_eq!(e.key, "web.vapid_subject", "{bad}");
    }
    settings(json!({"vapid_key_file": "/k.pem", "vapid_subject": "https://example.com/contact"}))
        .validate()
        .unwrap();
}

#[test]
fn forwarded_for_only_behind_a_local_proxy() {
    settings(json!({"forwarded_for": true})).validate().unwrap();
    let e = refused(json!({
        "forwarded_for": true,
        "listen": "0.0.0.0:443",
        "tls_cert_file": "/c.pem",
        "tls_key_file": "/k.pem",
    }));
    assert_eq!(e.key, "web.forwarded_for");
    assert!(e.why.contains("loopback"), "{e}");
}

#[test]
fn unknown_keys_are_refused() {
    let parse = serde_json::from_value::<WebSettings>(
        json!({"public_url": "https://a.example", "listen_port": 1}),
    );
    assert!(parse.unwrap_err().to_string().contains("listen_port"));
}
