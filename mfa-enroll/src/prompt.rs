//! The conversation with the person or script answering: prompts out, answers in.
//!
//! Answers come line by line from one reader, a terminal or a pipe. On a terminal a person may
//! press Enter by mistake, so an empty line asks again; from a pipe an empty line is a broken
//! script and is an error, as is the end of input. Every answer is a code (a proof, a
//! confirmation code), so on a terminal it is typed without echo, as `getpass` does. Ctrl-C or
//! a `kill` at such a prompt ends the program, but only after echo is back on.

use std::io::{self, BufRead, IsTerminal, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

use mfa_proto::Secret;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, raise};
use nix::sys::termios::{LocalFlags, SetArg, Termios, tcgetattr, tcsetattr};

use crate::error::EnrollError;

/// The signals that end the program at a prompt: Ctrl-C, Ctrl-\, a `kill`, a closed terminal.
/// While echo is off they are blocked and a thread of their own takes them, puts the terminal
/// back, and lets the program die of the signal as it would have.
fn interrupts() -> SigSet {
    let mut set = SigSet::empty();
    for signal in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGQUIT,
        Signal::SIGHUP,
    ] {
        set.add(signal);
    }
    set
}

/// Settings to put back on the terminal if an interrupt comes while echo is off.
type PendingRestore = Arc<Mutex<Option<Termios>>>;

/// The terminal answers are typed at, whose echo is turned off while a code is typed.
#[derive(Debug)]
pub struct Terminal {
    fd: OwnedFd,
    restore: PendingRestore,
}

impl Terminal {
    /// Standard input, when it is a terminal; `None` for a pipe or a file, which has no echo
    /// to turn off and is read line by line as it is. Call it before any other thread starts:
    /// the thread that restores the terminal on an interrupt must be the only one that
    /// takes those signals while echo is off.
    pub fn stdin() -> io::Result<Option<Terminal>> {
        let stdin = io::stdin();
        if !stdin.is_terminal() {
            return Ok(None);
        }
        // A duplicate shares the terminal's settings; owning it keeps this type free of
        // lifetimes.
        let fd = stdin.as_fd().try_clone_to_owned()?;
        let terminal = Terminal {
            fd,
            restore: PendingRestore::default(),
        };
        terminal.restore_on_interrupt()?;
        Ok(Some(terminal))
    }

    /// The terminal open at `fd`, with no thread watching for interrupts.
    #[cfg(test)]
    pub fn new(fd: OwnedFd) -> Terminal {
        Terminal {
            fd,
            restore: PendingRestore::default(),
        }
    }

    /// Starts the thread that waits for an interrupt, restores the settings saved while echo
    /// is off and then dies of the signal. Signal handlers would need unsafe code; waiting
    /// for blocked signals in a thread (`sigwait`) does not.
    fn restore_on_interrupt(&self) -> io::Result<()> {
        let signals = interrupts();
        let fd = self.fd.try_clone()?;
        let restore = Arc::clone(&self.restore);
        // The thread inherits this mask: the signals must be blocked in it for `sigwait`.
        let before = signals.thread_swap_mask(SigmaskHow::SIG_BLOCK)?;
        let spawned = thread::Builder::new()
            .name("restore-terminal".to_owned())
            .spawn(move || {
                let Ok(signal) = signals.wait() else {
                    return;
                };
                let saved = restore
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                if let Some(saved) = saved {
                    // Nothing better can be done if the terminal has gone away.
                    let _ = tcsetattr(&fd, SetArg::TCSANOW, &saved);
                }
                // Raised again with its default action, the signal ends the process as
                // it would have ended without this thread, and the shell sees which.
                let _ = signals.thread_unblock();
                let _ = raise(signal);
                std::process::exit(128 + signal as i32);
            });
        before.thread_set_mask()?;
        spawned.map(drop)
    }

