//! RFC 6030 Portable Symmetric Key Container (PSKC) files, as token vendors ship batches of
//! hardware HOTP and TOTP tokens.
//!
//! Secrets are either plain (`<PlainValue>`, base64) or encrypted with a pre-shared key
//! (RFC 6030 section 6.1): AES-128-CBC with the IV before the ciphertext, and an HMAC-SHA1
//! `<ValueMAC>` over IV and ciphertext, keyed by the `<MACMethod>`'s own key (itself
//! encrypted with the pre-shared key). The MAC is checked before anything is decrypted, and
//! an encrypted secret without one is refused: unauthenticated CBC can be altered unseen.
//! Password-derived keys (section 6.2) and asymmetric keys (6.3) are not supported.

use aes::cipher::{BlockDecryptMut, KeyIvInit, block_padding::Pkcs7};
use hmac::{Hmac, Mac};
use roxmltree::{Document, Node, ParsingOptions};
use zeroize::Zeroizing;

use crate::{ImportError, Location, Problem, Secret};

/// The largest document read (a batch of a few thousand tokens fits easily).
pub const MAX_SIZE: usize = 1024 * 1024;

/// Enough nodes for `MAX_SIZE` of real PSKC, few enough to bound the parser's memory.
const MAX_NODES: u32 = 200_000;

const PSKC_NS: &str = "urn:ietf:params:xml:ns:keyprov:pskc";
const XENC_NS: &str = "http://www.w3.org/2001/04/xmlenc#";
const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const AES128_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes128-cbc";
const HMAC_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#hmac-sha1";
const AES_BLOCK: usize = 16;

/// One token of a PSKC batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PskcToken {
    /// `<DeviceInfo><SerialNo>`: the number printed on the token, used to assign it.
    pub serial: Option<String>,
    /// The `<Key Id>` attribute.
    pub key_id: String,
    /// HOTP or TOTP, with the moving factor.
    pub kind: PskcKind,
    /// `<ResponseFormat Length>`: code length (6 when absent).
    pub digits: u8,
    /// The decoded (and, if it was encrypted, decrypted and verified) secret.
    pub secret: Secret,
}

/// The algorithm and its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PskcKind {
    /// RFC 4226 event token.
    Hotp {
        /// `<Counter>`: the counter of the next code (0 when absent).
        counter: u64,
    },
    /// RFC 6238 time token.
    Totp {
        /// `<TimeInterval>`: seconds per code (30 when absent).
        step: u32,
        /// `<Time>`: the Unix time the token counts from, T0 (0 when absent).
        start: u64,
    },
}

/// Reads a PSKC document. `pre_shared_key` is the transport key, needed only when the
/// secrets are encrypted.
pub fn parse(input: &[u8], pre_shared_key: Option<&[u8]>) -> Result<Vec<PskcToken>, ImportError> {
    let text = crate::text::checked_text(input, MAX_SIZE)?;
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..ParsingOptions::default()
    };
    let document = Document::parse_with_options(text, options)
        .map_err(|e| ImportError::new(Location::Input, Problem::Xml(e.to_string())))?;
    let container = document.root_element();
    let at = Place(&document);
    if !is(container, PSKC_NS, "KeyContainer") {
        return Err(at.error(
            container,
            Problem::Missing("a PSKC <KeyContainer>".to_owned()),
        ));
    }
    if container.attribute("Version") != Some("1.0") {
        let found = container.attribute("Version").unwrap_or("none");
        return Err(at.error(container, bad("Version", "1.0", found)));
    }
    let keys = TransportKeys::read(at, container, pre_shared_key)?;
    let mut tokens = Vec::new();
    for package in children(container, PSKC_NS, "KeyPackage") {
        tokens.push(read_package(at, &keys, package)?);
    }
    if tokens.is_empty() {
        return Err(at.error(container, Problem::Missing("<KeyPackage>".to_owned())));
    }
    Ok(tokens)
}

