//! Tests of the codec against the RFCs' bytes and bytes a real client (FreeRADIUS's
//! radclient) sent, then round trips and every refusal.

use super::*;

const RFC_SECRET: &[u8] = b"xyzzy5461";

/// RFC 2865 §7.1: the Access-Request of user "nemo", password "arctangent", from NAS
/// 192.168.1.16 port 3.
const RFC_REQUEST: &str = "010000380f403f9473978057bd83d5cb98f4227a01066e656d6f02120dbe708d93\
                           d413ce3196e43f782a0aee0406c0a80110050600000003";
/// RFC 2865 §7.1: the Access-Accept to it (Service-Type Login, Login-Service Telnet,
/// Login-IP-Host 192.168.1.3).
const RFC_ACCEPT: &str = "0200002686fe220e7624ba2a1005f6bf9b55e0b20606000000010f06000000000e\
                          06c0a80103";
/// What `radclient -x 127.0.0.1:PORT auth xyzzy5461` sent for `User-Name = "nemo",
/// User-Password = "arctangent", Message-Authenticator = 0x00` (FreeRADIUS 3.2; its
/// Message-Authenticator checked with Python's hmac as well).
const RADCLIENT_REQUEST: &str = "0191003efad27d1073784e0678ffa04aee3e332a01066e656d6f0212860107\
                                 12adeaafab60505888cde85a8650126453765c4ba2fb8c96b6930554722fb1";

fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text
        .bytes()
        .filter(|b| b.is_ascii_hexdigit())
        .map(|b| match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => b - b'A' + 10,
        })
        .collect();
    digits
        .chunks(2)
        .map(|pair| pair[0] << 4 | pair[1])
        .collect()
}

fn authenticator(seed: u8) -> [u8; 16] {
    std::array::from_fn(|i| seed.wrapping_add(i as u8).wrapping_mul(37))
}

fn request(password: &[u8], extra: &[Attribute], with_ma: bool) -> (Packet, Vec<u8>) {
    let mut attributes = vec![Attribute::new(attr::USER_NAME, "alice")];
    attributes.extend_from_slice(extra);
    let raw = encode_request(
        7,
        authenticator(1),
        Some(password),
        &attributes,
        SECRET,
        with_ma,
    );
    (Packet::parse(&raw).unwrap(), raw)
}

const SECRET: &[u8] = b"s3cret-s3cret-s3";

#[test]
fn rfc2865_request_parses_and_reveals_its_password() {
    let raw = hex(RFC_REQUEST);
    let packet = Packet::parse(&raw).unwrap();
    assert_eq!(packet.code, Code::AccessRequest);
    assert_eq!(packet.identifier, 0);
    assert_eq!(packet.first(attr::USER_NAME), Some(&b"nemo"[..]));
    assert_eq!(
        packet.first(attr::NAS_IP_ADDRESS),
        Some(&[192, 168, 1, 16][..])
    );
    assert_eq!(packet.first(5), Some(&[0, 0, 0, 3][..]));
    assert_eq!(packet.attributes.len(), 4);
    assert_eq!(
        &user_password(&packet, RFC_SECRET).unwrap()[..],
        b"arctangent"
    );
    assert_ne!(
        &user_password(&packet, b"xyzzy5462").unwrap()[..],
        b"arctangent"
    );
    // No Message-Authenticator (1997): refused when required, accepted when not.
    assert_eq!(
        verify_request(&packet, &raw, RFC_SECRET, true),
        Err(VerifyError::MissingMessageAuthenticator)
    );
    assert_eq!(verify_request(&packet, &raw, RFC_SECRET, false), Ok(()));
}

#[test]
fn password_is_hidden_as_in_rfc2865() {
    let rfc = Packet::parse(&hex(RFC_REQUEST)).unwrap();
    let raw = encode_request(
        0,
        rfc.authenticator,
        Some(b"arctangent"),
        &[],
        RFC_SECRET,
        false,
    );
    let ours = Packet::parse(&raw).unwrap();
    assert_eq!(
        ours.first(attr::USER_PASSWORD),
        rfc.first(attr::USER_PASSWORD)
    );
}