    /// Turns echo off until the returned guard is dropped. The Enter that ends the answer is
    /// still echoed (`ECHONL`), so what follows starts on a new line. Meanwhile this thread
    /// blocks the interrupts, so that the restoring thread takes them.
    fn hide_echo(&self) -> Result<HiddenEcho<'_>, EnrollError> {
        let saved = tcgetattr(&self.fd).map_err(EnrollError::Terminal)?;
        let mut hidden = saved.clone();
        hidden.local_flags.remove(LocalFlags::ECHO);
        hidden.local_flags.insert(LocalFlags::ECHONL);
        let mask = interrupts()
            .thread_swap_mask(SigmaskHow::SIG_BLOCK)
            .map_err(EnrollError::Terminal)?;
        *self.pending_restore() = Some(saved.clone());
        let guard = HiddenEcho {
            terminal: self,
            saved,
            mask,
        };
        tcsetattr(&self.fd, SetArg::TCSANOW, &hidden).map_err(EnrollError::Terminal)?;
        Ok(guard)
    }

    fn pending_restore(&self) -> std::sync::MutexGuard<'_, Option<Termios>> {
        self.restore.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Echo is off on `terminal` while this lives; dropping it restores the saved settings, also
/// when reading the answer failed, and then the signal mask from before.
struct HiddenEcho<'a> {
    terminal: &'a Terminal,
    saved: Termios,
    mask: SigSet,
}

impl Drop for HiddenEcho<'_> {
    fn drop(&mut self) {
        // Nothing better can be done if the terminal has gone away in the meantime.
        let _ = tcsetattr(&self.terminal.fd, SetArg::TCSANOW, &self.saved);
        self.terminal.pending_restore().take();
        // An interrupt that came meanwhile and is still pending ends the program now, with
        // the terminal already restored.
        let _ = self.mask.thread_set_mask();
    }
}

/// Asks questions and reads the answers.
#[derive(Debug)]
pub struct Prompter<R, W> {
    input: R,
    prompts: W,
    interactive: bool,
    terminal: Option<Terminal>,
}

impl<R: BufRead, W: Write> Prompter<R, W> {
    /// `input` gives the answers; `prompts` shows questions and notes; `interactive` is true
    /// when a person types at a terminal.
    pub fn new(input: R, prompts: W, interactive: bool) -> Self {
        Prompter {
            input,
            prompts,
            interactive,
            terminal: None,
        }
    }

    /// Turns echo off on `terminal`, the one `input` reads from, while each answer is typed.
    pub fn hiding_answers_on(mut self, terminal: Option<Terminal>) -> Self {
        self.terminal = terminal;
        self
    }

    /// Shows `prompt` and returns the next non-empty answer, trimmed. `expected` names the
    /// answer in errors, e.g. "a code from the authenticator app". Answers are codes, so
    /// they come back as [`Secret`]s and are not echoed on a terminal.
    pub fn ask(&mut self, prompt: &str, expected: &'static str) -> Result<Secret, EnrollError> {
        loop {
            if let Some(answer) = self.answer(prompt, expected)? {
                return Ok(answer);
            }
            if !self.interactive {
                return Err(EnrollError::EmptyAnswer { expected });
            }
        }
    }

    /// Like [`Prompter::ask`], but an empty answer, from a terminal or a pipe, is the way to
    /// give up and comes back as `None`: for a code that may never arrive.
    pub fn ask_or_give_up(
        &mut self,
        prompt: &str,
        expected: &'static str,
    ) -> Result<Option<Secret>, EnrollError> {
        self.answer(prompt, expected)
    }

