use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use p256::ecdsa::VerifyingKey;
use p256::ecdsa::signature::Verifier;

use super::*;

// RFC 8291 section 5 (and Appendix A): the keys, the salt and the message they make.
const PLAINTEXT: &[u8] = b"When I grow up, I want to be a watermelon";
const AS_PRIVATE: &str = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
const AS_PUBLIC: &str =
    "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";
const UA_PUBLIC: &str =
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
const SALT: &str = "DGv6ra1nlYgDCS1FRnbzlw";
const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";
const MESSAGE: &str = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vC\
                       YLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXP\
                       XLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN";

// One key made by `openssl ecparam -name prime256v1 -genkey` (parameters block included),
// the same key through `openssl pkcs8 -topk8 -nocrypt`, and its public point.
const SEC1_PEM: &str = "-----BEGIN EC PARAMETERS-----
BggqhkjOPQMBBw==
-----END EC PARAMETERS-----
-----BEGIN EC PRIVATE KEY-----
MHcCAQEEINUYL1MkrECbYLCXwdnY7aA94kzrlCjbja7yZXn5AlDSoAoGCCqGSM49
AwEHoUQDQgAEe3tsRtsumT1FYvB+JSXUue1sjX0U+GiIgMi/2kw5wtYZoKI3lZzG
bFjtrCjMsCEjQCLxAaDJC3q7GeeZkX6HRA==
-----END EC PRIVATE KEY-----
";
const PKCS8_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg1RgvUySsQJtgsJfB
2djtoD3iTOuUKNuNrvJlefkCUNKhRANCAAR7e2xG2y6ZPUVi8H4lJdS57WyNfRT4
aIiAyL/aTDnC1hmgojeVnMZsWO2sKMywISNAIvEBoMkLersZ55mRfodE
-----END PRIVATE KEY-----
";
const PUBLIC: &str =
    "BHt7bEbbLpk9RWLwfiUl1LntbI19FPhoiIDIv9pMOcLWGaCiN5WcxmxY7awozLAhI0Ai8QGgyQt6uxnnmZF-h0Q";
/// A P-384 key (`openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384`).
const P384_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDAYQJzI6pTH9QYCsEjU
BHYVEgKyQgtbD5+BY4o1kv9TmISNH31m71/VsenRx0DWHW2hZANiAASusqvgK+Ru
XYMoQXq8D0ogC5YzDWFJiWTczTefdf2uyKhMw4Ymnxn2HjgJ1JjBf3hKSh4YVAiD
DppZrbML6VtVQ9unyUwBUD+12LeFjPLadxtTNYD8Fe+XA4cqe2I72pU=
-----END PRIVATE KEY-----
";

fn b64(text: &str) -> Vec<u8> {
    B64.decode(text.as_bytes()).unwrap()
}

fn rfc_subscription(endpoint: &str) -> Subscription {
    Subscription {
        endpoint: endpoint.to_owned(),
        p256dh: UA_PUBLIC.to_owned(),
        auth: AUTH.to_owned(),
    }
}

#[test]
fn webpush_encryption_reproduces_the_rfc_8291_example_byte_for_byte() {
    let recipient =
        rfc_subscription("https://push.example.net/push/JzLQ3raZJfFBR0aqvOMsLrt54w4rJUsV")
            .recipient(EndpointRule::PublicOnly)
            .unwrap();
    let sender = SecretKey::from_slice(&b64(AS_PRIVATE)).unwrap();
    assert_eq!(
        sender.public_key().to_encoded_point(false).as_bytes(),
        &b64(AS_PUBLIC)[..]
    );
    let salt: [u8; 16] = b64(SALT).try_into().unwrap();
    let message = encrypt_with(PLAINTEXT, &recipient, &sender, &salt).unwrap();
    assert_eq!(B64.encode(&message), MESSAGE);
}

#[test]
fn webpush_messages_are_fresh_each_time_and_bounded() {
    let recipient = rfc_subscription("https://push.example.net/x")
        .recipient(EndpointRule::PublicOnly)
        .unwrap();
    let one = encrypt(PLAINTEXT, &recipient).unwrap();
    let two = encrypt(PLAINTEXT, &recipient).unwrap();
    assert_eq!(one.len(), HEADER_LEN + PLAINTEXT.len() + 1 + TAG_LEN);
    assert_ne!(one[..16], two[..16], "a new salt");
    assert_ne!(one[21..86], two[21..86], "a new sender key");
    assert!(encrypt(&[b'x'; MAX_PAYLOAD], &recipient).unwrap().len() <= 4096);
    let e = encrypt(&[b'x'; MAX_PAYLOAD + 1], &recipient).unwrap_err();
    assert!(
        matches!(
            e,
            PushError::TooLarge {
                len: 3994,
                max: 3993
            }
        ),
        "{e}"
    );
}

