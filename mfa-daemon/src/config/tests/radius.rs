//! `[radius]`: read into `Config.radius`, its refusals naming the key and the client.

use super::parse;

const CLIENT: &str = "[[radius.client]]\nname = \"vpn1\"\naddress = \"192.0.2.0/24\"\n\
                      secret_file = \"/etc/mfa/vpn1.secret\"\n";

#[test]
fn no_radius_section_means_no_radius() {
    assert!(parse("").unwrap().radius.is_none());
}

#[test]
fn a_radius_section_parses_with_its_defaults() {
    let c = parse(&format!("[radius]\npassword = \"pam\"\n{CLIENT}")).unwrap();
    let radius = c.radius.expect("the section");
    assert_eq!(radius.listen.len(), 2);
    assert_eq!(radius.user, "mfa-radius");
    assert_eq!(radius.pam_service, "mfa-radius");
    let client = &radius.clients[0];
    assert!(client.require_message_authenticator);
    assert_eq!(client.requests_per_second, 50);
    assert_eq!(
        radius
            .client_for("192.0.2.77".parse().unwrap())
            .unwrap()
            .name,
        "vpn1"
    );
}

#[test]
fn radius_refusals_name_the_key_and_the_client() {
    for (text, key, words) in [
        ("[radius]\n".to_owned(), "radius.client", "answer no one"),
        (
            format!(
                "[radius]\n{CLIENT}{}",
                CLIENT.replace("192.0.2.0/24", "10.0.0.1")
            ),
            "radius.client.name",
            "client \"vpn1\": two clients",
        ),
        (
            format!(
                "[radius]\n{}",
                CLIENT.replace("name = \"vpn1\"", "name = \"a b\"")
            ),
            "radius.client.name",
            "letters, digits",
        ),
        (
            format!("[radius]\nuser = \"Root\"\n{CLIENT}"),
            "radius.user",
            "lower-case",
        ),
        (
            format!("[radius]\nlisten = []\n{CLIENT}"),
            "radius.listen",
            "at least one",
        ),
    ] {
        let e = parse(&text).unwrap_err();
        assert_eq!(e.key.as_deref(), Some(key), "{text}");
        assert!(e.to_string().contains(words), "{e}");
    }
    // A network that is not one is refused where the file says it, naming the right form.
    let e = parse(&format!(
        "[radius]\n{}",
        CLIENT.replace("192.0.2.0/24", "192.0.2.1/24")
    ))
    .unwrap_err();
    assert_eq!(e.line, Some(4), "{e}");
    assert!(e.to_string().contains("192.0.2.0/24"), "{e}");
    let e = parse(&format!("[radius]\n{CLIENT}secret = \"x\"\n")).unwrap_err();
    assert!(e.to_string().contains("secret"), "{e}");
}
