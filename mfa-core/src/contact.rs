//! Phones and email addresses codes are sent to: strict parsing (E.164, a plain address),
//! masking for display, the domain and country rules, and how a user names one to remove it.

use mfa_proto::{Channel, ContactKind};
use serde::{Deserialize, Serialize};

/// Most contacts one user may have.
pub const MAX_CONTACTS: usize = 10;
/// Longest label.
pub const MAX_LABEL: usize = 32;
/// Longest email address (RFC 5321's path limit).
const MAX_ADDRESS: usize = 254;
/// One masked position.
const BULLET: &str = "\u{2022}";

/// A phone number in E.164 form: `+`, a country code, at most 15 digits in all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

/// An email address, its domain in lower case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

/// Why a contact is refused. The messages show the right form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactError {
    /// Not E.164.
    BadPhone,
    /// Not a plain email address.
    BadEmail,
    /// The domain is not in `allowed_domains`, or is in `denied_domains`.
    DomainRefused(String),
    /// The number's calling code is refused by `allowed_countries` / `denied_countries`, or
    /// is an international network or premium range no rule allows.
    CountryRefused {
        /// `+` and the calling code.
        code: String,
        /// One of [`INTERNATIONAL_RANGES`].
        international: bool,
    },
    /// A label that is empty, too long, or has control characters.
    BadLabel,
    /// The label or the number/address is already enrolled.
    Duplicate,
    /// The user has [`MAX_CONTACTS`] already.
    TooMany,
}

impl std::fmt::Display for ContactError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ContactError::BadPhone => write!(
                f,
                "a phone number must be in E.164 form: `+`, the country code and the number, 8 to 15 digits in all, no spaces (e.g. +14155550123)"
            ),
            ContactError::BadEmail => write!(
                f,
                "not a plain email address of at most {MAX_ADDRESS} bytes (e.g. alice@example.com)"
            ),
            ContactError::DomainRefused(domain) => {
                write!(
                    f,
                    "email addresses at {domain} are not allowed on this host"
                )
            }
            ContactError::CountryRefused {
                code,
                international: true,
            } => write!(
                f,
                "phone numbers under {code} (an international network, satellite or premium-rate range) are not accepted on this host unless the administrator allows them"
            ),
            ContactError::CountryRefused {
                code,
                international: false,
            } => write!(f, "phone numbers under {code} are not allowed on this host"),
            ContactError::BadLabel => write!(
                f,
                "a label must be 1 to {MAX_LABEL} characters without control characters"
            ),
            ContactError::Duplicate => {
                write!(f, "that label, number or address is already enrolled")
            }
            ContactError::TooMany => write!(
                f,
                "at most {MAX_CONTACTS} phones and email addresses; remove one first"
            ),
        }
    }
}

impl std::error::Error for ContactError {}