#[test]
fn rfc2865_accept_has_the_right_response_authenticator() {
    let request = Packet::parse(&hex(RFC_REQUEST)).unwrap();
    let accept = hex(RFC_ACCEPT);
    // It passes the Response Authenticator and then misses the Message-Authenticator that
    // this client requires; a wrong secret or request fails the first check.
    assert_eq!(
        verify_response(&accept, &request.authenticator, RFC_SECRET),
        Err(VerifyError::MissingMessageAuthenticator)
    );
    assert_eq!(
        verify_response(&accept, &request.authenticator, b"xyzzy5462"),
        Err(VerifyError::WrongResponseAuthenticator)
    );
    assert_eq!(
        verify_response(&accept, &authenticator(3), RFC_SECRET),
        Err(VerifyError::WrongResponseAuthenticator)
    );
    let computed = wire::response_authenticator(&accept, &request.authenticator, RFC_SECRET);
    assert_eq!(computed[..], accept[4..20]);
}

#[test]
fn radclient_request_passes_rfc3579_check() {
    let raw = hex(RADCLIENT_REQUEST);
    let packet = Packet::parse(&raw).unwrap();
    assert_eq!(packet.identifier, 0x91);
    assert_eq!(packet.count(attr::MESSAGE_AUTHENTICATOR), 1);
    assert_eq!(verify_request(&packet, &raw, RFC_SECRET, true), Ok(()));
    assert_eq!(
        &user_password(&packet, RFC_SECRET).unwrap()[..],
        b"arctangent"
    );
    assert_eq!(
        verify_request(&packet, &raw, b"xyzzy5462", true),
        Err(VerifyError::WrongMessageAuthenticator)
    );
    // Padding after Length is not signed and is ignored.
    let mut padded = raw.clone();
    padded.extend_from_slice(&[0xff; 9]);
    assert_eq!(verify_request(&packet, &padded, RFC_SECRET, true), Ok(()));
}

#[test]
fn any_changed_byte_breaks_the_message_authenticator() {
    let raw = hex(RADCLIENT_REQUEST);
    for at in [1, 4, 19, 22, 25, 30, 40, 50] {
        let mut changed = raw.clone();
        changed[at] ^= 0x01;
        let packet = Packet::parse(&changed).unwrap();
        assert_eq!(
            verify_request(&packet, &changed, RFC_SECRET, true),
            Err(VerifyError::WrongMessageAuthenticator),
            "byte {at}"
        );
    }
}

#[test]
fn request_round_trip() {
    for password in [
        &b""[..],
        b"x",
        b"123456",
        b"fifteen-bytes!!",
        b"sixteen-bytes!!!",
        b"seventeen-bytes!!",
    ] {
        let (packet, raw) = request(password, &[], true);
        assert_eq!(verify_request(&packet, &raw, SECRET, true), Ok(()));
        assert_eq!(&user_password(&packet, SECRET).unwrap()[..], password);
    }
    let long = [b'p'; 128];
    let (packet, raw) = request(&long, &[], true);
    assert_eq!(
        packet.first(attr::USER_PASSWORD).map(<[u8]>::len),
        Some(128)
    );
    assert_eq!(verify_request(&packet, &raw, SECRET, true), Ok(()));
    assert_eq!(&user_password(&packet, SECRET).unwrap()[..], &long[..]);
}

#[test]
fn request_message_authenticator_comes_first() {
    let (packet, _) = request(b"123456", &[], true);
    assert_eq!(packet.attributes[0].kind, attr::MESSAGE_AUTHENTICATOR);
    let (packet, raw) = request(b"123456", &[], false);
    assert_eq!(packet.count(attr::MESSAGE_AUTHENTICATOR), 0);
    assert_eq!(
        verify_request(&packet, &raw, SECRET, true),
        Err(VerifyError::MissingMessageAuthenticator)
    );
    assert_eq!(verify_request(&packet, &raw, SECRET, false), Ok(()));
}

#[test]
fn response_round_trip_and_message_authenticator_first() {
    let (request, _) = request(b"123456", &[], true);
    let state = Attribute::new(attr::STATE, [9u8; 16]);
    let mut attributes = reply_messages("Enter the code from your app");
    attributes.push(state.clone());
    for code in [
        Code::AccessAccept,
        Code::AccessReject,
        Code::AccessChallenge,
    ] {
        let raw = encode_response(code, &request, &attributes, SECRET).unwrap();
        let response = verify_response(&raw, &request.authenticator, SECRET).unwrap();
        assert_eq!(response.code, code);
        assert_eq!(response.identifier, request.identifier);
        assert_eq!(response.attributes[0].kind, attr::MESSAGE_AUTHENTICATOR);
        assert_eq!(response.attributes[1..], attributes[..]);
        assert_eq!(
            verify_response(&raw, &request.authenticator, b"s3cret-s3cret-s4"),
            Err(VerifyError::WrongResponseAuthenticator)
        );
        assert_eq!(
            verify_response(&raw, &authenticator(99), SECRET),
            Err(VerifyError::WrongResponseAuthenticator)
        );
    }
}

