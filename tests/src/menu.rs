//! A login that meets the menu of sent codes, answered one prompt at a time: the test reads a
//! code from a stand-in between choosing an option and typing it.

use crate::process::{Interaction, Run};
use crate::text::{MENU_PROMPT, SENT_CODE_PROMPT};

/// A running login (pamtester or sudo) and how many menu and code prompts it answered.
#[derive(Debug)]
pub struct MenuLogin {
    login: Interaction,
    menus_answered: usize,
    codes_answered: usize,
}

impl MenuLogin {
    /// Takes over the conversation of a login just started.
    pub fn new(login: Interaction) -> MenuLogin {
        MenuLogin {
            login,
            menus_answered: 0,
            codes_answered: 0,
        }
    }

    /// Waits for the next menu prompt and answers `answer` (an option's number, an app or
    /// recovery code); panics with the output if no menu prompt comes.
    pub fn at_menu(&mut self, answer: &str) {
        self.answer(MENU_PROMPT, self.menus_answered + 1, answer);
        self.menus_answered += 1;
    }

    /// Waits for the next `Code: ` prompt and answers `code`; panics with the output if none
    /// comes.
    pub fn at_code(&mut self, code: &str) {
        self.answer(SENT_CODE_PROMPT, self.codes_answered + 1, code);
        self.codes_answered += 1;
    }

    /// Whether the menu prompt has been shown once more than it was answered, waiting for it
    /// (`false` if the login ended first).
    pub fn menu_shown_again(&self) -> bool {
        self.login.wait_for(MENU_PROMPT, self.menus_answered + 1)
    }

    /// Whether `text` has appeared `times` times so far, waiting for it (`false` if the login
    /// ended first).
    pub fn wait_for(&self, text: &str, times: usize) -> bool {
        self.login.wait_for(text, times)
    }

    /// Waits until one of `texts` has appeared (`false` if the login ended first).
    pub fn wait_until_one_of(&self, texts: &[&str]) -> bool {
        self.login
            .wait_until(|output| texts.iter().any(|text| output.contains(text)))
    }

    /// Everything the login printed so far, stdout then stderr.
    pub fn output(&self) -> String {
        format!("{}\n{}", self.login.stdout(), self.login.stderr())
    }

    /// Closes stdin and waits for the login to end.
    pub fn finish(self) -> Run {
        self.login.finish()
    }

    fn answer(&mut self, prompt: &str, times: usize, answer: &str) {
        assert!(
            self.login.wait_for(prompt, times),
            "no prompt {prompt:?} (#{times}) came; output so far:\n{}",
            self.output()
        );
        self.login.send(&format!("{answer}\n"));
    }
}