impl PhoneNumber {
    /// Accepts only E.164: `+` and 8 to 15 digits, the first not 0.
    pub fn parse(text: &str) -> Result<PhoneNumber, ContactError> {
        let digits = text.strip_prefix('+').ok_or(ContactError::BadPhone)?;
        let ok = (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if ok {
            Ok(PhoneNumber(text.to_owned()))
        } else {
            Err(ContactError::BadPhone)
        }
    }

    /// The number, `+` included.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits after `+`.
    fn digits(&self) -> &str {
        &self.0[1..]
    }

    /// The ITU calling code the number starts with, without `+`.
    pub fn calling_code(&self) -> &str {
        let digits = self.digits();
        &digits[..country_code_len(digits)]
    }

    /// `+1 •••-•••-4567`: the country code and the last four digits.
    pub fn masked(&self) -> String {
        let digits = &self.0[1..];
        let cc = country_code_len(digits);
        let national = &digits[cc..];
        let hidden = national.len().saturating_sub(4);
        // Groups of three, the odd remainder joined to the first: `•••-•••-`, `••••-`.
        let mut groups = vec![3; hidden / 3];
        match (groups.first_mut(), hidden % 3) {
            (_, 0) => {}
            (Some(first), extra) => *first += extra,
            (None, extra) => groups.push(extra),
        }
        let mut out = format!("+{} ", &digits[..cc]);
        for group in groups {
            out.push_str(&BULLET.repeat(group));
            out.push('-');
        }
        out.push_str(&national[hidden..]);
        out
    }
}

/// Length of the ITU country code a number starts with: 1 for +1 and +7, 2 for the
/// two-digit codes, else 3.
fn country_code_len(digits: &str) -> usize {
    const TWO_DIGIT: &[&str] = &[
        "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46",
        "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63",
        "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
    ];
    if digits.starts_with('1') || digits.starts_with('7') {
        1
    } else if TWO_DIGIT.iter().any(|cc| digits.starts_with(cc)) {
        2
    } else {
        3
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = ContactError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        PhoneNumber::parse(&text)
    }
}

impl From<PhoneNumber> for String {
    fn from(p: PhoneNumber) -> String {
        p.0
    }
}

impl EmailAddress {
    /// Accepts `local@domain` with a dotted host-name domain and a local part of printable
    /// ASCII without spaces, quotes or brackets; the domain is lower-cased.
    pub fn parse(text: &str) -> Result<EmailAddress, ContactError> {
        let (local, domain) = text.rsplit_once('@').ok_or(ContactError::BadEmail)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && local
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"\"(),:;<>@[\\]".contains(&b))
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
        let domain = domain.to_ascii_lowercase();
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if local_ok && domain_ok && text.len() <= MAX_ADDRESS {
            Ok(EmailAddress(format!("{local}@{domain}")))
        } else {
            Err(ContactError::BadEmail)
        }
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The domain, lower case.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, d)| d)
    }

    /// `a•••@example.com`.
    pub fn masked(&self) -> String {
        let (local, domain) = self.0.rsplit_once('@').unwrap_or(("", ""));
        let first = local.chars().next().unwrap_or('?');
        format!("{first}{}@{domain}", BULLET.repeat(3))
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = ContactError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        EmailAddress::parse(&text)
    }
}

impl From<EmailAddress> for String {
    fn from(e: EmailAddress) -> String {
        e.0
    }
}

/// Which email domains may be enrolled and sent to (IBM Verify's allowed/denied domains).
/// A rule matches the domain itself and its subdomains.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainRules {
    /// If not empty, only these.
    pub allowed: Vec<String>,
    /// Never these.
    pub denied: Vec<String>,
}

impl DomainRules {
    /// Whether `address` may be used.
    pub fn check(&self, address: &EmailAddress) -> Result<(), ContactError> {
        let domain = address.domain();
        let matches = |rule: &String| {
            let rule = rule.trim_start_matches('.').to_ascii_lowercase();
            domain == rule || domain.ends_with(&format!(".{rule}"))
        };
        let allowed = self.allowed.is_empty() || self.allowed.iter().any(matches);
        if allowed && !self.denied.iter().any(matches) {
            Ok(())
        } else {
            Err(ContactError::DomainRefused(domain.to_owned()))
        }
    }
}

/// Calling codes that are not countries: international networks, satellite systems and
/// international premium or shared-cost services (ITU-T E.164 assignments). They are where
/// international revenue share fraud terminates, a text or a call there costs many times a
/// national one, and a login code rarely needs them; [`CountryRules`] refuses them unless
/// `allowed` names them (or a prefix inside one, such as `+8816` for Iridium).
pub const INTERNATIONAL_RANGES: &[(&str, &str)] = &[
    ("800", "international freephone"),
    ("808", "international shared-cost service"),
    ("870", "Inmarsat satellite"),
    ("878", "universal personal telecommunications"),
    ("881", "global mobile satellite systems"),
    ("882", "international networks"),
    ("883", "international networks"),
    ("888", "telecommunications for disaster relief"),
    ("979", "international premium rate service"),
    ("991", "international public correspondence trials"),
];