fn refusal(subscription: &Subscription, rule: EndpointRule) -> SubscriptionError {
    subscription.check(rule).unwrap_err()
}

/// Checks that `subscription` is refused for `field` with `problem`, and that the message
/// names the field and quotes no value.
fn assert_refused(
    subscription: &Subscription,
    field: SubscriptionField,
    problem: SubscriptionProblem,
) {
    let e = refusal(subscription, EndpointRule::PublicOnly);
    assert_eq!((e.field, &e.problem), (field, &problem), "{subscription:?}");
    let shown = e.to_string();
    assert!(
        shown.starts_with(&format!("push subscription {field} ")),
        "{shown}"
    );
    assert!(
        !shown.contains("example.net") && !shown.contains(AUTH),
        "{shown}"
    );
}

#[test]
fn webpush_bad_endpoints_are_refused_naming_the_field() {
    use SubscriptionProblem::*;
    rfc_subscription("https://fcm.googleapis.com/fcm/send/abc")
        .check(EndpointRule::PublicOnly)
        .unwrap();
    let long = format!("https://push.example.net/{}", "a".repeat(2100));
    for (endpoint, problem) in [
        ("push.example.net/x", NotUrl),
        (
            "ftp://push.example.net/x",
            Scheme {
                scheme: "ftp".to_owned(),
            },
        ),
        ("http://push.example.net/x", NotPublic),
        ("https://10.0.0.7/x", NotPublic),
        ("https://[::1]/x", NotPublic),
        ("https://localhost/x", NotPublic),
        ("https://u:p@push.example.net/", Credentials),
        (
            &long,
            TooLong {
                len: 2125,
                max: 2048,
            },
        ),
    ] {
        assert_refused(
            &rfc_subscription(endpoint),
            SubscriptionField::Endpoint,
            problem,
        );
    }
}

#[test]
fn webpush_bad_keys_are_refused_naming_the_field() {
    use SubscriptionField::*;
    use SubscriptionProblem::*;
    let good = rfc_subscription("https://push.example.net/x");
    let with = |p256dh: &str, auth: &str| Subscription {
        p256dh: p256dh.to_owned(),
        auth: auth.to_owned(),
        ..good.clone()
    };
    let mut compressed_tag = b64(UA_PUBLIC);
    compressed_tag[0] = 2;
    for (subscription, field, problem) in [
        (with("not base64!", AUTH), P256dh, NotBase64Url),
        (
            with(&B64.encode(&b64(UA_PUBLIC)[..33]), AUTH),
            P256dh,
            WrongLength { len: 33, want: 65 },
        ),
        (with(&B64.encode(&[4; 65]), AUTH), P256dh, NotAPoint),
        (with(&B64.encode(&compressed_tag), AUTH), P256dh, NotAPoint),
        (with(UA_PUBLIC, "%%"), Auth, NotBase64Url),
        (
            with(UA_PUBLIC, &B64.encode(&[7; 15])),
            Auth,
            WrongLength { len: 15, want: 16 },
        ),
    ] {
        assert_refused(&subscription, field, problem);
    }
}

#[test]
fn webpush_loopback_endpoints_only_for_tests() {
    for endpoint in ["http://127.0.0.1:4000/push/1", "https://[::1]:4000/push/1"] {
        let subscription = rfc_subscription(endpoint);
        subscription.check(EndpointRule::LoopbackForTests).unwrap();
        let e = refusal(&subscription, EndpointRule::PublicOnly);
        assert_eq!(e.problem, SubscriptionProblem::NotPublic);
    }
    let e = refusal(
        &rfc_subscription("http://192.168.1.1/push"),
        EndpointRule::LoopbackForTests,
    );
    assert_eq!(e.problem, SubscriptionProblem::NotPublic);
    // Padded base64url, as some libraries write it, is the same key.
    let mut padded = rfc_subscription("https://push.example.net/x");
    padded.auth.push_str("==");
    padded.p256dh.push('=');
    padded.check(EndpointRule::PublicOnly).unwrap();
}

#[test]
fn webpush_subscriptions_read_from_the_browsers_json() {
    let json = format!(
        r#"{{"endpoint":"https://push.example.net/x","expirationTime":null,
            "keys":{{"p256dh":"{UA_PUBLIC}","auth":"{AUTH}"}}}}"#
    );
    let subscription = Subscription::from_browser_json(&json).unwrap();
    assert_eq!(subscription, rfc_subscription("https://push.example.net/x"));
    let e = Subscription::from_browser_json(r#"{"endpoint":"https://x.example"}"#).unwrap_err();
    assert_eq!(e.field, SubscriptionField::Json);
}

