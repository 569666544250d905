//! The subcommands: what is asked of the daemon, what is asked of the user, what is shown.
//!
//! The daemon decides everything (who may do what, whether a proof is needed, whether a code is
//! right); these flows only carry the conversation.

use std::io::{BufRead, Write};
use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use mfa_proto::{ContactKind, FailureKind, NewContact, Request, Response, Secret, StatusReport};

use crate::account::calling_user;
use crate::cli::{Command, ContactArgs, RemoveArgs, RemovedContact, UserArg};
use crate::daemon::{Connection, Daemon, rejection};
use crate::error::EnrollError;
use crate::output::{CodesReason, Output};
use crate::prompt::Prompter;

mod app_password;

/// Asked when the daemon wants a proof before changing an existing enrollment.
const PROOF_PROMPT: &str = "Current verification code or recovery code: ";
const PROOF: &str = "a current verification code or a recovery code";
/// Asked after showing a new secret.
const CONFIRM_PROMPT: &str = "Code shown in your authenticator app: ";
const CONFIRM: &str = "a code from the authenticator app";
/// Asked after showing a new HOTP token.
const HOTP_PROMPT: &str = "First code of the new token: ";
const HOTP: &str = "a code from the new token";
/// Asked after a code was sent to a new phone or address.
const RECEIVED_PROMPT: &str = "Code you received: ";
const RECEIVED: &str = "the code that was sent";
/// How long to wait for the browser after showing a passkey link: the link's 10 minutes,
/// plus a margin for a daemon whose clock runs ahead of its timers or a slow last step.
const PASSKEY_WAIT: Duration = Duration::from_secs(11 * 60);
/// Said before [`RECEIVED_PROMPT`]: a code may never arrive, and this is the way out.
const GIVE_UP: &str = "Type it below, or press Enter alone to cancel.";

/// Everything a command needs: the daemon, the person answering, and where results go.
#[derive(Debug)]
pub struct Session<R, P, O> {
    /// Where requests go.
    pub daemon: Daemon,
    /// Prompts and answers.
    pub prompter: Prompter<R, P>,
    /// Results.
    pub output: Output<O>,
}

impl<R: BufRead, P: Write, O: Write> Session<R, P, O> {
    /// Runs one subcommand to its end.
    pub fn execute(&mut self, command: &Command) -> Result<(), EnrollError> {
        match command {
            Command::Totp(args) => self.enroll_totp(&user(&args.target)?, args.label.as_deref()),
            Command::Hotp(args) => {
                self.enroll_hotp(&user(&args.target)?, args.label.as_deref(), args.digits)
            }
            Command::Passkey(args) => {
                self.enroll_passkey(&user(&args.target)?, args.label.as_deref())
            }
            Command::RecoveryCodes(target) => self.new_recovery_codes(&user(target)?),
            Command::Phone(args) => {
                let contact = NewContact::Phone {
                    number: args.number.clone(),
                    voice_only: args.voice_only,
                    label: args.contact.label.clone(),
                };
                self.add_contact(&args.contact, contact)
            }
            Command::Email(args) => {
                let contact = NewContact::Email {
                    address: args.address.clone(),
                    label: args.contact.label.clone(),
                };
                self.add_contact(&args.contact, contact)
            }
            Command::Remove(RemoveArgs {
                contact: None,
                target,
            }) => self.remove(&user(target)?),
            Command::Remove(RemoveArgs {
                contact: Some(contact),
                target,
            }) => self.remove_contact(&user(target)?, contact),
            Command::AppPassword(command) => self.app_password(command),
            Command::Status(target) => self.status(&user(target)?),
            Command::Devices(target) => self.devices(&user(target)?),
            Command::Forget(target) => self.forget(&user(target)?),
            Command::Unlock { user } => self.unlock(user),
        }
    }

    /// New secret, shown; a code from the app confirms it; recovery codes, shown.
    fn enroll_totp(&mut self, user: &str, label: Option<&str>) -> Result<(), EnrollError> {
        let (mut connection, request, reply) =
            self.call_with_proof(|proof| Request::EnrollTotp {
                user: user.to_owned(),
                proof,
                label: label.map(str::to_owned),
            })?;
        let enrollment = match reply {
            Response::TotpEnrollment(enrollment) => enrollment,
            other => return Err(rejection(&request, other)),
        };
        self.output.enrollment(&enrollment)?;
        self.confirm(&mut connection, user, CONFIRM_PROMPT, CONFIRM, |code| {
            Request::ConfirmTotp { code }
        })
    }

