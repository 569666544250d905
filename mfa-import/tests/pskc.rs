//! RFC 6030 PSKC: the RFC's own examples (figures 2 and 3, and the pre-shared key example of
//! section 6.1, copied from the RFC), a vendor-style TOTP batch with fake secrets, and the
//! attacks the import must survive (huge, malformed, tampered, entity-expanding documents).

mod common;

use mfa_import::pskc::{self, PskcKind};
use mfa_import::{Location, Problem};

const FIGURE_2: &str = include_str!("fixtures/pskc/rfc6030_figure2.pskc");
const FIGURE_3: &str = include_str!("fixtures/pskc/rfc6030_figure3.pskc");
const PRE_SHARED: &str = include_str!("fixtures/pskc/rfc6030_section6_1_pre_shared_key.pskc");
const TOTP_BATCH: &str = include_str!("fixtures/pskc/totp_batch.pskc");

/// The pre-shared key of RFC 6030 section 6.1.
fn rfc_key() -> Vec<u8> {
    data_encoding::HEXLOWER
        .decode(b"12345678901234567890123456789012")
        .unwrap()
}

fn problem(input: &str, key: Option<&[u8]>) -> Problem {
    pskc::parse(input.as_bytes(), key)
        .expect_err("must be refused")
        .problem
}

#[test]
fn rfc_figure_2_plain_hotp_key() {
    let tokens = pskc::parse(FIGURE_2.as_bytes(), None).unwrap();
    assert_eq!(tokens.len(), 1);
    let token = &tokens[0];
    assert_eq!(
        (token.key_id.as_str(), token.serial.as_deref()),
        ("12345678", None)
    );
    assert_eq!(
        (token.kind, token.digits),
        (PskcKind::Hotp { counter: 0 }, 6)
    );
    assert_eq!(token.secret.expose(), b"12345678901234567890");
    // RFC 4226 appendix D: count 0 of this secret is 755224.
    assert_eq!(common::hotp(token.secret.expose(), 0, 6), "755224");
}

#[test]
fn rfc_figure_3_serial_number_length_and_counter() {
    let tokens = pskc::parse(FIGURE_3.as_bytes(), None).unwrap();
    let token = &tokens[0];
    assert_eq!(token.serial.as_deref(), Some("987654321"));
    assert_eq!(
        (token.kind, token.digits),
        (PskcKind::Hotp { counter: 0 }, 8)
    );
    assert_eq!(token.secret.expose(), b"12345678901234567890");
}

#[test]
fn rfc_section_6_1_pre_shared_key_decrypts_after_the_mac_checks() {
    let tokens = pskc::parse(PRE_SHARED.as_bytes(), Some(&rfc_key())).unwrap();
    let token = &tokens[0];
    assert_eq!(token.serial.as_deref(), Some("987654321"));
    assert_eq!(
        (token.kind, token.digits),
        (PskcKind::Hotp { counter: 0 }, 8)
    );
    assert_eq!(token.secret.expose(), b"12345678901234567890");
    assert!(!format!("{tokens:?}").contains("12345678901234567890"));
}

#[test]
fn encrypted_secrets_need_the_right_key() {
    assert_eq!(problem(PRE_SHARED, None), Problem::NeedKey);
    assert_eq!(
        problem(PRE_SHARED, Some(&[1; 8])),
        Problem::KeyLength { bytes: 8 }
    );
    let mut wrong = rfc_key();
    wrong[0] ^= 1;
    // A wrong key garbles the MAC key; either its padding fails or the MAC does not match.
    let refused = problem(PRE_SHARED, Some(&wrong));
    assert!(
        matches!(refused, Problem::Decrypt | Problem::BadMac),
        "{refused:?}"
    );
}

#[test]
fn a_changed_ciphertext_or_mac_is_refused_before_decryption() {
    let changed = PRE_SHARED.replace("AAECAwQFBgcICQoLDA0OD+cI", "AAECAwQFBgcICQoLDA0OD+cJ");
    let error = pskc::parse(changed.as_bytes(), Some(&rfc_key())).unwrap_err();
    assert_eq!(error.problem, Problem::BadMac);
    assert!(matches!(error.location, Location::Element { ref name, .. } if name == "ValueMAC"));
    let changed = PRE_SHARED.replace(
        "Su+NvtQfmvfJzF6bmQiJqoLRExc=",
        "Su+NvtQfmvfJzF6bmQiJqoLREyc=",
    );
    assert_eq!(problem(&changed, Some(&rfc_key())), Problem::BadMac);
}

#[test]
fn an_encrypted_secret_without_a_mac_is_refused() {
    let start = PRE_SHARED.find("<ValueMAC>").unwrap();
    let end = PRE_SHARED.find("</ValueMAC>").unwrap() + "</ValueMAC>".len();
    let no_mac = format!("{}{}", &PRE_SHARED[..start], &PRE_SHARED[end..]);
    assert_eq!(
        problem(&no_mac, Some(&rfc_key())),
        Problem::Missing("<ValueMAC>".to_owned())
    );
    let start = PRE_SHARED.find("<MACMethod").unwrap();
    let end = PRE_SHARED.find("</MACMethod>").unwrap() + "</MACMethod>".len();
    let no_method = format!("{}{}", &PRE_SHARED[..start], &PRE_SHARED[end..]);
    assert!(
        matches!(problem(&no_method, Some(&rfc_key())), Problem::Missing(what) if what.starts_with("<MACMethod>"))
    );
}