#[test]
fn response_with_a_bad_message_authenticator_is_refused() {
    let (request, _) = request(b"123456", &[], true);
    let mut raw = encode_response(Code::AccessAccept, &request, &[], SECRET).unwrap();
    // Change the Message-Authenticator and recompute the Response Authenticator over it,
    // so only the HMAC is wrong.
    raw[22] ^= 0x80;
    let fixed = wire::response_authenticator(&raw, &request.authenticator, SECRET);
    raw[4..20].copy_from_slice(&fixed);
    assert_eq!(
        verify_response(&raw, &request.authenticator, SECRET),
        Err(VerifyError::WrongMessageAuthenticator)
    );
}

#[test]
fn proxy_states_are_copied_in_order() {
    let extra = [
        Attribute::new(attr::PROXY_STATE, "first"),
        Attribute::new(attr::NAS_IDENTIFIER, "vpn"),
        Attribute::new(attr::PROXY_STATE, "second"),
        Attribute::new(attr::PROXY_STATE, ""),
    ];
    let (request, _) = request(b"123456", &extra, true);
    let reply = reply_messages("hi");
    let raw = encode_response(Code::AccessAccept, &request, &reply, SECRET).unwrap();
    let response = verify_response(&raw, &request.authenticator, SECRET).unwrap();
    let kinds: Vec<u8> = response.attributes.iter().map(|a| a.kind).collect();
    assert_eq!(
        kinds,
        [
            attr::MESSAGE_AUTHENTICATOR,
            attr::REPLY_MESSAGE,
            attr::PROXY_STATE,
            attr::PROXY_STATE,
            attr::PROXY_STATE
        ]
    );
    let values: Vec<&[u8]> = response.attributes[2..]
        .iter()
        .map(|a| a.value.as_slice())
        .collect();
    assert_eq!(values, [&b"first"[..], b"second", b""]);
}

#[test]
fn response_over_4096_bytes_is_refused_not_cut() {
    let (request, _) = request(b"123456", &[], true);
    // 20 header + 18 Message-Authenticator + n * 255.
    let fits = (MAX_PACKET - HEADER_LEN - 18) / 255;
    let big = vec![Attribute::new(attr::REPLY_MESSAGE, vec![b'a'; 253]); fits];
    let raw = encode_response(Code::AccessReject, &request, &big, SECRET).unwrap();
    assert!(raw.len() <= MAX_PACKET);
    let mut exact = big.clone();
    let left = MAX_PACKET - raw.len() - 2;
    exact.push(Attribute::new(attr::REPLY_MESSAGE, vec![b'b'; left]));
    let raw = encode_response(Code::AccessReject, &request, &exact, SECRET).unwrap();
    assert_eq!(raw.len(), MAX_PACKET);
    verify_response(&raw, &request.authenticator, SECRET).unwrap();
    let mut over = big;
    over.push(Attribute::new(attr::REPLY_MESSAGE, vec![b'b'; left + 1]));
    assert_eq!(
        encode_response(Code::AccessReject, &request, &over, SECRET),
        Err(EncodeError::TooLong {
            length: MAX_PACKET + 1
        })
    );
}

#[test]
fn response_refuses_long_values_and_a_given_message_authenticator() {
    let (request, _) = request(b"123456", &[], true);
    let long = [Attribute::new(attr::REPLY_MESSAGE, vec![b'a'; 254])];
    assert_eq!(
        encode_response(Code::AccessReject, &request, &long, SECRET),
        Err(EncodeError::AttributeTooLong {
            kind: attr::REPLY_MESSAGE,
            length: 254
        })
    );
    let given = [Attribute::new(attr::MESSAGE_AUTHENTICATOR, [0u8; 16])];
    assert_eq!(
        encode_response(Code::AccessAccept, &request, &given, SECRET),
        Err(EncodeError::MessageAuthenticatorGiven)
    );
}