/// The regions a rule may name by ISO 3166 code, and their calling codes. Only regions
/// whose calling code is one national numbering plan: `GB` (+44) also covers Guernsey,
/// Jersey and the Isle of Man, `AU` (+61) Christmas and Cocos Islands, `NO` (+47) Svalbard,
/// `FI` (+358) Åland, `IT` (+39) the Vatican, `NZ` (+64) Pitcairn, all in the same plan.
const REGIONS: &[(&str, &str)] = &[
    ("AE", "971"),
    ("AR", "54"),
    ("AT", "43"),
    ("AU", "61"),
    ("BE", "32"),
    ("BG", "359"),
    ("BR", "55"),
    ("CH", "41"),
    ("CL", "56"),
    ("CN", "86"),
    ("CO", "57"),
    ("CY", "357"),
    ("CZ", "420"),
    ("DE", "49"),
    ("DK", "45"),
    ("EE", "372"),
    ("EG", "20"),
    ("ES", "34"),
    ("FI", "358"),
    ("FR", "33"),
    ("GB", "44"),
    ("GR", "30"),
    ("HK", "852"),
    ("HR", "385"),
    ("HU", "36"),
    ("ID", "62"),
    ("IE", "353"),
    ("IL", "972"),
    ("IN", "91"),
    ("IS", "354"),
    ("IT", "39"),
    ("JP", "81"),
    ("KE", "254"),
    ("KR", "82"),
    ("LT", "370"),
    ("LU", "352"),
    ("LV", "371"),
    ("MT", "356"),
    ("MX", "52"),
    ("MY", "60"),
    ("NG", "234"),
    ("NL", "31"),
    ("NO", "47"),
    ("NZ", "64"),
    ("PE", "51"),
    ("PH", "63"),
    ("PL", "48"),
    ("PT", "351"),
    ("RO", "40"),
    ("SA", "966"),
    ("SE", "46"),
    ("SG", "65"),
    ("SI", "386"),
    ("SK", "421"),
    ("TH", "66"),
    ("TR", "90"),
    ("TW", "886"),
    ("UA", "380"),
    ("VN", "84"),
    ("ZA", "27"),
];

/// Regions whose calling code several countries share, each with its own tariffs: a region
/// name would silently mean all of them, so a rule must write the calling code (or longer
/// prefixes, such as NANP area codes).
const SHARED_CODES: &[(&str, &str, &str)] = &[
    (
        "US",
        "1",
        "Canada and about twenty Caribbean and Pacific regions (the North American Numbering Plan)",
    ),
    (
        "CA",
        "1",
        "the United States and about twenty Caribbean and Pacific regions (the North American Numbering Plan)",
    ),
    ("RU", "7", "Kazakhstan"),
    ("KZ", "7", "Russia"),
];

/// Why an entry of `allowed_countries` or `denied_countries` is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CountryRuleError {
    /// Neither `+` and digits nor two letters.
    Malformed(String),
    /// `+` and digits shorter than the calling code they begin (`+4` of `+44`).
    Partial(String),
    /// Two letters that are not in the table of regions.
    UnknownRegion(String),
    /// A region whose calling code other countries share.
    SharedCode {
        /// As written.
        region: String,
        /// Digits.
        code: &'static str,
        /// Who else has it.
        with: &'static str,
    },
}

impl std::fmt::Display for CountryRuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CountryRuleError::Malformed(text) => write!(
                f,
                "`{text}` is neither a calling code (`+` and its digits, e.g. \"+44\") nor an ISO 3166 region (e.g. \"GB\")"
            ),
            CountryRuleError::Partial(text) => write!(
                f,
                "`{text}` is shorter than the calling code it begins; write a whole calling code (e.g. \"+44\", \"+353\") or a longer prefix"
            ),
            CountryRuleError::UnknownRegion(text) => write!(
                f,
                "`{text}` is not one of the regions this host knows by name; write its calling code instead (e.g. \"+44\")"
            ),
            CountryRuleError::SharedCode { region, code, with } => write!(
                f,
                "`{region}` shares the calling code +{code} with {with}; write \"+{code}\" to mean all of them, or longer prefixes (e.g. \"+{code}212\")"
            ),
        }
    }
}