#[test]
fn webpush_vapid_keys_read_from_pkcs8_and_sec1_pem() {
    for pem in [SEC1_PEM, PKCS8_PEM] {
        let key = VapidKey::from_pem(pem.as_bytes()).unwrap();
        assert_eq!(key.public_key_base64url(), PUBLIC);
        let shown = format!("{key:?}");
        assert!(
            shown.contains(PUBLIC) && !shown.contains("secret"),
            "{shown}"
        );
    }
    for (pem, words) in [
        (P384_PEM, "not an EC P-256 private key in PKCS#8 form"),
        ("hello", "no -----BEGIN PRIVATE KEY-----"),
        (
            "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
            "not an EC P-256 private key in SEC1 form",
        ),
    ] {
        let e = VapidKey::from_pem(pem.as_bytes()).unwrap_err().to_string();
        assert!(e.contains(words), "{e}");
    }
}

#[test]
fn webpush_vapid_key_files_get_the_secret_file_checks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vapid.pem");
    fs::write(&path, SEC1_PEM).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let e = VapidKey::from_file(&path, None).unwrap_err().to_string();
    assert!(e.contains("mode 0644: the VAPID key must not"), "{e}");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    let key = VapidKey::from_file(Path::new("vapid.pem"), Some(dir.path())).unwrap();
    assert_eq!(key.public_key_base64url(), PUBLIC);
    fs::write(&path, P384_PEM).unwrap();
    let e = VapidKey::from_file(&path, None).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{}: not an EC P-256", path.display())),
        "{e}"
    );
    assert!(!e.contains("MIG2"), "{e}");
}

#[test]
fn webpush_vapid_token_is_signed_for_the_endpoints_origin() {
    let key = VapidKey::from_pem(PKCS8_PEM.as_bytes()).unwrap();
    let endpoint = Url::parse("https://push.example.net:8443/wpush/v2/abc?x=1").unwrap();
    let now = UnixTime::from_secs(1_800_000_000);
    let token = vapid_token(&key, &endpoint, "mailto:admin@example.org", now).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: serde_json::Value = serde_json::from_slice(&b64(parts[0])).unwrap();
    assert_eq!(header["alg"], "ES256");
    let claims: serde_json::Value = serde_json::from_slice(&b64(parts[1])).unwrap();
    assert_eq!(claims["aud"], "https://push.example.net:8443");
    assert_eq!(claims["exp"], 1_800_000_000 + 12 * 3600);
    assert_eq!(claims["sub"], "mailto:admin@example.org");
    let verifying = VerifyingKey::from_sec1_bytes(&b64(PUBLIC)).unwrap();
    let signature = Signature::from_slice(&b64(parts[2])).unwrap();
    let signed = format!("{}.{}", parts[0], parts[1]);
    verifying.verify(signed.as_bytes(), &signature).unwrap();
    assert!(verifying.verify(b"other", &signature).is_err());
}

#[test]
fn webpush_contacts_are_mailto_or_https() {
    for good in ["mailto:admin@example.org", "https://example.org/contact"] {
        check_contact(good).unwrap();
    }
    for bad in [
        "admin@example.org",
        "http://example.org",
        "mailto:admin",
        "mailto:a b@c",
        "",
    ] {
        assert!(
            matches!(check_contact(bad), Err(WebPushError::Contact)),
            "{bad}"
        );
    }
}

#[test]
fn webpush_answers_map_to_outcomes() {
    let kind = |status: u16| classify(StatusCode::from_u16(status).unwrap());
    assert!(kind(201).is_ok() && kind(202).is_ok());
    assert!(matches!(kind(404), Err(PushError::Gone { status: 404 })));
    assert!(matches!(kind(410), Err(PushError::Gone { status: 410 })));
    assert!(matches!(
        kind(401),
        Err(PushError::TokenRefused { status: 401 })
    ));
    assert!(matches!(
        kind(403),
        Err(PushError::TokenRefused { status: 403 })
    ));
    assert!(matches!(kind(429), Err(PushError::RateLimited)));
    assert!(matches!(
        kind(503),
        Err(PushError::ServiceFailed { status: 503 })
    ));
    assert!(matches!(kind(413), Err(PushError::Refused { status: 413 })));
    assert!(matches!(kind(301), Err(PushError::Refused { status: 301 })));
}
