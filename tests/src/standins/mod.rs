//! Stand-ins for the OTP delivery providers, all on 127.0.0.1: Twilio's REST API, a webhook
//! receiver that checks signatures, a real SMTP server, and a Web Push service that checks
//! VAPID tokens and decrypts as the browser would. Each records what it was sent, so
//! a test can read the code a user would have received.

mod http;
mod push;
pub(crate) mod smtp;
mod twilio;
mod webhook;

pub use push::{PushReceived, PushRefusal, PushStandin, PushSubscription, PushVerdict};
pub use smtp::{Mail, SmtpOptions, SmtpSecurity, SmtpStandin, email_code};
pub use twilio::{Failure, Kind, Received, TwilioStandin, extract_code};
pub use webhook::{MAX_CLOCK_DIFFERENCE, WebhookCall, WebhookStandin};