impl std::error::Error for CountryRuleError {}

/// The digits a country rule matches a number's digits against: a calling code, or a longer
/// prefix inside one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallingPrefix(String);

impl CallingPrefix {
    /// Reads `+` and a whole calling code or a longer prefix (at most 7 digits), or an ISO
    /// 3166 alpha-2 region from the table of regions.
    pub fn parse(text: &str) -> Result<CallingPrefix, CountryRuleError> {
        if let Some(digits) = text.strip_prefix('+') {
            let well_formed = (1..=7).contains(&digits.len())
                && digits.bytes().all(|b| b.is_ascii_digit())
                && !digits.starts_with('0');
            if !well_formed {
                return Err(CountryRuleError::Malformed(text.to_owned()));
            }
            if digits.len() < country_code_len(digits) {
                return Err(CountryRuleError::Partial(text.to_owned()));
            }
            return Ok(CallingPrefix(digits.to_owned()));
        }
        if text.len() != 2 || !text.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(CountryRuleError::Malformed(text.to_owned()));
        }
        let region = text.to_ascii_uppercase();
        if let Some(&(_, code, with)) = SHARED_CODES.iter().find(|(r, ..)| *r == region) {
            return Err(CountryRuleError::SharedCode {
                region: text.to_owned(),
                code,
                with,
            });
        }
        REGIONS
            .iter()
            .find(|(r, _)| *r == region)
            .map(|(_, code)| CallingPrefix((*code).to_owned()))
            .ok_or_else(|| CountryRuleError::UnknownRegion(text.to_owned()))
    }

    fn matches(&self, number: &PhoneNumber) -> bool {
        number.digits().starts_with(&self.0)
    }
}

impl std::fmt::Display for CallingPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "+{}", self.0)
    }
}

/// Which phone numbers may be enrolled and sent to, by calling code (the geo permissions of
/// Twilio's and IBM Verify's OTP services). Checked when a phone is added and again before
/// every code or notice, so a phone stored before a rule changed gets nothing the rule
/// refuses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CountryRules {
    /// If not empty, only numbers under these.
    pub allowed: Vec<CallingPrefix>,
    /// Never numbers under these; wins over `allowed`.
    pub denied: Vec<CallingPrefix>,
}

impl CountryRules {
    /// Whether `number` may be used: not denied, allowed (when `allowed` is not empty), and
    /// outside [`INTERNATIONAL_RANGES`] unless an `allowed` entry covers it.
    pub fn check(&self, number: &PhoneNumber) -> Result<(), ContactError> {
        let code = number.calling_code();
        let refused = |international| ContactError::CountryRefused {
            code: format!("+{code}"),
            international,
        };
        let international = INTERNATIONAL_RANGES.iter().any(|(c, _)| *c == code);
        if self.denied.iter().any(|p| p.matches(number)) {
            return Err(refused(international));
        }
        let named = self.allowed.iter().any(|p| p.matches(number));
        if named || (self.allowed.is_empty() && !international) {
            Ok(())
        } else {
            Err(refused(international))
        }
    }
}

/// Where codes go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Destination {
    /// A phone.
    Phone {
        /// The number.
        number: PhoneNumber,
        /// Calls only (a landline): never sent a text message.
        #[serde(default)]
        voice_only: bool,
    },
    /// An email address.
    Email {
        /// The address.
        address: EmailAddress,
    },
}

impl Destination {
    /// Phone or email.
    pub fn kind(&self) -> ContactKind {
        match self {
            Destination::Phone { .. } => ContactKind::Phone,
            Destination::Email { .. } => ContactKind::Email,
        }
    }

    /// The number or address as the provider needs it.
    pub fn address(&self) -> &str {
        match self {
            Destination::Phone { number, .. } => number.as_str(),
            Destination::Email { address } => address.as_str(),
        }
    }

