//! The conversation with the person or script answering: prompts out, answers in.
//!
//! Answers come line by line from one reader, a terminal or a pipe. On a terminal a person may
//! press Enter by mistake, so an empty line asks again; from a pipe an empty line is a broken
//! script and is an error, as is the end of input.

use std::io::{BufRead, Write};

use mfa_proto::Secret;

use crate::error::EnrollError;

/// Asks questions and reads the answers.
#[derive(Debug)]
pub struct Prompter<R, W> {
    input: R,
    prompts: W,
    interactive: bool,
}

impl<R: BufRead, W: Write> Prompter<R, W> {
    /// `input` gives the answers; `prompts` shows questions and notes; `interactive` is true
    /// when a person types at a terminal.
    pub fn new(input: R, prompts: W, interactive: bool) -> Self {
        Prompter {
            input,
            prompts,
            interactive,
        }
    }

    /// Shows `prompt` and returns the next non-empty answer, trimmed. `expected` names the
    /// answer in errors, e.g. "a code from the authenticator app". Answers are codes, so
    /// they come back as [`Secret`]s.
    pub fn ask(&mut self, prompt: &str, expected: &'static str) -> Result<Secret, EnrollError> {
        loop {
            write!(self.prompts, "{prompt}").map_err(EnrollError::Output)?;
            self.prompts.flush().map_err(EnrollError::Output)?;
            let mut line = String::new();
            let read = self
                .input
                .read_line(&mut line)
                .map_err(EnrollError::Input)?;
            if !self.interactive || read == 0 {
                // Nobody typed a newline after the prompt; end its line for what follows.
                writeln!(self.prompts).map_err(EnrollError::Output)?;
            }
            if read == 0 {
                return Err(EnrollError::NoAnswer { expected });
            }
            let start = line.len() - line.trim_start().len();
            let end = line.trim_end().len();
            if start < end {
                // Trimmed in place and moved, not copied: the `Secret` wipes this buffer.
                line.truncate(end);
                line.drain(..start);
                return Ok(Secret::from(line));
            }
            if !self.interactive {
                return Err(EnrollError::EmptyAnswer { expected });
            }
        }
    }

    /// Shows a note in the conversation, such as why a code was refused. Nothing for an
    /// empty note.
    pub fn say(&mut self, text: &str) -> Result<(), EnrollError> {
        if text.trim().is_empty() {
            return Ok(());
        }
        writeln!(self.prompts, "{}", crate::error::one_line(text)).map_err(EnrollError::Output)?;
        self.prompts.flush().map_err(EnrollError::Output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn prompter(input: &str, interactive: bool) -> Prompter<Cursor<Vec<u8>>, Vec<u8>> {
        Prompter::new(
            Cursor::new(input.as_bytes().to_vec()),
            Vec::new(),
            interactive,
        )
    }

    #[test]
    fn answers_are_trimmed_and_read_line_by_line() {
        let mut p = prompter("  123456 \r\n\tabcd-efgh-ijkl\n", false);
        assert_eq!(p.ask("Code: ", "a code").unwrap().expose(), "123456");
        assert_eq!(
            p.ask("Again: ", "a code").unwrap().expose(),
            "abcd-efgh-ijkl"
        );
        assert_eq!(String::from_utf8(p.prompts).unwrap(), "Code: \nAgain: \n");
    }

    #[test]
    fn last_line_without_newline_counts() {
        let mut p = prompter("654321", false);
        assert_eq!(p.ask("Code: ", "a code").unwrap().expose(), "654321");
    }

    #[test]
    fn end_of_input_is_an_error() {
        let mut p = prompter("", false);
        let err = p.ask("Code: ", "a code").unwrap_err();
        assert!(
            matches!(err, EnrollError::NoAnswer { expected: "a code" }),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "standard input ended where a code was expected"
        );
        let mut p = prompter("   \n", true);
        assert!(matches!(
            p.ask("Code: ", "a code"),
            Err(EnrollError::NoAnswer { .. })
        ));
    }

    #[test]
    fn empty_line_is_an_error_from_a_pipe() {
        let mut p = prompter("\n123456\n", false);
        let err = p.ask("Code: ", "a code").unwrap_err();
        assert!(matches!(err, EnrollError::EmptyAnswer { .. }), "{err}");
        let mut p = prompter("  \t \n", false);
        assert!(matches!(
            p.ask("Code: ", "a code"),
            Err(EnrollError::EmptyAnswer { .. })
        ));
    }

    #[test]
    fn empty_line_asks_again_on_a_terminal() {
        let mut p = prompter("\n  \n123456\n", true);
        assert_eq!(p.ask("Code: ", "a code").unwrap().expose(), "123456");
        assert_eq!(String::from_utf8(p.prompts).unwrap(), "Code: Code: Code: ");
    }

    #[test]
    fn invalid_utf8_is_an_input_error() {
        let mut p = Prompter::new(Cursor::new(vec![0xff, 0xfe, b'\n']), Vec::new(), false);
        assert!(matches!(
            p.ask("Code: ", "a code"),
            Err(EnrollError::Input(_))
        ));
    }

    #[test]
    fn notes_are_one_line_each() {
        let mut p = prompter("", true);
        p.say("Invalid verification code.\nTry again.").unwrap();
        assert_eq!(
            String::from_utf8(p.prompts).unwrap(),
            "Invalid verification code. Try again.\n"
        );
    }
}
