//! The parts of a page that come from a command's clap definition. clap_mangen writes NAME,
//! SYNOPSIS and DESCRIPTION; the options, and each subcommand with its synopsis, description
//! and own options, are written here, in one style, so that the whole command fits on one
//! page (clap_mangen would make a page of each subcommand).

use clap::{Arg, ArgAction, Command};
use clap_mangen::Man;
use clap_mangen::roff::{Inline, bold, italic, roman};

use crate::doc::Doc;
use crate::markdown::inlines;

/// A command, built, ready to be described.
#[derive(Debug)]
pub struct CliPage {
    cmd: Command,
    section: &'static str,
}

impl CliPage {
    /// `cmd` as a page of `section`.
    pub fn new(cmd: Command, section: &'static str) -> Self {
        // `help` as a subcommand only repeats --help.
        let mut cmd = cmd.disable_help_subcommand(true);
        // Propagates the global options into the subcommands, as parsing would.
        cmd.build();
        CliPage { cmd, section }
    }

    /// NAME, SYNOPSIS and DESCRIPTION. The synopsis is clap_mangen's only for a command
    /// that states its usage itself: clap_mangen leaves out the options' values.
    pub fn head(&self, doc: &mut Doc) {
        let man = Man::new(self.cmd.clone()).section(self.section);
        let render = |part: fn(&Man, &mut dyn std::io::Write) -> std::io::Result<()>| {
            let mut roff = Vec::new();
            part(&man, &mut roff).expect("writing to a Vec never fails");
            String::from_utf8_lossy(&roff).into_owned()
        };
        doc.append_rendered(&render(Man::render_name_section));
        if self.cmd.get_overridden_usage().is_some() {
            doc.append_rendered(&render(Man::render_synopsis_section));
        } else {
            doc.section("SYNOPSIS");
            let args = own_arguments(&[], &self.cmd);
            let args: Vec<&Arg> = args.into_iter().filter(|a| !is_help(a)).collect();
            doc.paragraph(synopsis(self.cmd.get_name(), &self.cmd, &args));
        }
        doc.append_rendered(&render(Man::render_description_section));
    }

    /// OPTIONS: the command's own, --help and --version included; a subcommand's are under
    /// it in COMMANDS.
    pub fn options(&self, doc: &mut Doc) {
        doc.section("OPTIONS");
        arguments(doc, &own_arguments(&[], &self.cmd));
    }

    /// COMMANDS: a subsection for each subcommand and each of theirs.
    pub fn commands(&self, doc: &mut Doc) {
        doc.section("COMMANDS");
        for sub in visible_subcommands(&self.cmd) {
            subcommand(doc, &[&self.cmd], sub);
        }
    }

    /// ENVIRONMENT entries for the options that an environment variable also sets.
    pub fn environment(&self, doc: &mut Doc) {
        for arg in self.cmd.get_arguments() {
            if let Some(var) = arg.get_env().filter(|_| !arg.is_hide_env_set()) {
                doc.item(
                    [bold(var.to_string_lossy())],
                    &[vec![roman("The default of "), flags(arg), roman(".")]],
                );
            }
        }
    }
}

fn visible_subcommands(cmd: &Command) -> impl Iterator<Item = &Command> {
    cmd.get_subcommands().filter(|s| !s.is_hide_set())
}

/// `cmd`'s arguments that its `ancestors` do not already describe, without --help and
/// --version in subcommands.
fn own_arguments<'c>(ancestors: &[&Command], cmd: &'c Command) -> Vec<&'c Arg> {
    let inherited = |arg: &Arg| {
        ancestors
            .iter()
            .any(|a| a.get_arguments().any(|p| p.get_id() == arg.get_id()))
    };
    let mut own: Vec<&Arg> = cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !inherited(a))
        .filter(|a| ancestors.is_empty() || !is_help(a))
        .collect();
    // Operands first, as the synopses show them.
    own.sort_by_key(|a| !a.is_positional());
    own
}

/// --help, -h and --version, which clap adds to every command.
fn is_help(arg: &Arg) -> bool {
    matches!(
        arg.get_action(),
        ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
    )
}

fn subcommand(doc: &mut Doc, ancestors: &[&Command], cmd: &Command) {
    let path: Vec<&str> = ancestors
        .iter()
        .map(|c| c.get_name())
        .chain([cmd.get_name()])
        .collect();
    doc.subsection(&path[1..].join(" "));
    let own = own_arguments(ancestors, cmd);
    doc.paragraph(synopsis(&path.join(" "), cmd, &own));
    let about = cmd.get_long_about().or_else(|| cmd.get_about());
    for paragraph in about
        .map(|a| paragraphs(&a.to_string()))
        .unwrap_or_default()
    {
        doc.paragraph(inlines(&paragraph));
    }
    arguments(doc, &own);
    let ancestors: Vec<&Command> = ancestors.iter().copied().chain([cmd]).collect();
    for sub in visible_subcommands(cmd) {
        subcommand(doc, &ancestors, sub);
    }
}