#[test]
fn parse_refuses_bad_framing() {
    let good = hex(RFC_REQUEST);
    assert_eq!(
        Packet::parse(&good[..19]),
        Err(PacketError::Short { received: 19 })
    );
    assert_eq!(Packet::parse(&[]), Err(PacketError::Short { received: 0 }));
    let with_length = |length: u16| {
        let mut bytes = good.clone();
        bytes[2..4].copy_from_slice(&length.to_be_bytes());
        bytes.resize(bytes.len().max(usize::from(length)), 0);
        bytes
    };
    assert_eq!(
        Packet::parse(&with_length(19)),
        Err(PacketError::BadLength { length: 19 })
    );
    assert_eq!(
        Packet::parse(&with_length(4097)),
        Err(PacketError::BadLength { length: 4097 })
    );
    assert_eq!(
        Packet::parse(&good[..55]),
        Err(PacketError::Truncated {
            length: 56,
            received: 55
        })
    );
    // A Length of 20 leaves no attribute; bytes after it are padding.
    let header_only = Packet::parse(&with_length(20)).unwrap();
    assert!(header_only.attributes.is_empty());
    let mut padded = good.clone();
    padded.extend_from_slice(&[0, 0, 0]);
    assert_eq!(Packet::parse(&padded), Packet::parse(&good));
}

#[test]
fn parse_refuses_bad_attribute_lengths() {
    let mut bytes = hex(RFC_REQUEST);
    // User-Name at 20 with length 0, then 1.
    for length in [0u8, 1] {
        bytes[21] = length;
        assert_eq!(
            Packet::parse(&bytes),
            Err(PacketError::AttributeTooShort {
                offset: 20,
                kind: 1,
                length
            })
        );
    }
    // The last attribute (NAS-Port at 50, 6 bytes) claims 7.
    let mut bytes = hex(RFC_REQUEST);
    bytes[51] = 7;
    assert_eq!(
        Packet::parse(&bytes),
        Err(PacketError::AttributeOverrun {
            offset: 50,
            kind: 5,
            length: 7,
            end: 56
        })
    );
    // One stray byte after the last attribute.
    let mut bytes = hex(RFC_REQUEST);
    bytes[3] = 57;
    bytes.push(5);
    assert_eq!(
        Packet::parse(&bytes),
        Err(PacketError::AttributeHeader { offset: 56 })
    );
    let shown = PacketError::AttributeHeader { offset: 56 }.to_string();
    assert!(shown.contains("offset 56"), "{shown}");
}

#[test]
fn verify_refuses_two_message_authenticators() {
    let crafted = [Attribute::new(attr::MESSAGE_AUTHENTICATOR, [0u8; 16])];
    let (packet, raw) = request(b"123456", &crafted, true);
    assert_eq!(packet.count(attr::MESSAGE_AUTHENTICATOR), 2);
    assert_eq!(
        verify_request(&packet, &raw, SECRET, true),
        Err(VerifyError::Malformed(
            "more than one Message-Authenticator"
        ))
    );
    assert_eq!(
        verify_request(&packet, &raw, SECRET, false),
        Err(VerifyError::Malformed(
            "more than one Message-Authenticator"
        ))
    );
}

#[test]
fn verify_refuses_a_short_or_wrong_message_authenticator() {
    let short = [Attribute::new(attr::MESSAGE_AUTHENTICATOR, [0u8; 15])];
    let (packet, raw) = request(b"123456", &short, false);
    assert_eq!(
        verify_request(&packet, &raw, SECRET, false),
        Err(VerifyError::Malformed(
            "a Message-Authenticator that is not 16 bytes"
        ))
    );
    // Present but not required: still checked.
    let zero = [Attribute::new(attr::MESSAGE_AUTHENTICATOR, [0u8; 16])];
    let (packet, raw) = request(b"123456", &zero, false);
    assert_eq!(
        verify_request(&packet, &raw, SECRET, false),
        Err(VerifyError::WrongMessageAuthenticator)
    );
}

#[test]
fn verify_refuses_bytes_that_are_not_the_packet() {
    let (packet, _) = request(b"123456", &[], true);
    let (_, other) = request(b"654321", &[], true);
    assert_eq!(
        verify_request(&packet, &other, SECRET, true),
        Err(VerifyError::Malformed(
            "the packet is not the parse of the bytes given"
        ))
    );
}

#[test]
fn user_password_refuses_bad_lengths() {
    let (mut packet, _) = request(b"123456", &[], true);
    let at = packet
        .attributes
        .iter()
        .position(|a| a.kind == attr::USER_PASSWORD)
        .unwrap();
    for length in [0, 15, 17, 31, 144, 240] {
        packet.attributes[at].value = vec![1; length];
        assert_eq!(
            user_password(&packet, SECRET),
            Err(PasswordError::BadLength { length })
        );
    }
    packet
        .attributes
        .push(Attribute::new(attr::USER_PASSWORD, [0u8; 16]));
    assert_eq!(
        user_password(&packet, SECRET),
        Err(PasswordError::Repeated { count: 2 })
    );
    packet.attributes.retain(|a| a.kind != attr::USER_PASSWORD);
    assert_eq!(user_password(&packet, SECRET), Err(PasswordError::Missing));
}

