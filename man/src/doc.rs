//! A man page being written: the `man` macros the pages use, over the `roff` crate, which
//! escapes every piece of text (dashes, backslashes, leading dots, apostrophes).

use clap_mangen::roff::{Inline, Roff, bold, roman};

use crate::markdown::{Block, inlines};

/// The pages' footer: the package and its version.
const SOURCE: &str = concat!("pam-mfa ", env!("CARGO_PKG_VERSION"));
/// The pages' header.
const MANUAL: &str = "pam-mfa Manual";

/// A man page: roff text, started with the title line.
#[derive(Debug)]
pub struct Doc {
    text: String,
}

impl Doc {
    /// A page `title`(`section`), e.g. `pam_mfa`(8), dated `date` (`YYYY-MM-DD`).
    pub fn new(title: &str, section: &str, date: &str) -> Self {
        let mut roff = Roff::new();
        roff.control(
            "TH",
            [title.to_uppercase().as_str(), section, date, SOURCE, MANUAL],
        )
        // Keys and options must not be split at a line's end, nor lines spread to the
        // right margin around them.
        .control("nh", [])
        .control("ad", ["l"]);
        Doc {
            text: roff.render(),
        }
    }

    /// Appends roff made by `Roff::render` or by clap_mangen, which start every piece with
    /// the same definition of the apostrophe string: this page already has it.
    pub fn append_rendered(&mut self, rendered: &str) {
        let preamble = Roff::new().render();
        self.text
            .push_str(rendered.strip_prefix(&preamble).unwrap_or(rendered));
    }

    fn append(&mut self, roff: &Roff) {
        self.append_rendered(&roff.render());
    }

    /// `.SH TITLE`.
    pub fn section(&mut self, title: &str) {
        self.append(Roff::new().control("SH", [title]));
    }

    /// `.SS title`.
    pub fn subsection(&mut self, title: &str) {
        self.append(Roff::new().control("SS", [title]));
    }

    /// A paragraph.
    pub fn paragraph(&mut self, text: impl Into<Vec<Inline>>) {
        self.append(Roff::new().control("PP", []).text(text));
    }

    /// A paragraph of inline Markdown.
    pub fn markdown(&mut self, md: &str) {
        self.paragraph(inlines(md));
    }

    /// A tagged paragraph (`.TP`): `tag` on its own, then `body`, then further paragraphs
    /// at the same indent.
    pub fn item(&mut self, tag: impl Into<Vec<Inline>>, body: &[Vec<Inline>]) {
        let mut roff = Roff::new();
        roff.control("TP", []).text(tag);
        for (i, paragraph) in body.iter().enumerate() {
            if i > 0 {
                roff.control("IP", []);
            }
            roff.text(paragraph.clone());
        }
        self.append(&roff);
    }

    /// A tagged paragraph with a bold tag and a Markdown body.
    pub fn item_markdown(&mut self, tag: &str, body: &str) {
        self.item([bold(tag)], &[inlines(body)]);
    }

    /// Lines shown as written, indented.
    pub fn code<S: AsRef<str>>(&mut self, lines: &[S]) {
        let mut roff = Roff::new();
        roff.control("PP", [])
            .control("RS", ["4"])
            .control("nf", []);
        for line in lines {
            roff.text([roman(line.as_ref())]);
        }
        roff.control("fi", []).control("RE", []);
        self.append(&roff);
    }

    /// A bulleted list of inline Markdown items.
    pub fn bullets<S: AsRef<str>>(&mut self, items: &[S]) {
        let mut roff = Roff::new();
        for item in items {
            roff.control("IP", ["\\(bu", "2"])
                .text(inlines(item.as_ref()));
        }
        self.append(&roff);
    }

    /// Markdown blocks from the README: paragraphs, lists, code, and tables as tagged
    /// paragraphs (the first cell the tag, the others the body).
    pub fn blocks(&mut self, blocks: &[Block]) {
        for block in blocks {
            match block {
                Block::Paragraph(md) => self.markdown(md),
                Block::List(items) => self.bullets(items),
                Block::Code(lines) => self.code(lines),
                Block::Table(table) => {
                    for row in &table.rows {
                        let mut cells = row.iter().map(|cell| inlines(cell));
                        let tag = cells.next().unwrap_or_default();
                        self.item(tag, &cells.collect::<Vec<_>>());
                    }
                }
            }
        }
    }

    /// The finished page.
    pub fn finish(self) -> String {
        // groff's ASCII output (man in the C locale) has no ellipsis and warns; the other
        // characters the README uses (arrows, dashes, bullets) it approximates. `\&` keeps
        // the dots from starting a control line.
        self.text.replace('\u{2026}', "\\&...")
    }
}

/// `name`(`section`) in the usual cross-reference style, e.g. **mfa-daemon**(8).
pub fn reference(name: &str, section: &str) -> [Inline; 2] {
    [bold(name), roman(format!("({section})"))]
}

/// A SEE ALSO line: references separated by commas.
pub fn references(pages: &[(&str, &str)]) -> Vec<Inline> {
    let mut out = Vec::new();
    for (i, (name, section)) in pages.iter().enumerate() {
        if i > 0 {
            out.push(roman(", "));
        }
        out.extend(reference(name, section));
    }
    out
}
