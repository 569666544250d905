//! The PAM front end: the conversation `pam_mfa.so` relays, as frames on the socket. It
//! only carries words: the verification service (`crate::service`) decides what is asked
//! and what an answer means; this turns its steps into prompts and its end into `Done`.

use std::sync::Arc;

use mfa_proto::{AuthRequest, FrameError, Request, Secret, Step};

use crate::app::Shared;
use crate::connection::Connection;
use crate::error::DaemonError;
use crate::service::combined::{self, WithoutCode};
use crate::service::{self, Finished, Next, Notice, Question};

/// Runs one authentication to its `Done`. With `field` (the end of the password field, from
/// the module's `code_in_password` or `mfa-radius`), the first question is answered by the
/// end of the field, and the front end is told how much of it to strip; what a field with
/// no code in it means is the front end's to say.
pub async fn authenticate(
    shared: &Arc<Shared>,
    conn: &mut Connection,
    auth: AuthRequest,
    field: Option<(Secret, WithoutCode)>,
) -> Result<(), FrameError> {
    let mut next = match service::start(shared, auth, conn.caller).await {
        Ok(next) => next,
        Err(refused) => return conn.send(&refused.response()).await,
    };
    if let Some((field_end, without_code)) = field {
        next = match next {
            Next::Ask(question) => answer_field(conn, question, field_end, without_code).await?,
            other => other,
        };
    }
    loop {
        next = match next {
            Next::Ask(question) => match ask(shared, conn, question).await? {
                Asked::Next(next) => next,
                Asked::Gone => return Err(FrameError::Closed),
            },
            Next::Done(finished) => return finish(conn, finished).await,
            Next::Gone => return Err(FrameError::Closed),
        };
    }
}

/// Gives the first question the end of the password field instead of asking it.
async fn answer_field(
    conn: &mut Connection,
    question: Box<Question>,
    field_end: Secret,
    without_code: WithoutCode,
) -> Result<Next, FrameError> {
    let split = {
        let watched = &*conn;
        combined::answer_field(question, field_end, without_code, &|| watched.presence()).await
    };
    if let Some(bytes) = split.strip {
        // At most `FIELD_END_MAX` bytes were sent, so the count always fits.
        let bytes = u16::try_from(bytes).unwrap_or(u16::MAX);
        conn.send(&Step::StripPassword { bytes }).await?;
    }
    Ok(split.next)
}

/// What came of asking a question.
enum Asked {
    /// The service's next step.
    Next(Next),
    /// The client went away, or sent something other than an answer.
    Gone,
}

/// Shows the question's notices and prompt, and gives the answer to the service.
async fn ask(
    shared: &Shared,
    conn: &mut Connection,
    question: Box<Question>,
) -> Result<Asked, FrameError> {
    for notice in &question.notices {
        conn.send(&step_of(notice)).await?;
    }
    let prompt = Step::Prompt {
        text: question.prompt.as_str().to_owned(),
        echo: question.echo,
    };
    if let Err(e) = conn.send(&prompt).await {
        question.abandoned();
        return Err(e);
    }
    let timeout = shared.decisions.config().answer_timeout;
    match conn.read(timeout).await {
        Ok(Request::Answer { text }) => match conn.presence() {
            Ok(presence) => Ok(Asked::Next(question.answer(text, presence).await)),
            Err(e) => Ok(Asked::Next(Next::Done(question.failed(&e)))),
        },
        Err(FrameError::Timeout) => Ok(Asked::Next(Next::Done(question.timed_out()))),
        Err(e) => {
            question.abandoned();
            Err(e)
        }
        Ok(_) => {
            question.abandoned();
            let refusal = DaemonError::BadRequest("expected an answer to the prompt".to_owned());
            conn.send(&refusal.response()).await?;
            Ok(Asked::Gone)
        }
    }
}

/// Shows the last notices and ends the conversation with its outcome.
async fn finish(conn: &mut Connection, finished: Finished) -> Result<(), FrameError> {
    for notice in &finished.notices {
        conn.send(&step_of(notice)).await?;
    }
    conn.send(&Step::Done {
        outcome: finished.outcome,
    })
    .await
}

fn step_of(notice: &Notice) -> Step {
    match notice {
        Notice::Info(text) => Step::Info { text: text.clone() },
        Notice::Error(text) => Step::Error { text: text.clone() },
    }
}