#[test]
fn a_batch_of_totp_and_hotp_tokens() {
    let tokens = pskc::parse(TOTP_BATCH.as_bytes(), None).unwrap();
    let summary: Vec<(Option<&str>, PskcKind, u8)> = tokens
        .iter()
        .map(|t| (t.serial.as_deref(), t.kind, t.digits))
        .collect();
    assert_eq!(
        summary,
        [
            (Some("TT-0001"), PskcKind::Totp { step: 60, start: 0 }, 6),
            (Some("TT-0002"), PskcKind::Totp { step: 30, start: 0 }, 6),
            (Some("HT-0003"), PskcKind::Hotp { counter: 17 }, 8),
        ]
    );
    // Codes `oathtool` printed for these secrets.
    assert_eq!(common::hotp(tokens[1].secret.expose(), 0, 6), "066544");
    assert_eq!(common::hotp(tokens[2].secret.expose(), 17, 8), "23035475");
}

#[test]
fn malformed_documents_are_refused_with_where() {
    let truncated = &FIGURE_3[..FIGURE_3.len() / 2];
    assert!(matches!(problem(truncated, None), Problem::Xml(_)));
    assert!(matches!(problem("not xml at all", None), Problem::Xml(_)));
    let other_root = "<?xml version=\"1.0\"?><KeyContainer Version=\"1.0\"/>";
    assert!(
        matches!(problem(other_root, None), Problem::Missing(_)),
        "no PSKC namespace"
    );
    let no_packages =
        "<KeyContainer Version=\"1.0\" xmlns=\"urn:ietf:params:xml:ns:keyprov:pskc\"/>";
    assert_eq!(
        problem(no_packages, None),
        Problem::Missing("<KeyPackage>".to_owned())
    );
    let version = FIGURE_2.replace("Version=\"1.0\"", "Version=\"2.0\"");
    assert!(
        matches!(problem(&version, None), Problem::BadValue { field, .. } if field == "Version")
    );

    let sha256 = FIGURE_3.replace("pskc:hotp", "pskc:ocra");
    let error = pskc::parse(sha256.as_bytes(), None).unwrap_err();
    assert_eq!(
        error.location,
        Location::Element {
            name: "Key".to_owned(),
            line: 13
        }
    );
    assert!(matches!(
        error.problem,
        Problem::Unsupported {
            what: "algorithm",
            ..
        }
    ));
    let length = FIGURE_3.replace("Length=\"8\"", "Length=\"12\"");
    let error = pskc::parse(length.as_bytes(), None).unwrap_err();
    assert_eq!(
        error.to_string(),
        "<ResponseFormat> on line 17: Length must be 6, 7 or 8, not \"12\""
    );
    let counter = FIGURE_3.replace("<PlainValue>0</PlainValue>", "<PlainValue>-1</PlainValue>");
    assert!(
        matches!(problem(&counter, None), Problem::BadValue { field, .. } if field == "Counter")
    );
    let secret = FIGURE_2.replace(
        "MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=",
        "MTIzNDU2Nzg5MDEy*zQ1Njc4OTA=",
    );
    let error = pskc::parse(secret.as_bytes(), None).unwrap_err();
    assert_eq!(
        error.problem,
        Problem::SecretEncoding { encoding: "base64" }
    );
    assert!(!error.to_string().contains("MTIz"));
}

#[test]
fn password_derived_keys_are_not_supported_by_name() {
    let derived = PRE_SHARED.replace(
        "<ds:KeyName>Pre-shared-key</ds:KeyName>",
        "<DerivedKey><KeyDerivationMethod Algorithm=\"pbkdf2\"/></DerivedKey>",
    );
    let refused = problem(&derived, Some(&rfc_key()));
    assert_eq!(
        refused,
        Problem::Unsupported {
            what: "transport key",
            value: "DerivedKey".to_owned()
        }
    );
}

#[test]
fn a_huge_document_is_refused_before_parsing() {
    let package = FIGURE_3
        .split_once("<KeyPackage>")
        .and_then(|(_, rest)| rest.split_once("</KeyPackage>"))
        .map(|(inner, _)| format!("<KeyPackage>{inner}</KeyPackage>"))
        .unwrap();
    let mut huge = String::from(
        "<KeyContainer Version=\"1.0\" xmlns=\"urn:ietf:params:xml:ns:keyprov:pskc\">",
    );
    while huge.len() <= pskc::MAX_SIZE {
        huge.push_str(&package);
    }
    huge.push_str("</KeyContainer>");
    let error = pskc::parse(huge.as_bytes(), None).unwrap_err();
    assert_eq!(error.location, Location::Input);
    assert!(matches!(error.problem, Problem::TooLarge { limit, .. } if limit == 1024 * 1024));
}

#[test]
fn entity_expansion_is_refused() {
    let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE KeyContainer [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<KeyContainer Version="1.0" xmlns="urn:ietf:params:xml:ns:keyprov:pskc">&lol3;</KeyContainer>"#;
    assert!(matches!(problem(laughs, None), Problem::Xml(_)));
}
