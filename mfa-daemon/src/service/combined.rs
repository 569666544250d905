//! The password and the code in one field (the module's `code_in_password` option), for
//! clients with a single password box (GUI and VPN clients, mail programs). The module sends
//! the end of the field; this decides how much of it is a code or a delivery keyword, checks
//! the code through the menu's own path ([`Verifying::answer_code`]), and tells the module
//! how many bytes to take off before it hands the rest to the password module.
//!
//! Where the code ends is read from the user's record (the digits of each app and token, the
//! shapes of recovery, scratch and bypass codes), never guessed from what was typed. With a
//! one-field client the user sees nothing of the outcome but PAM's result: a wrong code and
//! a right one with a wrong password look the same (no notice is shown, no prompt follows),
//! so the field cannot be used to test codes apart from passwords.

use mfa_core::factor::{bypass, recovery};
use mfa_proto::{Outcome, Secret};

use super::menu::{Keyword, Menu, Verifying};
use super::{Finished, Next, Notice, Phase, Question};
use crate::connection::Presence;
use crate::error::DaemonError;
use crate::store::UserRecord;

/// The code length assumed for a user with no code factor (or no account), so that the
/// field is split as for most users and such a name takes the same path.
const DEFAULT_DIGITS: usize = 6;
/// Lengths of a recovery or bypass code as shown to the user: `abcd-efgh-jkmn` and
/// `abcdefghjkmn` (a bypass code has the same lengths in digits).
const GROUPED_LENGTHS: [usize; 2] = [14, 12];
/// An imported google-authenticator scratch code.
const SCRATCH_LEN: usize = 8;
/// A keyword chose a way the user has nothing for; the menu follows (a one-field client
/// cannot answer it, and the login fails there).
const NO_SUCH_CONTACT: &str = "Nothing to send a code to that way.";

/// How a code may end a field, from the user's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CodeEnds {
    /// Digits of the user's apps and tokens.
    digits: Vec<usize>,
    /// Whether unused recovery codes remain.
    recovery: bool,
    /// Whether imported 8-digit scratch codes remain.
    scratch: bool,
    /// Whether a bypass code is live.
    bypass: bool,
}

impl CodeEnds {
    /// What `record` lets a code look like at `now`.
    pub(super) fn of(record: &UserRecord, now: u64) -> CodeEnds {
        let digits = record
            .totp
            .iter()
            .map(|app| usize::from(app.params.digits))
            .chain(record.hotp.iter().map(|token| usize::from(token.digits)))
            .collect();
        CodeEnds {
            digits,
            recovery: !record.recovery_codes.is_empty(),
            scratch: recovery::holds_scratch_codes(&record.recovery_codes),
            bypass: record.bypass.as_ref().is_some_and(|g| g.is_live(now)),
        }
    }

    /// The lengths in bytes of the field's ends that may be a code, longest first (each is
    /// checked, and each wrong one counts as a wrong code). An end only counts when it has
    /// the shape of a code the user holds.
    pub(super) fn candidates(&self, field: &str) -> Vec<usize> {
        let mut digits = self.digits.clone();
        if digits.is_empty() {
            digits.push(DEFAULT_DIGITS);
        }
        if self.scratch {
            digits.push(SCRATCH_LEN);
        }
        let mut lengths: Vec<usize> = digits
            .into_iter()
            .filter(|&n| {
                end_of(field, n).is_some_and(|end| end.bytes().all(|b| b.is_ascii_digit()))
            })
            .collect();
        for n in GROUPED_LENGTHS {
            let Some(end) = end_of(field, n) else {
                continue;
            };
            if (self.recovery && recovery::normalize(end).is_some())
                || (self.bypass && bypass::normalize(end).is_some())
            {
                lengths.push(n);
            }
        }
        lengths.sort_unstable_by(|a, b| b.cmp(a));
        lengths.dedup();
        lengths
    }
}

/// The last `n` bytes of `field`, if it has that many and they start a character. Spaces
/// are not part of a code here: a code ends the field exactly.
fn end_of(field: &str, n: usize) -> Option<&str> {
    let start = field.len().checked_sub(n)?;
    let end = field.get(start..)?;
    (!end.contains(char::is_whitespace)).then_some(end)
}

/// A keyword after the field's last comma, and how many bytes it takes with its comma.
pub(super) fn keyword_of(field: &str) -> Option<(Keyword, usize)> {
    let (_, word) = field.rsplit_once(',')?;
    Keyword::parse(word).map(|k| (k, word.len() + 1))
}