    /// A new soft token, shown; its first code confirms it; recovery codes, shown.
    fn enroll_hotp(
        &mut self,
        user: &str,
        label: Option<&str>,
        digits: u8,
    ) -> Result<(), EnrollError> {
        let (mut connection, request, reply) =
            self.call_with_proof(|proof| Request::EnrollHotp {
                user: user.to_owned(),
                label: label.map(str::to_owned),
                digits: Some(digits),
                proof,
            })?;
        let enrollment = match reply {
            Response::HotpEnrollment(enrollment) => enrollment,
            other => return Err(rejection(&request, other)),
        };
        self.output.hotp_enrollment(&enrollment)?;
        self.confirm(&mut connection, user, HOTP_PROMPT, HOTP, |code| {
            Request::ConfirmHotp { code }
        })
    }

    /// Asks for codes from a new secret until the daemon takes one (and answers recovery
    /// codes) or refuses for good.
    fn confirm(
        &mut self,
        connection: &mut Connection,
        user: &str,
        prompt: &str,
        what: &'static str,
        make: impl Fn(Secret) -> Request,
    ) -> Result<(), EnrollError> {
        loop {
            let code = self.prompter.ask(prompt, what)?;
            let request = make(code);
            // After the last wrong code the daemon says `locked_out`, which ends the loop below.
            match connection.call(&request)? {
                Response::RecoveryCodes { codes } if codes.is_empty() => {
                    // An app added beside others: the unused codes were kept.
                    let left = self.recovery_codes_left(user).ok();
                    return self.output.codes_kept(left);
                }
                Response::RecoveryCodes { codes } => {
                    return self.output.recovery_codes(&codes, CodesReason::Enrolled);
                }
                // Only this kind means "try again"; any other refusal ends the enrollment.
                Response::Failed {
                    kind: FailureKind::WrongCode,
                    message,
                } => self.prompter.say(&message)?,
                other => return Err(rejection(&request, other)),
            }
        }
    }

    /// A one-time link, shown; the daemon answers again on the same connection once the
    /// browser has used it (or it ended unused).
    fn enroll_passkey(&mut self, user: &str, label: Option<&str>) -> Result<(), EnrollError> {
        let (mut connection, request, reply) =
            self.call_with_proof(|proof| Request::EnrollPasskey {
                user: user.to_owned(),
                label: label.map(str::to_owned),
                proof,
            })?;
        match reply {
            Response::PasskeyLink { open, expires_at } => {
                self.output.passkey_link(&open, expires_at)?;
            }
            other => return Err(rejection(&request, other)),
        }
        connection.wait_longer(PASSKEY_WAIT)?;
        match connection.next_reply()? {
            Response::PasskeyEnrolled { label } => self.output.passkey_enrolled(&label),
            other => Err(rejection(&request, other)),
        }
    }

    /// The daemon sends a code to the new phone or address; the code typed back saves it.
    /// With `--unverified` (root) it is saved at once.
    fn add_contact(&mut self, args: &ContactArgs, contact: NewContact) -> Result<(), EnrollError> {
        let user = user(&args.target)?;
        let (mut connection, request, reply) =
            self.call_with_proof(|proof| Request::AddContact {
                user: user.clone(),
                contact: contact.clone(),
                proof,
                unverified: args.unverified,
            })?;
        match reply {
            Response::ContactAdded(added) => return self.output.contact_added(&added),
            Response::CodeSent { channel, to } => self.output.code_sent(channel, &to)?,
            other => return Err(rejection(&request, other)),
        }
        self.prompter.say(GIVE_UP)?;
        loop {
            let Some(code) = self.prompter.ask_or_give_up(RECEIVED_PROMPT, RECEIVED)? else {
                // The daemon keeps an unconfirmed contact only for this connection, which
                // closes on return: nothing is saved.
                return Err(EnrollError::Cancelled);
            };
            let request = Request::ConfirmContact { code };
            // After the last wrong code the daemon says `locked_out`, which ends the loop below.
            match connection.call(&request)? {
                Response::ContactAdded(added) => return self.output.contact_added(&added),
                // Only this kind means "try again"; any other refusal ends the enrollment.
                Response::Failed {
                    kind: FailureKind::WrongCode,
                    message,
                } => self.prompter.say(&message)?,
                other => return Err(rejection(&request, other)),
            }
        }
    }