/// Turns nodes into error locations (element name and line).
#[derive(Clone, Copy)]
struct Place<'a>(&'a Document<'a>);

impl Place<'_> {
    fn error(self, node: Node<'_, '_>, problem: Problem) -> ImportError {
        let line = self.0.text_pos_at(node.range().start).row;
        let name = node.tag_name().name().to_owned();
        ImportError::new(Location::Element { name, line }, problem)
    }
}

/// The pre-shared key and the MAC key it unlocks, when the document uses encryption.
struct TransportKeys {
    encryption: Option<Zeroizing<Vec<u8>>>,
    mac: Option<Zeroizing<Vec<u8>>>,
}

impl TransportKeys {
    fn read(
        at: Place<'_>,
        container: Node<'_, '_>,
        psk: Option<&[u8]>,
    ) -> Result<Self, ImportError> {
        let Some(encryption_key) = child(container, PSKC_NS, "EncryptionKey") else {
            return Ok(Self {
                encryption: None,
                mac: None,
            });
        };
        if child(encryption_key, DS_NS, "KeyName").is_none() {
            let what = encryption_key
                .first_element_child()
                .map(|n| n.tag_name().name());
            let value = what.unwrap_or("an empty <EncryptionKey>").to_owned();
            return Err(at.error(
                encryption_key,
                Problem::Unsupported {
                    what: "transport key",
                    value,
                },
            ));
        }
        let psk = psk.ok_or_else(|| at.error(encryption_key, Problem::NeedKey))?;
        if psk.len() != AES_BLOCK {
            return Err(at.error(encryption_key, Problem::KeyLength { bytes: psk.len() }));
        }
        let encryption = Zeroizing::new(psk.to_vec());
        let mac = match child(container, PSKC_NS, "MACMethod") {
            None => None,
            Some(method) => Some(read_mac_key(at, method, &encryption)?),
        };
        Ok(Self {
            encryption: Some(encryption),
            mac,
        })
    }
}

fn read_mac_key(
    at: Place<'_>,
    method: Node<'_, '_>,
    psk: &[u8],
) -> Result<Zeroizing<Vec<u8>>, ImportError> {
    let algorithm = method.attribute("Algorithm").unwrap_or_default();
    if algorithm != HMAC_SHA1 {
        let value = algorithm.chars().take(100).collect();
        return Err(at.error(
            method,
            Problem::Unsupported {
                what: "MAC algorithm",
                value,
            },
        ));
    }
    let mac_key = child(method, PSKC_NS, "MACKey")
        .ok_or_else(|| at.error(method, Problem::Missing("<MACKey>".to_owned())))?;
    let data = cipher_data(at, mac_key)?;
    // The MAC key authenticates itself only through the secrets it verifies afterwards.
    decrypt(psk, &data).map_err(|p| at.error(mac_key, p))
}

fn read_package(
    at: Place<'_>,
    keys: &TransportKeys,
    package: Node<'_, '_>,
) -> Result<PskcToken, ImportError> {
    let serial = child(package, PSKC_NS, "DeviceInfo")
        .and_then(|info| child(info, PSKC_NS, "SerialNo"))
        .and_then(|n| n.text())
        .map(|s| s.trim().to_owned());
    let key = child(package, PSKC_NS, "Key")
        .ok_or_else(|| at.error(package, Problem::Missing("<Key>".to_owned())))?;
    let key_id = key
        .attribute("Id")
        .ok_or_else(|| at.error(key, Problem::Missing("the Id attribute".to_owned())))?
        .to_owned();
    let digits = read_digits(at, key)?;
    let data = child(key, PSKC_NS, "Data")
        .ok_or_else(|| at.error(key, Problem::Missing("<Data>".to_owned())))?;
    let secret_node = child(data, PSKC_NS, "Secret")
        .ok_or_else(|| at.error(data, Problem::Missing("<Secret>".to_owned())))?;
    let secret = read_secret(at, keys, secret_node)?;
    let algorithm = key.attribute("Algorithm").unwrap_or_default();
    let kind = match algorithm.strip_prefix(PSKC_NS) {
        Some(":hotp" | "#hotp") => PskcKind::Hotp {
            counter: plain_number(at, data, "Counter")?.unwrap_or(0),
        },
        Some(":totp" | "#totp") => PskcKind::Totp {
            step: plain_number(at, data, "TimeInterval")?.unwrap_or(30),
            start: plain_number(at, data, "Time")?.unwrap_or(0),
        },
        _ => {
            let value = algorithm.chars().take(100).collect();
            return Err(at.error(
                key,
                Problem::Unsupported {
                    what: "algorithm",
                    value,
                },
            ));
        }
    };
    if matches!(kind, PskcKind::Totp { step: 0, .. }) {
        return Err(at.error(data, bad("TimeInterval", "at least 1 second", "0")));
    }
    Ok(PskcToken {
        serial,
        key_id,
        kind,
        digits,
        secret,
    })
}