/// What a field that ends in no code the user holds means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WithoutCode {
    /// A wrong code: the client has one field and cannot be asked (the module's
    /// `code_in_password`), and must not learn that the field held no code.
    Wrong,
    /// The whole field is the password, and the first question is asked as usual: the
    /// front end can ask (a RADIUS Access-Challenge), and checks the password before it
    /// shows the question.
    Ask,
}

/// What the field led to: the bytes the module takes off its end (none when the daemon did
/// not look at the field), and the login's next step.
#[derive(Debug)]
pub struct Split {
    /// Bytes of the field that were the code or the keyword.
    pub strip: Option<usize>,
    /// What the front end does next.
    pub next: Next,
}

/// Answers the login's first question with the end of its password field. Only the menu
/// takes one; any other first question (enrolling at login, an approval already sent) is
/// asked as usual and the field is left as it is. `presence` is asked before each code.
pub async fn answer_field(
    question: Box<Question>,
    field_end: Secret,
    without_code: WithoutCode,
    presence: &(dyn Fn() -> Result<Presence, DaemonError> + Sync),
) -> Split {
    let Question {
        notices,
        prompt,
        echo,
        phase,
        attempt,
    } = *question;
    let login = match phase {
        Phase::Menu(Menu { login }) => login,
        phase => {
            let question = Question {
                notices,
                prompt,
                echo,
                phase,
                attempt,
            };
            return Split {
                strip: None,
                next: Next::Ask(Box::new(question)),
            };
        }
    };
    let field = field_end.expose();
    if let Some((keyword, strip)) = keyword_of(field) {
        let next = match login.entry_for(keyword) {
            Some(entry) => match presence() {
                Ok(presence) => {
                    let choice = Secret::from(entry.to_string());
                    Menu { login }.answer(attempt, choice, presence).await
                }
                Err(e) => fail_closed(&attempt, &e),
            },
            None => login.next_round(attempt, vec![Notice::Error(NO_SUCH_CONTACT.to_owned())]),
        };
        return Split {
            strip: Some(strip),
            next,
        };
    }
    let now = attempt.now();
    let subject = login.subject.clone();
    let record = attempt
        .shared
        .blocking(attempt.caller.class(), move |a| Ok(a.record(&subject)?))
        .await;
    let ends = match record {
        Ok(record) => CodeEnds::of(&record, now),
        Err(e) => {
            return Split {
                strip: None,
                next: fail_closed(&attempt, &e),
            };
        }
    };
    let candidates = ends.candidates(field);
    if candidates.is_empty() && without_code == WithoutCode::Ask {
        let question = Question {
            notices,
            prompt,
            echo,
            phase: Phase::Menu(Menu { login }),
            attempt,
        };
        return Split {
            strip: None,
            next: Next::Ask(Box::new(question)),
        };
    }
    let next = try_codes(login, attempt, field, &candidates, presence).await;
    Split {
        strip: next.1.or(candidates.first().copied()),
        next: next.0,
    }
}

/// Checks each candidate end as a code until one is accepted or the login ends; the field
/// with no candidate is checked as an empty code (it counts as a wrong one). Returns the
/// length that was accepted, if one was.
async fn try_codes(
    mut login: Verifying,
    mut attempt: Box<super::Attempt>,
    field: &str,
    candidates: &[usize],
    presence: &(dyn Fn() -> Result<Presence, DaemonError> + Sync),
) -> (Next, Option<usize>) {
    let tries: Vec<Option<usize>> = if candidates.is_empty() {
        vec![None]
    } else {
        candidates.iter().copied().map(Some).collect()
    };
    for (i, length) in tries.iter().enumerate() {
        let code = length.and_then(|n| end_of(field, n)).unwrap_or_default();
        let presence = match presence() {
            Ok(presence) => presence,
            Err(e) => return (fail_closed(&attempt, &e), None),
        };
        let next = login
            .answer_code(attempt, Secret::from(code), presence)
            .await;
        match next {
            Next::Ask(question) if i + 1 < tries.len() => {
                // Refused, and another length is left: the menu that would be asked again
                // gives the login back.
                let Question {
                    phase, attempt: a, ..
                } = *question;
                let Phase::Menu(menu) = phase else {
                    return (Next::done(Vec::new(), Outcome::Failure), None);
                };
                login = menu.login;
                attempt = a;
            }
            Next::Done(Finished { outcome, .. }) => {
                let accepted = (outcome == Outcome::Success).then_some(*length).flatten();
                return (silent(outcome), accepted);
            }
            Next::Ask(_) => return (silent(Outcome::Failure), None),
            Next::Gone => return (Next::Gone, None),
        }
    }
    (silent(Outcome::Failure), None)
}