/// `mfactl exempt USER {--until WHEN|--end}`: the command, its operands, its options (those
/// of a required group of alternatives in braces) and its subcommands.
fn synopsis(path: &str, cmd: &Command, own: &[&Arg]) -> Vec<Inline> {
    let mut line = vec![bold(path)];
    let alternatives: Vec<Vec<&Arg>> = cmd
        .get_groups()
        .filter(|g| g.is_required_set() && !clap::ArgGroup::clone(g).is_multiple())
        .map(|g| {
            own.iter()
                .copied()
                .filter(|a| g.get_args().any(|id| id == a.get_id()))
                .collect()
        })
        .filter(|members: &Vec<&Arg>| !members.is_empty())
        .collect();
    for arg in own {
        if alternatives
            .iter()
            .flatten()
            .any(|a| a.get_id() == arg.get_id())
        {
            continue;
        }
        line.push(roman(if arg.is_required_set() { " " } else { " [" }));
        line.extend(usage(arg));
        if !arg.is_required_set() {
            line.push(roman("]"));
        }
    }
    for members in alternatives {
        line.push(roman(" {"));
        for (i, arg) in members.iter().enumerate() {
            if i > 0 {
                line.push(roman("|"));
            }
            line.extend(usage(arg));
        }
        line.push(roman("}"));
    }
    let subs: Vec<&str> = visible_subcommands(cmd).map(Command::get_name).collect();
    if !subs.is_empty() {
        let (open, close) = if cmd.is_subcommand_required_set() {
            (" {", "}")
        } else {
            (" [", "]")
        };
        line.push(roman(open));
        for (i, name) in subs.iter().enumerate() {
            if i > 0 {
                // Spaced, so that a long list can wrap: troff cannot break inside a word.
                line.push(roman(" | "));
            }
            line.push(bold(*name));
        }
        line.push(roman(close));
    }
    line
}

/// How an argument is written: `--label LABEL`, `--yes`, `USER`.
fn usage(arg: &Arg) -> Vec<Inline> {
    if arg.is_positional() {
        return vec![italic(value_name(arg))];
    }
    let flag = match (arg.get_long(), arg.get_short()) {
        (Some(long), _) => format!("--{long}"),
        (None, Some(short)) => format!("-{short}"),
        (None, None) => String::new(),
    };
    let mut out = vec![bold(flag)];
    if arg.get_action().takes_values() {
        out.extend([roman(" "), italic(value_name(arg))]);
    }
    out
}

/// `-y`, `--yes`: every name of an option, in bold.
fn flags(arg: &Arg) -> Inline {
    let names: Vec<String> = arg
        .get_short()
        .map(|s| format!("-{s}"))
        .into_iter()
        .chain(arg.get_long().map(|l| format!("--{l}")))
        .collect();
    bold(names.join(", "))
}

fn value_name(arg: &Arg) -> String {
    arg.get_value_names()
        .map(|names| names.join(" "))
        .unwrap_or_else(|| arg.get_id().as_str().to_uppercase())
}

/// A tagged paragraph for each argument: its names and value, its help, its default and the
/// environment variable that also sets it.
fn arguments(doc: &mut Doc, args: &[&Arg]) {
    for arg in args {
        let tag = if arg.is_positional() {
            vec![italic(value_name(arg))]
        } else {
            let mut tag = vec![flags(arg)];
            if arg.get_action().takes_values() {
                tag.extend([roman(" "), italic(value_name(arg))]);
            }
            tag
        };
        let help = arg.get_long_help().or_else(|| arg.get_help());
        let mut body: Vec<Vec<Inline>> = help
            .map(|h| paragraphs(&h.to_string()))
            .unwrap_or_default()
            .iter()
            .map(|p| inlines(p))
            .collect();
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        // A flag's default, `false`, says nothing.
        if !defaults.is_empty()
            && arg.get_action().takes_values()
            && !arg.is_hide_default_value_set()
        {
            body.push(vec![
                roman("Default: "),
                bold(defaults.join(", ")),
                roman("."),
            ]);
        }
        if let Some(var) = arg.get_env().filter(|_| !arg.is_hide_env_set()) {
            body.push(vec![
                roman("Environment: "),
                bold(var.to_string_lossy()),
                roman("."),
            ]);
        }
        doc.item(tag, &body);
    }
}

/// The paragraphs of a help text, each ending in a full stop: clap joins a doc comment's
/// lines, keeps its blank ones, and drops the full stop of a one-line help.
fn paragraphs(text: &str) -> Vec<String> {
    text.split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            if p.ends_with(|c: char| c.is_alphanumeric() || c == ')' || c == '`') {
                format!("{p}.")
            } else {
                p.to_owned()
            }
        })
        .collect()
}