fn read_digits(at: Place<'_>, key: Node<'_, '_>) -> Result<u8, ImportError> {
    let Some(format) = child(key, PSKC_NS, "AlgorithmParameters")
        .and_then(|p| child(p, PSKC_NS, "ResponseFormat"))
    else {
        return Ok(6);
    };
    if let Some(encoding) = format.attribute("Encoding").filter(|e| *e != "DECIMAL") {
        return Err(at.error(format, bad("Encoding", "DECIMAL", encoding)));
    }
    let length = format.attribute("Length").unwrap_or_default();
    match length.parse::<u8>() {
        Ok(digits @ 6..=8) => Ok(digits),
        _ => Err(at.error(format, bad("Length", "6, 7 or 8", length))),
    }
}

fn read_secret(
    at: Place<'_>,
    keys: &TransportKeys,
    secret: Node<'_, '_>,
) -> Result<Secret, ImportError> {
    let bytes = if let Some(plain) = child(secret, PSKC_NS, "PlainValue") {
        base64(plain.text().unwrap_or_default()).map_err(|p| at.error(plain, p))?
    } else if let Some(encrypted) = child(secret, PSKC_NS, "EncryptedValue") {
        let psk = keys
            .encryption
            .as_deref()
            .ok_or_else(|| at.error(encrypted, Problem::NeedKey))?;
        let mac_key = keys.mac.as_deref().ok_or_else(|| {
            at.error(
                encrypted,
                Problem::Missing("<MACMethod> (encrypted values must be authenticated)".to_owned()),
            )
        })?;
        let data = cipher_data(at, encrypted)?;
        let value_mac = child(secret, PSKC_NS, "ValueMAC")
            .ok_or_else(|| at.error(secret, Problem::Missing("<ValueMAC>".to_owned())))?;
        let expected =
            base64(value_mac.text().unwrap_or_default()).map_err(|p| at.error(value_mac, p))?;
        verify_mac(mac_key, &data, &expected).map_err(|p| at.error(value_mac, p))?;
        decrypt(psk, &data).map_err(|p| at.error(encrypted, p))?
    } else {
        return Err(at.error(
            secret,
            Problem::Missing("<PlainValue> or <EncryptedValue>".to_owned()),
        ));
    };
    if !(10..=64).contains(&bytes.len()) {
        let expected = "from 10 to 64 bytes are accepted";
        return Err(at.error(
            secret,
            Problem::SecretLength {
                bytes: bytes.len(),
                expected,
            },
        ));
    }
    Ok(Secret::new(bytes))
}

