//! What a recipient reads or hears: SMS texts, the TwiML of a voice call, email subjects and
//! bodies. Pure functions; the time is passed in.

use std::time::{Duration, SystemTime};

use super::Body;

/// The sentence that turns an unasked-for code into a warning.
pub(crate) const NOT_YOU: &str =
    "If you did not ask for this code, someone may know your password: tell your administrator.";
/// The same, short enough for most SMS.
const NOT_YOU_SHORT: &str = "Not you? Someone may know your password: tell your admin.";
/// Characters of GSM 03.38 text in one SMS segment.
const SMS_SEGMENT: usize = 160;
/// Characters of UCS-2 text in one SMS segment, once any character is outside GSM 03.38.
const SMS_SEGMENT_UCS2: usize = 70;

/// Whole minutes, rounded up, at least one.
pub(crate) fn minutes(valid_for: Duration) -> u64 {
    valid_for.as_secs().div_ceil(60).max(1)
}

fn expires_in(valid_for: Duration) -> String {
    match minutes(valid_for) {
        1 => "1 minute".to_owned(),
        n => format!("{n} minutes"),
    }
}

/// The text of an SMS (and of a webhook message): the code first, so that phones can offer to
/// copy it, then the host and the expiry, then the warning if the whole still fits one segment.
pub(crate) fn sms_text(body: &Body, host: &str) -> String {
    match body {
        Body::Code { code, valid_for } => {
            let base = format!(
                "{} is your verification code for {host}. It expires in {}.",
                code.as_str(),
                expires_in(*valid_for)
            );
            [NOT_YOU, NOT_YOU_SHORT]
                .iter()
                .map(|warning| format!("{base} {warning}"))
                .find(|text| fits_one_segment(text))
                .unwrap_or(base)
        }
        Body::Notice { text } | Body::ApprovalLink { text } => text.clone(),
    }
}

/// Whether `text` goes out as a single SMS segment.
pub(crate) fn fits_one_segment(text: &str) -> bool {
    match gsm7_length(text) {
        Some(septets) => septets <= SMS_SEGMENT,
        None => text.encode_utf16().count() <= SMS_SEGMENT_UCS2,
    }
}

/// Length in GSM 03.38 septets (escaped characters count two), or `None` when some character
/// is not in the GSM alphabet and the message would go out as UCS-2.
fn gsm7_length(text: &str) -> Option<usize> {
    const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
                         ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
    const EXTENDED: &str = "^{}\\[~]|€\u{c}";
    text.chars().try_fold(0, |length, c| {
        if BASIC.contains(c) {
            Some(length + 1)
        } else if EXTENDED.contains(c) {
            Some(length + 2)
        } else {
            None
        }
    })
}

/// The words a voice call speaks: the code digit by digit ("1, 2, 3"), twice.
pub(crate) fn voice_text(body: &Body, host: &str) -> String {
    match body {
        Body::Code { code, valid_for } => {
            let spoken = spell_digits(code);
            format!(
                "Your verification code for {host} is {spoken}. Again: {spoken}. It expires in \
                 {}.",
                expires_in(*valid_for)
            )
        }
        Body::Notice { text } | Body::ApprovalLink { text } => text.clone(),
    }
}

/// `"123"` as `"1, 2, 3"`, so that a text-to-speech voice reads each digit on its own.
fn spell_digits(code: &str) -> String {
    let mut spoken = String::with_capacity(code.len() * 3);
    for (i, c) in code.chars().enumerate() {
        if i > 0 {
            spoken.push_str(", ");
        }
        spoken.push(c);
    }
    spoken
}

/// TwiML for a voice call that says `body`.
pub(crate) fn twiml(body: &Body, host: &str) -> String {
    format!(
        "<Response><Say>{}</Say></Response>",
        xml_escape(&voice_text(body, host))
    )
}

/// Escapes text for an XML element or attribute.
pub(crate) fn xml_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// Subject line of an email.
pub(crate) fn email_subject(body: &Body, host: &str) -> String {
    match body {
        Body::Code { .. } => format!("Verification code for {host}"),
        Body::Notice { .. } => format!("Security notice for {host}"),
        Body::ApprovalLink { .. } => format!("Approve a sign-in to {host}"),
    }
}

/// Plain-text body of an email to `user`, sent at `now`.
pub(crate) fn email_text(body: &Body, host: &str, user: &str, now: SystemTime) -> String {
    let at = humantime::format_rfc3339_seconds(now);
    match body {
        Body::Code { code, valid_for } => format!(
            "Your verification code for {user} on {host} is:\n\n    {}\n\nIt was requested at \
             {at} (UTC) and expires in {}.\n\n{NOT_YOU}\n",
            code.as_str(),
            expires_in(*valid_for)
        ),
        Body::Notice { text } => {
            format!("{text}\n\nThis notice is about {user} on {host}, sent at {at} (UTC).\n")
        }
        Body::ApprovalLink { text } => format!(
            "{text}\n\nThis request is about {user} on {host}, sent at {at} (UTC). The page asks \
             you to match what your sign-in screen shows, then for your passkey. If you are not \
             signing in, deny it there, or ignore this message: nothing is approved without \
             your passkey.\n"
        ),
    }
}