    /// Masked for display.
    pub fn masked(&self) -> String {
        match self {
            Destination::Phone { number, .. } => number.masked(),
            Destination::Email { address } => address.masked(),
        }
    }

    /// The channels it receives codes by, in menu order.
    pub fn channels(&self) -> &'static [Channel] {
        match self {
            Destination::Phone {
                voice_only: false, ..
            } => &[Channel::Sms, Channel::Voice],
            Destination::Phone {
                voice_only: true, ..
            } => &[Channel::Voice],
            Destination::Email { .. } => &[Channel::Email],
        }
    }
}

/// One enrolled phone or address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    /// Where codes go.
    pub destination: Destination,
    /// The user's name for it, unique per user.
    pub label: String,
    /// False if root provisioned it without a confirmation code.
    pub verified: bool,
    /// Unix time it was added.
    pub added_at: u64,
}

impl Contact {
    /// Whether `which` names this contact: its label (any case), its masked form, or the
    /// number or address itself.
    pub fn is_named(&self, which: &str) -> bool {
        let which = which.trim();
        self.label.eq_ignore_ascii_case(which)
            || self.destination.masked() == which
            || self.destination.address().eq_ignore_ascii_case(which)
    }
}

/// Checks a label, or makes one (`phone`, `phone2`, `email`, ...) when none is given.
pub fn label_for(
    given: Option<&str>,
    kind: ContactKind,
    existing: &[Contact],
) -> Result<String, ContactError> {
    let taken = |l: &str| existing.iter().any(|c| c.label.eq_ignore_ascii_case(l));
    if let Some(label) = given {
        let label = label.trim();
        if label.is_empty()
            || label.chars().count() > MAX_LABEL
            || label.chars().any(char::is_control)
        {
            return Err(ContactError::BadLabel);
        }
        if taken(label) {
            return Err(ContactError::Duplicate);
        }
        return Ok(label.to_owned());
    }
    let base = match kind {
        ContactKind::Phone => "phone",
        ContactKind::Email => "email",
    };
    let label = (1..)
        .map(|n| {
            if n == 1 {
                base.to_owned()
            } else {
                format!("{base}{n}")
            }
        })
        .find(|l| !taken(l))
        .unwrap_or_else(|| base.to_owned());
    Ok(label)
}

/// Whether `destination` may join `existing`: not already there, and room for it.
pub fn check_new(destination: &Destination, existing: &[Contact]) -> Result<(), ContactError> {
    if existing.len() >= MAX_CONTACTS {
        return Err(ContactError::TooMany);
    }
    if existing.iter().any(|c| {
        c.destination
            .address()
            .eq_ignore_ascii_case(destination.address())
    }) {
        return Err(ContactError::Duplicate);
    }
    Ok(())
}

/// One entry of the login menu: a channel to a contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuOption {
    /// How.
    pub channel: Channel,
    /// Index into the record's contacts.
    pub contact: usize,
    /// Masked destination.
    pub to: String,
}