    fn remove_contact(&mut self, user: &str, contact: &RemovedContact) -> Result<(), EnrollError> {
        let (kind, which) = match contact {
            RemovedContact::Phone { which } => (ContactKind::Phone, which),
            RemovedContact::Email { which } => (ContactKind::Email, which),
            RemovedContact::Totp { label } => {
                return self.change_with_proof(|proof| Request::RemoveTotp {
                    user: user.to_owned(),
                    label: label.clone(),
                    proof,
                });
            }
            RemovedContact::Hotp { label } => {
                return self.change_with_proof(|proof| Request::RemoveHotp {
                    user: user.to_owned(),
                    label: label.clone(),
                    proof,
                });
            }
            RemovedContact::Passkey { label } => {
                return self.change_with_proof(|proof| Request::RemovePasskey {
                    user: user.to_owned(),
                    label: label.clone(),
                    proof,
                });
            }
        };
        self.change_with_proof(|proof| Request::RemoveContact {
            user: user.to_owned(),
            kind,
            which: which.clone(),
            proof,
        })
    }

    fn new_recovery_codes(&mut self, user: &str) -> Result<(), EnrollError> {
        let (_, request, reply) = self.call_with_proof(|proof| Request::NewRecoveryCodes {
            user: user.to_owned(),
            proof,
        })?;
        match reply {
            Response::RecoveryCodes { codes } => {
                self.output.recovery_codes(&codes, CodesReason::Replaced)
            }
            other => Err(rejection(&request, other)),
        }
    }

    fn remove(&mut self, user: &str) -> Result<(), EnrollError> {
        self.change_with_proof(|proof| Request::RemoveFactors {
            user: user.to_owned(),
            proof,
        })
    }

    fn devices(&mut self, user: &str) -> Result<(), EnrollError> {
        let report = self.status_report(user)?;
        self.output
            .devices(&report, Timestamp::now(), &TimeZone::system())
    }

    fn forget(&mut self, user: &str) -> Result<(), EnrollError> {
        self.change_with_proof(|proof| Request::ForgetDevices {
            user: user.to_owned(),
            proof,
        })
    }

    fn recovery_codes_left(&mut self, user: &str) -> Result<usize, EnrollError> {
        Ok(self.status_report(user)?.recovery_codes_left)
    }

    fn status(&mut self, user: &str) -> Result<(), EnrollError> {
        let report = self.status_report(user)?;
        self.output
            .status(&report, Timestamp::now(), &TimeZone::system())
    }

    /// What the daemon has for `user`: the one request behind `status`, `devices` and the
    /// count of recovery codes left.
    fn status_report(&mut self, user: &str) -> Result<StatusReport, EnrollError> {
        let request = Request::Status {
            user: user.to_owned(),
        };
        match self.daemon.connect()?.call(&request)? {
            Response::Status(report) => Ok(report),
            other => Err(rejection(&request, other)),
        }
    }

    fn unlock(&mut self, user: &str) -> Result<(), EnrollError> {
        let request = Request::Unlock {
            user: user.to_owned(),
            source: None,
        };
        let reply = self.daemon.connect()?.call(&request)?;
        self.expect_ok(&request, reply)
    }

    fn expect_ok(&mut self, request: &Request, reply: Response) -> Result<(), EnrollError> {
        match reply {
            Response::Ok { message } => self.output.ok(&message),
            other => Err(rejection(request, other)),
        }
    }

    /// A change the daemon answers with `ok`: [`Session::call_with_proof`], then its
    /// message shown.
    fn change_with_proof(
        &mut self,
        make: impl Fn(Option<Secret>) -> Request,
    ) -> Result<(), EnrollError> {
        let (_, request, reply) = self.call_with_proof(make)?;
        self.expect_ok(&request, reply)
    }

    /// Sends the request made by `make` without a proof; if the daemon wants one, asks the
    /// user for it and sends the request again, with the proof, on a new connection (the
    /// daemon ends a management conversation after refusing). Returns the connection, the
    /// request last sent and its reply.
    fn call_with_proof(
        &mut self,
        make: impl Fn(Option<Secret>) -> Request,
    ) -> Result<(Connection, Request, Response), EnrollError> {
        let request = make(None);
        let mut connection = self.daemon.connect()?;
        let reply = connection.call(&request)?;
        let Response::Failed {
            kind: FailureKind::ProofRequired,
            message,
        } = reply
        else {
            return Ok((connection, request, reply));
        };
        drop(connection);
        self.prompter.say(&message)?;
        let proof = self.prompter.ask(PROOF_PROMPT, PROOF)?;
        let request = make(Some(proof));
        let mut connection = self.daemon.connect()?;
        let reply = connection.call(&request)?;
        Ok((connection, request, reply))
    }
}

/// The account named by `--user`, or the calling user.
fn user(target: &UserArg) -> Result<String, EnrollError> {
    match &target.user {
        Some(name) => Ok(name.clone()),
        None => calling_user(),
    }
}