    /// Shows `prompt` once and reads one line: the answer trimmed, or `None` if it is empty.
    fn answer(
        &mut self,
        prompt: &str,
        expected: &'static str,
    ) -> Result<Option<Secret>, EnrollError> {
        write!(self.prompts, "{prompt}").map_err(EnrollError::Output)?;
        self.prompts.flush().map_err(EnrollError::Output)?;
        let mut line = String::new();
        let read = {
            let _hidden = match &self.terminal {
                Some(terminal) => Some(terminal.hide_echo()?),
                None => None,
            };
            self.input
                .read_line(&mut line)
                .map_err(EnrollError::Input)?
        };
        if !self.interactive || read == 0 {
            // Nobody typed a newline after the prompt; end its line for what follows.
            writeln!(self.prompts).map_err(EnrollError::Output)?;
        }
        if read == 0 {
            return Err(EnrollError::NoAnswer { expected });
        }
        let start = line.len() - line.trim_start().len();
        let end = line.trim_end().len();
        if start >= end {
            return Ok(None);
        }
        // Trimmed in place and moved, not copied: the `Secret` wipes this buffer.
        line.truncate(end);
        line.drain(..start);
        Ok(Some(Secret::from(line)))
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
    fn empty_line_gives_up_where_that_is_allowed() {
        for interactive in [false, true] {
            let mut p = prompter(" \n 123456 \n", interactive);
            assert!(p.ask_or_give_up("Code: ", "a code").unwrap().is_none());
            assert_eq!(
                p.ask_or_give_up("Code: ", "a code")
                    .unwrap()
                    .unwrap()
                    .expose(),
                "123456"
            );
            assert!(matches!(
                p.ask_or_give_up("Code: ", "a code"),
                Err(EnrollError::NoAnswer { .. })
            ));
        }
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
    fn echo_cannot_be_hidden_on_what_is_not_a_terminal() {
        let file = tempfile::tempfile().unwrap();
        let mut p = prompter("123456\n", true).hiding_answers_on(Some(Terminal::new(file.into())));
        let err = p.ask("Code: ", "a code").unwrap_err();
        assert!(matches!(err, EnrollError::Terminal(_)), "{err}");
        assert!(err.to_string().contains("echo"), "{err}");
    }

    #[test]
    fn answers_typed_at_a_terminal_are_not_echoed() {
        use std::io::{BufReader, Read};
        use std::time::{Duration, Instant};

        let pty = nix::pty::openpty(None, None).unwrap();
        let echo_on = |fd: &OwnedFd| {
            tcgetattr(fd)
                .unwrap()
                .local_flags
                .contains(LocalFlags::ECHO)
        };
        assert!(echo_on(&pty.slave), "a new terminal echoes");
        let input = BufReader::new(std::fs::File::from(pty.slave.try_clone().unwrap()));
        let watched = pty.slave.try_clone().unwrap();
        let mut master = std::fs::File::from(pty.master);
        let mut typist_end = master.try_clone().unwrap();
        // Types the code only once echo is off, as a person would after seeing the prompt.
        let typist = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(10);
            while echo_on(&watched) {
                assert!(Instant::now() < deadline, "echo was never turned off");
                std::thread::sleep(Duration::from_millis(5));
            }
            typist_end.write_all(b"314159\n").unwrap();
        });
        let mut p = Prompter::new(input, Vec::new(), true)
            .hiding_answers_on(Some(Terminal::new(pty.slave.try_clone().unwrap())));
        assert_eq!(p.ask("Code: ", "a code").unwrap().expose(), "314159");
        typist.join().unwrap();
        assert!(echo_on(&pty.slave), "echo was not restored");
        // What the terminal showed: only the line end (ECHONL), never the code. A marker
        // typed now, with echo back on, shows where that output ends.
        master.write_all(b"END\n").unwrap();
        let mut shown = Vec::new();
        let mut byte = [0u8; 1];
        while !shown.ends_with(b"END") {
            master.read_exact(&mut byte).unwrap();
            shown.push(byte[0]);
        }
        let shown = String::from_utf8_lossy(&shown);
        assert!(!shown.contains("314159"), "{shown:?}");
        assert_eq!(shown.trim_end_matches("END").trim(), "", "{shown:?}");
        assert!(shown.contains('\n'), "{shown:?}");
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