/// The login menu: per phone in enrollment order its text option then its call, then the
/// email addresses. Only channels in `available` (a provider is configured) are offered.
pub fn menu(contacts: &[Contact], available: &dyn Fn(Channel) -> bool) -> Vec<MenuOption> {
    let mut phones = Vec::new();
    let mut emails = Vec::new();
    for (i, contact) in contacts.iter().enumerate() {
        for &channel in contact.destination.channels() {
            if !available(channel) {
                continue;
            }
            let option = MenuOption {
                channel,
                contact: i,
                to: contact.destination.masked(),
            };
            match contact.destination {
                Destination::Phone { .. } => phones.push(option),
                Destination::Email { .. } => emails.push(option),
            }
        }
    }
    phones.extend(emails);
    phones
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_e164_numbers_are_accepted() {
        for good in [
            "+14155550123",
            "+442071838750",
            "+4915112345678",
            "+35312345678",
        ] {
            assert!(PhoneNumber::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "14155550123",
            "+1 415 555 0123",
            "+1-415-555-0123",
            "+0123456789",
            "+1234567",
            "+1234567890123456",
            "+1415555012a",
            "",
            "+",
        ] {
            assert_eq!(
                PhoneNumber::parse(bad),
                Err(ContactError::BadPhone),
                "{bad}"
            );
        }
        assert!(ContactError::BadPhone.to_string().contains("+14155550123"));
    }

    #[test]
    fn numbers_are_masked_to_country_code_and_last_four() {
        let mask = |n: &str| PhoneNumber::parse(n).unwrap().masked();
        assert_eq!(mask("+14155554567"), "+1 •••-•••-4567");
        assert_eq!(mask("+442071838750"), "+44 •••-•••-8750");
        assert_eq!(mask("+35312345678"), "+353 ••••-5678");
        assert_eq!(mask("+4915112345678"), "+49 ••••-•••-5678");
        assert!(!mask("+14155554567").contains("415"));
    }

    #[test]
    fn plain_addresses_only_and_masked() {
        let a = EmailAddress::parse("Alice.B+mfa@Example.COM").unwrap();
        assert_eq!(a.as_str(), "Alice.B+mfa@example.com");
        assert_eq!(a.masked(), "A•••@example.com");
        for bad in [
            "alice",
            "alice@",
            "@example.com",
            "alice@example",
            "a b@example.com",
            "alice@exa mple.com",
            "\"alice\"@example.com",
            "alice@-example.com",
            "alice@example..com",
            "al..ice@example.com",
            "alice@example.com\n",
        ] {
            assert_eq!(
                EmailAddress::parse(bad),
                Err(ContactError::BadEmail),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn domain_rules_match_subdomains_and_deny_wins() {
        let rules = DomainRules {
            allowed: vec!["example.com".into()],
            denied: vec!["old.example.com".into()],
        };
        let check = |a: &str| rules.check(&EmailAddress::parse(a).unwrap());
        assert!(check("a@example.com").is_ok());
        assert!(check("a@mail.example.com").is_ok());
        assert!(check("a@old.example.com").is_err());
        assert!(check("a@badexample.com").is_err());
        assert!(check("a@example.org").is_err());
        assert!(
            DomainRules::default()
                .check(&EmailAddress::parse("a@anything.net").unwrap())
                .is_ok()
        );
    }

    fn rules(allowed: &[&str], denied: &[&str]) -> CountryRules {
        let parse = |list: &[&str]| {
            list.iter()
                .map(|t| CallingPrefix::parse(t).unwrap())
                .collect()
        };
        CountryRules {
            allowed: parse(allowed),
            denied: parse(denied),
        }
    }

    #[test]
    fn international_and_premium_ranges_are_refused_unless_allowed() {
        let number = |n: &str| PhoneNumber::parse(n).unwrap();
        let open = CountryRules::default();
        assert!(open.check(&number("+14155550123")).is_ok());
        assert!(open.check(&number("+442071838750")).is_ok());
        for n in [
            "+88216123456",
            "+8835100123456",
            "+881612345678",
            "+870772123456",
            "+979123456789",
            "+80812345678",
        ] {
            let refused = open.check(&number(n)).unwrap_err();
            assert!(
                matches!(
                    refused,
                    ContactError::CountryRefused {
                        international: true,
                        ..
                    }
                ),
                "{n}: {refused:?}"
            );
            assert!(refused.to_string().contains(&n[..4]), "{refused}");
        }
        // Named explicitly (or a prefix inside the range), it is allowed.
        let iridium = rules(&["+8816", "+44"], &[]);
        assert!(iridium.check(&number("+881612345678")).is_ok());
        assert!(iridium.check(&number("+881812345678")).is_err());
        assert!(iridium.check(&number("+442071838750")).is_ok());
        assert!(iridium.check(&number("+14155550123")).is_err());
    }

    #[test]
    fn country_rules_take_calling_codes_and_regions_and_deny_wins() {
        let number = |n: &str| PhoneNumber::parse(n).unwrap();
        let r = rules(&["GB", "de", "+1"], &["+1900", "+4470"]);
        assert!(r.check(&number("+442071838750")).is_ok());
        assert!(r.check(&number("+4915112345678")).is_ok());
        assert!(r.check(&number("+14155550123")).is_ok());
        assert!(r.check(&number("+19005550123")).is_err());
        assert!(r.check(&number("+447012345678")).is_err());
        assert_eq!(
            r.check(&number("+33612345678")),
            Err(ContactError::CountryRefused {
                code: "+33".into(),
                international: false
            })
        );
        let denied = rules(&[], &["FR"]);
        assert!(denied.check(&number("+33612345678")).is_err());
        assert!(denied.check(&number("+34612345678")).is_ok());
    }

    #[test]
    fn bad_country_entries_say_what_to_write() {
        for (text, words) in [
            ("+4", "shorter than the calling code"),
            ("+88", "shorter than the calling code"),
            ("44", "neither a calling code"),
            ("+44 20", "neither a calling code"),
            ("+012", "neither a calling code"),
            ("GBR", "neither a calling code"),
            ("XK", "not one of the regions"),
            ("US", "+1"),
            ("ca", "North American"),
            ("RU", "+7"),
        ] {
            let e = CallingPrefix::parse(text).unwrap_err();
            assert!(e.to_string().contains(words), "{text}: {e}");
        }
        for good in ["+1", "+7", "+44", "+353", "+1876", "+8816", "GB", "nz"] {
            assert!(CallingPrefix::parse(good).is_ok(), "{good}");
        }
        // Every region in the table names a whole calling code.
        for (region, code) in REGIONS {
            assert_eq!(country_code_len(code), code.len(), "{region}");
        }
        for (code, _) in INTERNATIONAL_RANGES {
            assert_eq!(country_code_len(code), 3, "{code}");
        }
    }

    fn phone(n: &str, voice_only: bool, label: &str) -> Contact {
        Contact {
            destination: Destination::Phone {
                number: PhoneNumber::parse(n).unwrap(),
                voice_only,
            },
            label: label.into(),
            verified: true,
            added_at: 0,
        }
    }

    fn email(a: &str, label: &str) -> Contact {
        Contact {
            destination: Destination::Email {
                address: EmailAddress::parse(a).unwrap(),
            },
            label: label.into(),
            verified: true,
            added_at: 0,
        }
    }

    #[test]
    fn menu_lists_phones_text_then_call_then_emails() {
        let contacts = vec![
            email("a@example.com", "email"),
            phone("+14155554567", false, "mobile"),
            phone("+14155550000", true, "desk"),
        ];
        let menu = menu(&contacts, &|_| true);
        let got: Vec<(Channel, usize)> = menu.iter().map(|o| (o.channel, o.contact)).collect();
        assert_eq!(
            got,
            vec![
                (Channel::Sms, 1),
                (Channel::Voice, 1),
                (Channel::Voice, 2),
                (Channel::Email, 0)
            ]
        );
        let no_sms = super::menu(&contacts, &|c| c != Channel::Sms);
        assert_eq!(no_sms.len(), 3);
    }

    #[test]
    fn labels_are_made_unique_and_contacts_named_three_ways() {
        let existing = vec![phone("+14155554567", false, "phone")];
        assert_eq!(
            label_for(None, ContactKind::Phone, &existing).unwrap(),
            "phone2"
        );
        assert_eq!(
            label_for(Some("PHONE"), ContactKind::Phone, &existing),
            Err(ContactError::Duplicate)
        );
        assert_eq!(
            label_for(Some("a\u{7}"), ContactKind::Phone, &existing),
            Err(ContactError::BadLabel)
        );
        let c = &existing[0];
        assert!(c.is_named("Phone"));
        assert!(c.is_named("+1 •••-•••-4567"));
        assert!(c.is_named("+14155554567"));
        assert!(!c.is_named("+14155554568"));
        let dup = phone("+14155554567", true, "x").destination;
        assert_eq!(check_new(&dup, &existing), Err(ContactError::Duplicate));
    }
}