/// `<xenc:EncryptionMethod>` (aes128-cbc only) and `<xenc:CipherData><xenc:CipherValue>`.
fn cipher_data(at: Place<'_>, encrypted: Node<'_, '_>) -> Result<Vec<u8>, ImportError> {
    let method = child(encrypted, XENC_NS, "EncryptionMethod").ok_or_else(|| {
        at.error(
            encrypted,
            Problem::Missing("<xenc:EncryptionMethod>".to_owned()),
        )
    })?;
    let algorithm = method.attribute("Algorithm").unwrap_or_default();
    if algorithm != AES128_CBC {
        let value = algorithm.chars().take(100).collect();
        return Err(at.error(
            method,
            Problem::Unsupported {
                what: "encryption method",
                value,
            },
        ));
    }
    let value = child(encrypted, XENC_NS, "CipherData")
        .and_then(|d| child(d, XENC_NS, "CipherValue"))
        .ok_or_else(|| at.error(encrypted, Problem::Missing("<xenc:CipherValue>".to_owned())))?;
    let data = base64(value.text().unwrap_or_default()).map_err(|p| at.error(value, p))?;
    Ok(data.to_vec())
}

fn verify_mac(mac_key: &[u8], data: &[u8], expected: &[u8]) -> Result<(), Problem> {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(mac_key).map_err(|_| Problem::BadMac)?;
    mac.update(data);
    mac.verify_slice(expected).map_err(|_| Problem::BadMac)
}

/// AES-128-CBC with the IV in the first block and PKCS#7 padding.
fn decrypt(key: &[u8], data: &[u8]) -> Result<Zeroizing<Vec<u8>>, Problem> {
    if data.len() < 2 * AES_BLOCK || data.len() % AES_BLOCK != 0 {
        return Err(Problem::Decrypt);
    }
    let (iv, ciphertext) = data.split_at(AES_BLOCK);
    let decryptor =
        cbc::Decryptor::<aes::Aes128>::new_from_slices(key, iv).map_err(|_| Problem::Decrypt)?;
    decryptor
        .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
        .map(Zeroizing::new)
        .map_err(|_| Problem::Decrypt)
}

/// A `<Counter>`, `<Time>` or `<TimeInterval>` given as `<PlainValue>` (an encrypted one is
/// not supported: no vendor we know of ships them).
fn plain_number<T: std::str::FromStr>(
    at: Place<'_>,
    data: Node<'_, '_>,
    name: &str,
) -> Result<Option<T>, ImportError> {
    let Some(node) = child(data, PSKC_NS, name) else {
        return Ok(None);
    };
    let plain = child(node, PSKC_NS, "PlainValue").ok_or_else(|| {
        at.error(
            node,
            Problem::Unsupported {
                what: "value form",
                value: "not a <PlainValue>".to_owned(),
            },
        )
    })?;
    let text = plain.text().unwrap_or_default().trim();
    text.parse()
        .map(Some)
        .map_err(|_| at.error(plain, bad(name, "a whole number", text)))
}

/// Base64 as XML carries it: line breaks and indentation inside the value are allowed.
fn base64(text: &str) -> Result<Zeroizing<Vec<u8>>, Problem> {
    let compact: Zeroizing<String> =
        Zeroizing::new(text.chars().filter(|c| !c.is_ascii_whitespace()).collect());
    data_encoding::BASE64
        .decode(compact.as_bytes())
        .map(Zeroizing::new)
        .map_err(|_| Problem::SecretEncoding { encoding: "base64" })
}

fn is(node: Node<'_, '_>, namespace: &str, name: &str) -> bool {
    node.is_element()
        && node.tag_name().name() == name
        && node.tag_name().namespace() == Some(namespace)
}

fn child<'a, 'input>(
    node: Node<'a, 'input>,
    namespace: &str,
    name: &str,
) -> Option<Node<'a, 'input>> {
    node.children().find(|n| is(*n, namespace, name))
}

fn children<'a, 'input: 'a>(
    node: Node<'a, 'input>,
    namespace: &'a str,
    name: &'a str,
) -> impl Iterator<Item = Node<'a, 'input>> + 'a {
    node.children().filter(move |n| is(*n, namespace, name))
}

fn bad(field: &str, expected: &str, value: &str) -> Problem {
    Problem::BadValue {
        field: field.to_owned(),
        expected: expected.to_owned(),
        value: value.chars().take(40).collect(),
    }
}
