//! A stand-in for Twilio's REST API on 127.0.0.1: `POST /2010-04-01/Accounts/{AccountSid}/
//! Messages.json` and `.../Calls.json`, as Twilio documents them: HTTP Basic auth with the
//! account SID and auth token, form-encoded parameters, `201 Created` with the new resource
//! (`status: "queued"`), and errors as Twilio's JSON `{code, message, more_info, status}`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;

use super::http::{HttpServer, Reply, Request};

const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Which endpoint accepted a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `Messages.json`: an SMS.
    Sms,
    /// `Calls.json`: a voice call.
    Call,
}

/// A message the stand-in accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// SMS or call.
    pub kind: Kind,
    /// The `To` parameter.
    pub to: String,
    /// The `From` parameter, if given.
    pub from: Option<String>,
    /// The `MessagingServiceSid` parameter, if given.
    pub messaging_service_sid: Option<String>,
    /// The SMS `Body`, or the call's `Twiml`.
    pub body: String,
    /// The SID the stand-in gave it (`SM…` or `CA…`).
    pub sid: String,
}

/// A failure the stand-in can be told to answer with, as Twilio would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// 400, code 21211: the `To` number is not a valid phone number.
    InvalidNumber,
    /// 400, code 21614: the `To` number is not a mobile number.
    NotMobile,
    /// 400, code 21608: a trial account may send only to verified numbers.
    Unverified,
    /// 401, code 20003: authentication failed.
    BadCredentials,
    /// 429, code 20429: too many requests.
    TooManyRequests,
    /// 500, code 20500: an internal error.
    ServerError,
    /// Reads the request and never answers.
    Stall,
}

impl Failure {
    fn reply(self) -> Reply {
        match self {
            Failure::InvalidNumber => {
                error(400, 21211, "The 'To' number is not a valid phone number.")
            }
            Failure::NotMobile => error(400, 21614, "'To' number is not a valid mobile number"),
            Failure::Unverified => error(
                400,
                21608,
                "The number is unverified. Trial accounts cannot send messages to unverified \
                 numbers.",
            ),
            Failure::BadCredentials => error(401, 20003, "Authenticate"),
            Failure::TooManyRequests => error(429, 20429, "Too Many Requests"),
            Failure::ServerError => error(500, 20500, "Internal Server Error"),
            Failure::Stall => Reply::Stall,
        }
    }
}

fn error(status: u16, code: u32, message: &str) -> Reply {
    Reply::Json(
        status,
        json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status,
        })
        .to_string(),
    )
}

#[derive(Debug, Default)]
struct State {
    received: Vec<Received>,
    /// Whether a `wait_for` already handed out the message at the same index of `received`.
    claimed: Vec<bool>,
    failures: VecDeque<Failure>,
    requests: usize,
}

/// The running stand-in; stops on drop.
#[derive(Debug)]
pub struct TwilioStandin {
    state: Arc<Mutex<State>>,
    server: HttpServer,
}

impl TwilioStandin {
    /// Serves the account `account_sid` with `auth_token` on a free port of 127.0.0.1.
    pub fn start(account_sid: &str, auth_token: &str) -> TwilioStandin {
        let state = Arc::new(Mutex::new(State::default()));
        let server = {
            let state = Arc::clone(&state);
            let account_sid = account_sid.to_owned();
            let auth_token = auth_token.to_owned();
            HttpServer::start(move |request| {
                let mut state = state.lock().expect("stand-in state");
                state.requests += 1;
                if let Some(failure) = state.failures.pop_front() {
                    return failure.reply();
                }
                answer(&mut state, &account_sid, &auth_token, request)
            })
        };
        TwilioStandin { state, server }
    }

    /// The base URL, for `[twilio] api_url`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Every message accepted so far, oldest first.
    pub fn messages(&self) -> Vec<Received> {
        self.state.lock().expect("stand-in state").received.clone()
    }

    /// Every request so far, refused ones included.
    pub fn requests(&self) -> usize {
        self.state.lock().expect("stand-in state").requests
    }

    /// Answers the next `n` requests with `failure` instead of serving them.
    pub fn fail_next(&self, n: usize, failure: Failure) {
        let mut state = self.state.lock().expect("stand-in state");
        state.failures.extend(std::iter::repeat_n(failure, n));
    }

    /// The oldest message to `to` that no earlier `wait_for` returned, waiting up to `timeout`
    /// for it; panics if none comes.
    pub fn wait_for(&self, to: &str, timeout: Duration) -> Received {
        self.wait_for_where(to, timeout, |_| true)
    }

    /// The oldest message to `to` that `wanted` accepts and no earlier `wait_for` returned,
    /// waiting up to `timeout` for it; panics if none comes. Messages `wanted` refuses stay
    /// unclaimed (a code is not mistaken for a notice, nor a notice for a code).
    pub fn wait_for_where(
        &self,
        to: &str,
        timeout: Duration,
        wanted: impl Fn(&Received) -> bool,
    ) -> Received {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let mut state = self.state.lock().expect("stand-in state");
                let state = &mut *state;
                let found =
                    state.received.iter().zip(state.claimed.iter_mut()).find(
                        |(message, claimed)| message.to == to && !**claimed && wanted(message),
                    );
                if let Some((message, claimed)) = found {
                    *claimed = true;
                    return message.clone();
                }
            }
            assert!(
                Instant::now() < deadline,
                "no such message to {to} within {timeout:?}; received: {:?}",
                self.messages()
            );
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// The messages accepted so far that went to `to`, oldest first.
    pub fn messages_to(&self, to: &str) -> Vec<Received> {
        self.messages()
            .into_iter()
            .filter(|message| message.to == to)
            .collect()
    }
}