/// The end of a login with no word shown: a one-field client must not learn from a notice
/// whether its code was right ("Recovery code accepted", "Invalid code").
fn silent(outcome: Outcome) -> Next {
    Next::done(Vec::new(), outcome)
}

/// The connection could not be watched or the record not read: the login fails closed.
fn fail_closed(attempt: &super::Attempt, e: &DaemonError) -> Next {
    tracing::error!("cannot decide for {}: {e}", attempt.user);
    Next::done(Vec::new(), attempt.store_failed(e.is_unavailable()))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::app::Shared;
    use crate::clock::{Clock, ManualClock, UnixTime};
    use crate::connection::Connection;
    use crate::service::tests::{SSHD, enroll_root, service, sshd_login};
    use mfa_proto::Channel;

    fn ends(digits: &[usize]) -> CodeEnds {
        CodeEnds {
            digits: digits.to_vec(),
            recovery: false,
            scratch: false,
            bypass: false,
        }
    }

    #[test]
    fn a_six_digit_app_takes_six_digits() {
        assert_eq!(ends(&[6]).candidates("hunter2492039"), vec![6]);
        // The password's own digits are not taken as part of the code.
        assert_eq!(ends(&[6]).candidates("Summer2024492039"), vec![6]);
    }

    #[test]
    fn the_length_comes_from_the_record_not_the_field() {
        // Eight digits typed, but the user's only app has six: the password keeps two.
        assert_eq!(ends(&[6]).candidates("pw12345678"), vec![6]);
        assert_eq!(ends(&[8]).candidates("pw12345678"), vec![8]);
        assert_eq!(ends(&[8]).candidates("pw123456"), Vec::<usize>::new());
        // Apps of both lengths: both ends are tried, the longer first.
        assert_eq!(ends(&[6, 8]).candidates("pw12345678"), vec![8, 6]);
        assert_eq!(ends(&[6, 6, 8]).candidates("pw1x345678"), vec![6]);
        // No code factor: the default length, as for an unknown name.
        assert_eq!(ends(&[]).candidates("pw123456"), vec![6]);
    }

    #[test]
    fn a_field_shorter_than_any_code_has_no_candidate() {
        assert!(ends(&[6]).candidates("12345").is_empty());
        assert!(ends(&[6]).candidates("").is_empty());
        assert!(ends(&[6]).candidates("hunter2").is_empty());
    }

    #[test]
    fn a_field_that_is_all_code_leaves_an_empty_password() {
        assert_eq!(ends(&[6]).candidates("492039"), vec![6]);
    }

    #[test]
    fn recovery_and_bypass_shapes_count_only_when_held() {
        let field = "hunter2abcd-efgh-jkmn";
        assert!(ends(&[6]).candidates(field).is_empty());
        let held = CodeEnds {
            recovery: true,
            ..ends(&[6])
        };
        assert_eq!(held.candidates(field), vec![14]);
        assert_eq!(held.candidates("hunter2abcdefghjkmn"), vec![12]);
        let bypass = CodeEnds {
            bypass: true,
            ..ends(&[6])
        };
        assert_eq!(bypass.candidates("pw1234-5678-9012"), vec![14]);
        // Twelve digits could also end in an app's six: both are checked, the longer first.
        assert_eq!(bypass.candidates("pw123456789012"), vec![12, 6]);
        let scratch = CodeEnds {
            scratch: true,
            ..ends(&[6])
        };
        assert_eq!(scratch.candidates("pw12345678"), vec![8, 6]);
    }

    #[test]
    fn non_ascii_passwords_split_on_character_boundaries() {
        // "pässwort" then a code: the byte count stays on the code.
        assert_eq!(ends(&[6]).candidates("pässwort492039"), vec![6]);
        // The end would start inside a character: no candidate of that length.
        assert!(ends(&[6]).candidates("ä12345").is_empty());
        assert_eq!(ends(&[6]).candidates("ä123456"), vec![6]);
    }

    #[test]
    fn a_keyword_after_the_last_comma_chooses_a_delivery() {
        assert_eq!(
            keyword_of("hunter2,sms"),
            Some((Keyword::Send(Channel::Sms), 4))
        );
        assert_eq!(
            keyword_of("hunter2,call"),
            Some((Keyword::Send(Channel::Voice), 5))
        );
        assert_eq!(
            keyword_of("hunter2,EMAIL"),
            Some((Keyword::Send(Channel::Email), 6))
        );
        assert_eq!(keyword_of("hunter2,push"), Some((Keyword::Push, 5)));
        assert_eq!(keyword_of(",sms"), Some((Keyword::Send(Channel::Sms), 4)));
    }

    #[test]
    fn commas_in_the_password_are_its_own() {
        assert_eq!(keyword_of("a,b,c492039"), None);
        assert_eq!(keyword_of("sms,pw492039"), None);
        assert_eq!(keyword_of("pw,sms492039"), None);
        assert_eq!(keyword_of("pw,sms,"), None);
        assert_eq!(
            keyword_of("a,sms,b,sms"),
            Some((Keyword::Send(Channel::Sms), 4))
        );
        assert_eq!(ends(&[6]).candidates("a,b,c492039"), vec![6]);
    }

    /// Root's sshd login whose password field ends with `field`: the bytes to strip, the
    /// outcome and whether anything would have been shown.
    async fn one_field(shared: &Arc<Shared>, field: &str) -> (Option<usize>, Outcome, bool) {
        let Next::Ask(question) = crate::service::start(shared, sshd_login(), SSHD)
            .await
            .unwrap()
        else {
            panic!("no question")
        };
        let (ours, _theirs) = tokio::net::UnixStream::pair().unwrap();
        let conn = Connection::new(ours, SSHD);
        let split = answer_field(question, Secret::from(field), WithoutCode::Wrong, &|| {
            conn.presence()
        })
        .await;
        match split.next {
            Next::Done(done) => (split.strip, done.outcome, !done.notices.is_empty()),
            other => panic!("the login went on: {other:?}"),
        }
    }

    fn at_mid_step() -> Arc<ManualClock> {
        Arc::new(ManualClock::at(UnixTime::from_secs(1_700_000_015)))
    }

    #[tokio::test]
    async fn a_right_and_a_wrong_code_end_alike_but_for_the_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let clock = at_mid_step();
        let shared = service(dir.path(), clock.clone());
        let generator = enroll_root(&shared);
        let code = generator.code_for_step(generator.step_at(clock.now().secs()));
        let wrong: String = code
            .chars()
            .map(|c| if c == '1' { '2' } else { '1' })
            .collect();
        assert_eq!(
            one_field(&shared, &format!("hunter2{wrong}")).await,
            (Some(6), Outcome::Failure, false)
        );
        assert_eq!(
            one_field(&shared, &format!("hunter2{}", code.as_str())).await,
            (Some(6), Outcome::Success, false)
        );
        // Consumed: the same code again fails, though the field is otherwise the same.
        assert_eq!(
            one_field(&shared, &format!("hunter2{}", code.as_str())).await,
            (Some(6), Outcome::Failure, false)
        );
    }

    #[tokio::test]
    async fn a_field_with_no_code_in_it_fails_and_keeps_the_field_whole() {
        let dir = tempfile::tempdir().unwrap();
        let shared = service(dir.path(), at_mid_step());
        enroll_root(&shared);
        assert_eq!(
            one_field(&shared, "12345").await,
            (None, Outcome::Failure, false)
        );
    }

    // A front end that can ask (RADIUS): a field with no code is the password alone, and
    // the question is asked as usual, with nothing counted; a field that ends in a code is
    // checked as for a one-field client.
    #[tokio::test]
    async fn a_front_end_that_can_ask_gets_the_question_for_a_field_with_no_code() {
        let dir = tempfile::tempdir().unwrap();
        let clock = at_mid_step();
        let shared = service(dir.path(), clock.clone());
        let generator = enroll_root(&shared);
        let ask = |field: &'static str| {
            let shared = shared.clone();
            async move {
                let Next::Ask(question) = crate::service::start(&shared, sshd_login(), SSHD)
                    .await
                    .unwrap()
                else {
                    panic!("no question")
                };
                let (ours, _theirs) = tokio::net::UnixStream::pair().unwrap();
                let conn = Connection::new(ours, SSHD);
                let presence = || conn.presence();
                let split =
                    answer_field(question, Secret::from(field), WithoutCode::Ask, &presence).await;
                (split.strip, matches!(split.next, Next::Ask(_)))
            }
        };
        assert_eq!(ask("Summer-password").await, (None, true));
        let code = generator.code_for_step(generator.step_at(clock.now().secs()));
        let field: &'static str = format!("pw{}", code.as_str()).leak();
        assert_eq!(ask(field).await, (Some(6), false));
    }
}