#[test]
fn a_password_over_128_bytes_is_sent_and_refused() {
    let (packet, raw) = request(&[b'p'; 200], &[], true);
    assert_eq!(
        packet.first(attr::USER_PASSWORD).map(<[u8]>::len),
        Some(208)
    );
    assert_eq!(verify_request(&packet, &raw, SECRET, true), Ok(()));
    assert_eq!(
        user_password(&packet, SECRET),
        Err(PasswordError::BadLength { length: 208 })
    );
}

#[test]
fn reply_messages_split_on_char_boundaries() {
    assert!(reply_messages("").is_empty());
    assert_eq!(
        reply_messages("hi"),
        [Attribute::new(attr::REPLY_MESSAGE, "hi")]
    );
    // 'é' is 2 bytes: at 252..254 it would be cut by a split at 253.
    let text = format!("{}é{}", "a".repeat(252), "€".repeat(200));
    let messages = reply_messages(&text);
    assert_eq!(messages[0].value.len(), 252);
    let mut joined = Vec::new();
    for message in &messages {
        assert_eq!(message.kind, attr::REPLY_MESSAGE);
        assert!(!message.value.is_empty() && message.value.len() <= MAX_ATTRIBUTE_VALUE);
        assert!(std::str::from_utf8(&message.value).is_ok());
        joined.extend_from_slice(&message.value);
    }
    assert_eq!(joined, text.as_bytes());
    let exact = "b".repeat(253 * 2);
    assert_eq!(reply_messages(&exact).len(), 2);
}

#[test]
fn debug_shows_no_secret_value() {
    let state = Attribute::new(attr::STATE, *b"state-0123456789");
    let (packet, _) = request(b"hunter2hunter2", &[state], true);
    let shown = format!("{packet:?}");
    for kind in [
        attr::USER_PASSWORD,
        attr::MESSAGE_AUTHENTICATOR,
        attr::STATE,
    ] {
        let value = packet.first(kind).unwrap();
        assert!(
            !shown.contains(&value.escape_ascii().to_string()),
            "{shown}"
        );
        assert!(!shown.contains(&format!("{value:?}")), "{shown}");
    }
    assert!(
        !shown.contains(&format!("{:?}", packet.authenticator)),
        "{shown}"
    );
    assert!(shown.contains("alice"), "{shown}");
    assert!(shown.contains("<16 bytes>"), "{shown}");
}

#[test]
fn encode_writes_back_what_parse_read() {
    for raw in [hex(RFC_REQUEST), hex(RFC_ACCEPT), hex(RADCLIENT_REQUEST)] {
        let packet = Packet::parse(&raw).unwrap();
        assert_eq!(packet.encode().unwrap(), raw);
    }
}

#[test]
fn codes_round_trip() {
    for byte in 0..=u8::MAX {
        let code = Code::from(byte);
        assert_eq!(u8::from(code), byte);
        if [1, 2, 3, 4, 11, 12].contains(&byte) {
            assert!(!matches!(code, Code::Other(_)));
        }
    }
}

#[test]
fn encode_request_cuts_what_cannot_be_sent() {
    let long = [Attribute::new(attr::NAS_IDENTIFIER, vec![b'n'; 300])];
    let raw = encode_request(1, [0; 16], None, &long, SECRET, true);
    let packet = Packet::parse(&raw).unwrap();
    assert_eq!(
        packet.first(attr::NAS_IDENTIFIER).map(<[u8]>::len),
        Some(253)
    );
    let many = vec![Attribute::new(attr::REPLY_MESSAGE, vec![b'r'; 253]); 20];
    let raw = encode_request(1, [0; 16], Some(b"pw"), &many, SECRET, true);
    let packet = Packet::parse(&raw).unwrap();
    assert_eq!(verify_request(&packet, &raw, SECRET, true), Ok(()));
    // Header, Message-Authenticator and User-Password (18 each), then whole attributes.
    let fit = (MAX_PACKET - HEADER_LEN - 18 - 18) / 255;
    assert_eq!(packet.count(attr::REPLY_MESSAGE), fit);
    assert_eq!(raw.len(), HEADER_LEN + 18 + 18 + fit * 255);
}
