//! `mfa-enroll app-password add|list|remove`: the daemon makes the password and keeps only
//! its hash; this shows it once, and lists what the daemon's status report says of the rest.

use std::io::{BufRead, Write};

use jiff::Timestamp;
use jiff::tz::TimeZone;
use mfa_proto::{Request, Response};
use serde_json::json;

use super::{Session, user};
use crate::cli::{AppPasswordAddArgs, AppPasswordCommand};
use crate::daemon::rejection;
use crate::error::{EnrollError, one_line};
use crate::output::local_time;

impl<R: BufRead, P: Write, O: Write> Session<R, P, O> {
    /// Runs one `app-password` subcommand.
    pub(super) fn app_password(&mut self, command: &AppPasswordCommand) -> Result<(), EnrollError> {
        match command {
            AppPasswordCommand::Add(args) => self.add_app_password(args),
            AppPasswordCommand::List(target) => {
                let report = self.status_report(&user(target)?)?;
                let listed = json!({ "app_passwords": report.app_passwords });
                let mut text = String::new();
                crate::output::app_passwords_text(
                    &mut text,
                    &report,
                    Timestamp::now(),
                    &TimeZone::system(),
                );
                self.output.either(&listed, &text)
            }
            AppPasswordCommand::Remove(args) => {
                let user = user(&args.target)?;
                self.change_with_proof(|proof| Request::RemoveAppPassword {
                    user: user.clone(),
                    label: args.label.clone(),
                    proof,
                })
            }
        }
    }

    fn add_app_password(&mut self, args: &AppPasswordAddArgs) -> Result<(), EnrollError> {
        let user = user(&args.target)?;
        let (_, request, reply) = self.call_with_proof(|proof| Request::AddAppPassword {
            user: user.clone(),
            label: args.label.clone(),
            services: args.services.clone(),
            expires_in: args.expires,
            proof,
        })?;
        let Response::AppPassword {
            label,
            password,
            services,
            expires_at,
        } = reply
        else {
            return Err(rejection(&request, reply));
        };
        let made = json!({
            "app_password": {
                "label": label,
                "password": password.expose(),
                "services": services,
                "expires_at": expires_at,
            }
        });
        let tz = TimeZone::system();
        let works_on = match services.as_slice() {
            [] => "every service where app passwords are allowed".to_owned(),
            list => list
                .iter()
                .map(|s| one_line(s))
                .collect::<Vec<_>>()
                .join(", "),
        };
        let ends = match expires_at {
            Some(at) => format!("until {}", local_time(at, &tz)),
            None => "until it is removed".to_owned(),
        };
        let human = format!(
            "App password \"{}\": {}\n\
             It works on {works_on}, {ends}.\n\
             Type it where the program asks for your password. It is shown only now: \
             nobody, not even the administrator, can show it again.\n",
            one_line(&label),
            password.expose(),
        );
        self.output.either(&made, &human)
    }
}