#[cfg(test)]
mod tests {
    use zeroize::Zeroizing;

    use super::*;

    fn code(digits: &str, secs: u64) -> Body {
        Body::Code {
            code: Zeroizing::new(digits.to_owned()),
            valid_for: Duration::from_secs(secs),
        }
    }

    #[test]
    fn sms_keeps_one_segment_and_warns_when_it_fits() {
        let short = sms_text(&code("123456", 300), "db1");
        assert_eq!(
            short,
            format!("123456 is your verification code for db1. It expires in 5 minutes. {NOT_YOU}")
        );
        assert!(fits_one_segment(&short));

        let host = "bastion-01.eu-west.example.com";
        let medium = sms_text(&code("123456", 300), host);
        assert!(medium.ends_with(NOT_YOU_SHORT), "{medium}");
        assert!(fits_one_segment(&medium), "{medium}");

        let host = "h".repeat(120);
        let long = sms_text(&code("123456", 60), &host);
        assert_eq!(
            long,
            format!("123456 is your verification code for {host}. It expires in 1 minute.")
        );
    }

    #[test]
    fn minutes_round_up() {
        assert_eq!(minutes(Duration::from_secs(0)), 1);
        assert_eq!(minutes(Duration::from_secs(60)), 1);
        assert_eq!(minutes(Duration::from_secs(61)), 2);
        assert_eq!(minutes(Duration::from_secs(600)), 10);
    }

    #[test]
    fn gsm_lengths() {
        assert_eq!(gsm7_length("abc"), Some(3));
        assert_eq!(gsm7_length("a{b}"), Some(6));
        assert_eq!(gsm7_length("é"), Some(1));
        assert_eq!(gsm7_length("ł"), None);
        assert!(fits_one_segment(&"a".repeat(160)));
        assert!(!fits_one_segment(&"a".repeat(161)));
        assert!(!fits_one_segment(&format!("ł{}", "a".repeat(70))));
    }

    #[test]
    fn voice_reads_digit_by_digit_twice_in_escaped_twiml() {
        let twiml = twiml(&code("123456", 300), "a&b<c>");
        assert_eq!(
            twiml,
            "<Response><Say>Your verification code for a&amp;b&lt;c&gt; is 1, 2, 3, 4, 5, 6. \
             Again: 1, 2, 3, 4, 5, 6. It expires in 5 minutes.</Say></Response>"
        );
        let notice = twiml_notice("Don't \"panic\"");
        assert_eq!(
            notice,
            "<Response><Say>Don&apos;t &quot;panic&quot;</Say></Response>"
        );
    }

    fn twiml_notice(text: &str) -> String {
        twiml(
            &Body::Notice {
                text: text.to_owned(),
            },
            "h",
        )
    }

    #[test]
    fn an_approval_link_email_says_what_it_is_and_that_the_passkey_decides() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let link = Body::ApprovalLink {
            text: "Sign-in to db1 (sshd) from 192.0.2.1: approve or deny at https://x/approve/a"
                .to_owned(),
        };
        assert_eq!(email_subject(&link, "db1"), "Approve a sign-in to db1");
        let text = email_text(&link, "db1", "alice", now);
        assert!(text.starts_with("Sign-in to db1 (sshd)"), "{text}");
        assert!(text.contains("alice on db1"), "{text}");
        assert!(text.contains("without your passkey"), "{text}");
        // The number to match is read from the sign-in screen alone; the message never
        // speaks of one, so that nobody expects to find it there.
        assert!(!text.contains("number"), "{text}");
        assert_eq!(
            sms_text(&link, "db1"),
            text.lines().next().unwrap_or_default()
        );
        assert!(
            !format!("{link:?}").contains("https://"),
            "the link is not logged"
        );
    }

    #[test]
    fn email_has_code_host_time_validity_and_warning() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let body = code("654321", 600);
        assert_eq!(email_subject(&body, "db1"), "Verification code for db1");
        let text = email_text(&body, "db1", "alice", now);
        for part in [
            "654321",
            "alice on db1",
            "2023-11-14T22:13:20Z",
            "10 minutes",
            NOT_YOU,
        ] {
            assert!(text.contains(part), "{part} missing in {text}");
        }
        let notice = Body::Notice {
            text: "Your recovery codes were reset.".to_owned(),
        };
        assert_eq!(email_subject(&notice, "db1"), "Security notice for db1");
        let text = email_text(&notice, "db1", "alice", now);
        assert!(
            text.starts_with("Your recovery codes were reset."),
            "{text}"
        );
        assert!(text.contains("2023-11-14T22:13:20Z"), "{text}");
    }
}