/// Serves one request that no injected failure took.
fn answer(state: &mut State, account_sid: &str, auth_token: &str, request: &Request) -> Reply {
    let prefix = format!("/2010-04-01/Accounts/{account_sid}/");
    let kind = match request.path.strip_prefix(&prefix) {
        Some("Messages.json") => Kind::Sms,
        Some("Calls.json") => Kind::Call,
        _ => return error(404, 20404, "The requested resource was not found"),
    };
    if request.method != "POST" {
        return error(405, 20004, "Method not allowed");
    }
    if request.basic_auth() != Some((account_sid.to_owned(), auth_token.to_owned())) {
        return error(401, 20003, "Authenticate");
    }
    if !request
        .header("Content-Type")
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"))
    {
        return error(
            400,
            20001,
            "Content-Type must be application/x-www-form-urlencoded",
        );
    }
    let form = request.form();
    let field = |name: &str| {
        form.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let Some(to) = field("To") else {
        return error(400, 21604, "A 'To' phone number is required.");
    };
    if !is_e164(&to) {
        return error(
            400,
            21211,
            &format!("The 'To' number {to} is not a valid phone number."),
        );
    }
    let from = field("From");
    let messaging_service_sid = field("MessagingServiceSid");
    let (body, sid_prefix) = match kind {
        Kind::Sms => {
            if from.is_none() && messaging_service_sid.is_none() {
                return error(
                    400,
                    21603,
                    "A 'From' or 'MessagingServiceSid' parameter is required to send a message",
                );
            }
            let Some(body) = field("Body") else {
                return error(400, 21602, "Message body is required.");
            };
            (body, "SM")
        }
        Kind::Call => {
            if from.is_none() {
                return error(400, 21213, "Caller phone number is required");
            }
            let Some(twiml) = field("Twiml") else {
                return error(400, 21205, "Url parameter is required (or Twiml).");
            };
            if !twiml.starts_with("<Response>") || !twiml.ends_with("</Response>") {
                return error(400, 12100, "Document parse failure");
            }
            (twiml, "CA")
        }
    };
    let sid = format!("{sid_prefix}{:032x}", state.received.len() + 1);
    let resource = match kind {
        Kind::Sms => json!({
            "sid": sid, "account_sid": account_sid, "to": to, "from": from,
            "messaging_service_sid": messaging_service_sid, "body": body,
            "status": "queued", "num_segments": "1", "direction": "outbound-api",
            "api_version": "2010-04-01", "error_code": null, "error_message": null,
            "uri": format!("{prefix}Messages/{sid}.json"),
        }),
        Kind::Call => json!({
            "sid": sid, "account_sid": account_sid, "to": to, "from": from,
            "status": "queued", "direction": "outbound-api", "api_version": "2010-04-01",
            "uri": format!("{prefix}Calls/{sid}.json"),
        }),
    };
    state.received.push(Received {
        kind,
        to,
        from,
        messaging_service_sid,
        body,
        sid,
    });
    state.claimed.push(false);
    Reply::Json(201, resource.to_string())
}

fn is_e164(number: &str) -> bool {
    number.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

/// The code in an SMS body or a call's TwiML: the first run of 4 to 10 digits ("123456 is
/// your…"), or else of 4 to 10 single digits separated by ", " as a voice reads them
/// ("1, 2, 3, 4, 5, 6").
pub fn extract_code(text: &str) -> Option<String> {
    let runs: Vec<&str> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|run| (4..=10).contains(&run.len()))
        .collect();
    if let Some(run) = runs.first() {
        return Some((*run).to_owned());
    }
    let bytes = text.as_bytes();
    let digit_at = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_digit);
    let mut i = 0;
    while i < bytes.len() {
        if !digit_at(i) || (i > 0 && digit_at(i - 1)) {
            i += 1;
            continue;
        }
        let mut spoken = String::new();
        let mut j = i;
        loop {
            if digit_at(j + 1) {
                // A number of several digits, not one read digit by digit.
                spoken.clear();
                break;
            }
            spoken.push(char::from(bytes[j]));
            if bytes[j + 1..].starts_with(b", ") && digit_at(j + 3) {
                j += 3;
            } else {
                break;
            }
        }
        if (4..=10).contains(&spoken.len()) {
            return Some(spoken);
        }
        i = j + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_found_in_sms_and_twiml() {
        assert_eq!(
            extract_code("123456 is your verification code for db1. It expires in 5 minutes."),
            Some("123456".to_owned())
        );
        assert_eq!(
            extract_code(
                "<Response><Say>Your verification code for db1 is 1, 2, 3, 4, 5, 6. Again: 1, \
                 2, 3, 4, 5, 6.</Say></Response>"
            ),
            Some("123456".to_owned())
        );
        assert_eq!(extract_code("host 10.0.0.1, 2 things"), None);
        assert_eq!(extract_code("no code here"), None);
    }
}
