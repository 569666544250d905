//! The little of Markdown the pages take from README.md: a section under a heading, split
//! into paragraphs, lists, code blocks and tables, and inline code, emphasis and links turned
//! into roff fonts.

use clap_mangen::roff::{Inline, bold, italic, roman};

use crate::error::ReadmeError;

/// A Markdown document, read section by section.
#[derive(Debug, Clone, Copy)]
pub struct Markdown<'a> {
    text: &'a str,
}

/// What a section is made of, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// Lines of running text, joined with spaces.
    Paragraph(String),
    /// The items of a `- ` list, each joined into one line.
    List(Vec<String>),
    /// The lines of a fenced code block, as written.
    Code(Vec<String>),
    /// A pipe table.
    Table(Table),
}

/// A pipe table: its header cells and its rows, each cell's Markdown trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// The header cells.
    pub header: Vec<String>,
    /// The rows below the delimiter row.
    pub rows: Vec<Vec<String>>,
}

/// The blocks under one heading, up to the next heading of any level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The heading line as written, e.g. `### Module options`.
    pub heading: String,
    /// Its paragraphs, lists, code blocks and tables.
    pub blocks: Vec<Block>,
}

impl<'a> Markdown<'a> {
    /// A document to read.
    pub fn new(text: &'a str) -> Self {
        Markdown { text }
    }

    /// The section under `heading` (the whole heading line, e.g. `### Module options`).
    pub fn section(&self, heading: &str) -> Result<Section, ReadmeError> {
        let mut lines = self.text.lines();
        if !lines.by_ref().any(|l| l.trim_end() == heading) {
            return Err(ReadmeError::NoSection(heading.to_owned()));
        }
        let mut body = Vec::new();
        let mut in_code = false;
        for line in lines {
            if line.starts_with("```") {
                in_code = !in_code;
            } else if !in_code && line.starts_with('#') {
                break;
            }
            body.push(line);
        }
        Ok(Section {
            heading: heading.to_owned(),
            blocks: blocks(&body),
        })
    }
}

impl Section {
    /// The section's first table.
    pub fn table(&self) -> Result<&Table, ReadmeError> {
        self.blocks
            .iter()
            .find_map(|b| match b {
                Block::Table(t) => Some(t),
                _ => None,
            })
            .ok_or_else(|| ReadmeError::NoTable(self.heading.clone()))
    }

    /// The section's first code block.
    pub fn code(&self) -> Result<&[String], ReadmeError> {
        self.blocks
            .iter()
            .find_map(|b| match b {
                Block::Code(lines) => Some(lines.as_slice()),
                _ => None,
            })
            .ok_or_else(|| ReadmeError::NoCodeBlock(self.heading.clone()))
    }

    /// The blocks after the first table.
    pub fn after_table(&self) -> &[Block] {
        let table = self
            .blocks
            .iter()
            .position(|b| matches!(b, Block::Table(_)));
        table.map_or(&[], |i| &self.blocks[i + 1..])
    }

    /// The first inline code span of the section's first paragraph.
    pub fn first_code_span(&self) -> Result<String, ReadmeError> {
        self.blocks
            .iter()
            .find_map(|b| match b {
                Block::Paragraph(p) => code_spans(p).into_iter().next(),
                _ => None,
            })
            .ok_or_else(|| ReadmeError::NoCodeSpan(self.heading.clone()))
    }
}

impl Table {
    /// The cells of the column headed `name`, one per row.
    pub fn column(&self, heading: &str, name: &str) -> Result<Vec<&str>, ReadmeError> {
        let index =
            self.header
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| ReadmeError::NoColumn {
                    section: heading.to_owned(),
                    column: name.to_owned(),
                })?;
        Ok(self
            .rows
            .iter()
            .map(|row| row.get(index).map_or("", String::as_str))
            .collect())
    }
}

fn blocks(lines: &[&str]) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut i = 0;
    while let Some(&line) = lines.get(i) {
        i += 1;
        if line.trim().is_empty() {
            continue;
        }
        if line.starts_with("```") {
            let mut code = Vec::new();
            while let Some(&l) = lines.get(i) {
                i += 1;
                if l.starts_with("```") {
                    break;
                }
                code.push(l.to_owned());
            }
            blocks.push(Block::Code(code));
        } else if line.starts_with('|') {
            let mut rows = vec![cells(line)];
            while let Some(l) = lines.get(i).filter(|l| l.starts_with('|')) {
                i += 1;
                rows.push(cells(l));
            }
            let header = rows.remove(0);
            // The delimiter row (`|---|:--:|`) says only how to align.
            if rows
                .first()
                .is_some_and(|r| r.iter().all(|c| is_delimiter(c)))
            {
                rows.remove(0);
            }
            blocks.push(Block::Table(Table { header, rows }));
        } else if let Some(first) = line.strip_prefix("- ") {
            let mut items = vec![first.trim().to_owned()];
            while let Some(l) = lines.get(i).filter(|l| !l.trim().is_empty()) {
                i += 1;
                match l.strip_prefix("- ") {
                    Some(next) => items.push(next.trim().to_owned()),
                    None => {
                        if let Some(last) = items.last_mut() {
                            last.push(' ');
                            last.push_str(l.trim());
                        }
                    }
                }
            }
            blocks.push(Block::List(items));
        } else {
            let mut text = line.trim().to_owned();
            while let Some(l) = lines
                .get(i)
                .filter(|l| !l.trim().is_empty() && !starts_block(l))
            {
                i += 1;
                text.push(' ');
                text.push_str(l.trim());
            }
            blocks.push(Block::Paragraph(text));
        }
    }
    blocks
}

fn starts_block(line: &str) -> bool {
    line.starts_with("```") || line.starts_with('|') || line.starts_with("- ")
}

fn is_delimiter(cell: &str) -> bool {
    !cell.is_empty() && cell.chars().all(|c| matches!(c, '-' | ':'))
}

/// The cells of a table row: split at `|` outside code spans and not escaped (`\|`).
fn cells(row: &str) -> Vec<String> {
    let row = row.trim();
    let row = row.strip_prefix('|').unwrap_or(row);
    let row = row.strip_suffix('|').unwrap_or(row);
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut in_code = false;
    let mut chars = row.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if !in_code => {
                cell.push(c);
                cell.extend(chars.next());
            }
            '`' => {
                in_code = !in_code;
                cell.push(c);
            }
            '|' if !in_code => cells.push(std::mem::take(&mut cell).trim().to_owned()),
            _ => cell.push(c),
        }
    }
    cells.push(cell.trim().to_owned());
    cells
}

/// The contents of the inline code spans in `md`, in order.
pub fn code_spans(md: &str) -> Vec<String> {
    md.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// Inline Markdown as roff: code spans and `**strong**` in bold, `*emphasis*` in italics,
/// links as their text, `\x` as `x`.
pub fn inlines(md: &str) -> Vec<Inline> {
    let mut out = Vec::new();
    let mut plain = String::new();
    let mut rest = md;
    while let Some(c) = rest.chars().next() {
        let after_c = &rest[c.len_utf8()..];
        let escaped = after_c
            .chars()
            .next()
            .filter(|n| c == '\\' && n.is_ascii_punctuation());
        if let Some((styled, after)) = styled_span(rest) {
            if !plain.is_empty() {
                out.push(roman(std::mem::take(&mut plain)));
            }
            out.extend(styled);
            rest = after;
        } else if let Some(n) = escaped {
            plain.push(n);
            rest = &after_c[n.len_utf8()..];
        } else {
            plain.push(c);
            rest = after_c;
        }
    }
    if !plain.is_empty() {
        out.push(roman(plain));
    }
    out
}

/// A code span, emphasis or link at the start of `md`: it as roff, and what follows it.
fn styled_span(md: &str) -> Option<(Vec<Inline>, &str)> {
    if md.starts_with('`') {
        split_span(md, "`", "`").map(|(inner, after)| (vec![bold(inner)], after))
    } else if md.starts_with("**") {
        split_span(md, "**", "**").map(|(inner, after)| (vec![bold(plain_text(inner))], after))
    } else if md.starts_with('*') && !md[1..].starts_with(char::is_whitespace) {
        split_span(md, "*", "*").map(|(inner, after)| (vec![italic(plain_text(inner))], after))
    } else if md.starts_with('[') {
        // The link text keeps its fonts; the target goes.
        link(md).map(|(text, after)| (inlines(text), after))
    } else {
        None
    }
}

/// `open` + inner + `close` at the start of `text`: the inner text and what follows.
fn split_span<'t>(text: &'t str, open: &str, close: &str) -> Option<(&'t str, &'t str)> {
    let body = text.strip_prefix(open)?;
    let end = body.find(close)?;
    (end > 0).then(|| (&body[..end], &body[end + close.len()..]))
}

/// `[text](target)` at the start of `md`: the text and what follows.
fn link(md: &str) -> Option<(&str, &str)> {
    let body = md.strip_prefix('[')?;
    let text_end = body.find("](")?;
    let target = &body[text_end + 2..];
    let target_end = target.find(')')?;
    Some((&body[..text_end], &target[target_end + 1..]))
}

/// Inline Markdown with its markup dropped.
pub fn plain_text(md: &str) -> String {
    inlines(md)
        .into_iter()
        .map(|inline| match inline {
            Inline::Roman(s) | Inline::Bold(s) | Inline::Italic(s) => s,
            Inline::LineBreak => " ".to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "# Title\n\nIntro.\n\n## Options\n\n`cmd [a=PATH]`\n\n\
| option | meaning |\n|---|---|\n| `a=PATH` | the path, `x\\|y` or \\| z |\n| `b` | plain |\n\n\
After the table,\non two lines.\n\n- one\n  continued\n- two\n\n```\n# not a heading\ncode\n```\n\
## Next\n\n| k | v |\n|---|---|\n| c | d |\n";

    #[test]
    fn a_section_ends_at_the_next_heading_not_at_a_comment_in_code() {
        let section = Markdown::new(DOC).section("## Options").unwrap();
        assert_eq!(
            section.blocks,
            vec![
                Block::Paragraph("`cmd [a=PATH]`".into()),
                Block::Table(Table {
                    header: vec!["option".into(), "meaning".into()],
                    rows: vec![
                        vec!["`a=PATH`".into(), "the path, `x\\|y` or \\| z".into()],
                        vec!["`b`".into(), "plain".into()],
                    ],
                }),
                Block::Paragraph("After the table, on two lines.".into()),
                Block::List(vec!["one continued".into(), "two".into()]),
                Block::Code(vec!["# not a heading".into(), "code".into()]),
            ]
        );
        assert_eq!(section.first_code_span().unwrap(), "cmd [a=PATH]");
        assert_eq!(section.after_table().len(), 3);
        let table = section.table().unwrap();
        assert_eq!(
            table.column("## Options", "option").unwrap(),
            ["`a=PATH`", "`b`"]
        );
        assert!(matches!(
            table.column("## Options", "default"),
            Err(ReadmeError::NoColumn { .. })
        ));
    }

    #[test]
    fn missing_parts_are_named() {
        let md = Markdown::new(DOC);
        assert!(matches!(md.section("## Gone"), Err(ReadmeError::NoSection(h)) if h == "## Gone"));
        let title = md.section("# Title").unwrap();
        assert!(matches!(title.table(), Err(ReadmeError::NoTable(_))));
        assert!(matches!(title.code(), Err(ReadmeError::NoCodeBlock(_))));
    }

    #[test]
    fn inline_markup_becomes_fonts() {
        assert_eq!(
            inlines("a `b_c` **d** *E* [f `g`](#h) \\| i"),
            vec![
                roman("a "),
                bold("b_c"),
                roman(" "),
                bold("d"),
                roman(" "),
                italic("E"),
                roman(" "),
                roman("f "),
                bold("g"),
                roman(" | i"),
            ]
        );
        // Lone markers stay as they are.
        assert_eq!(plain_text("2 * 3, [x] and `"), "2 * 3, [x] and `");
        assert_eq!(plain_text("\u{2014} `a` \u{2014}"), "\u{2014} a \u{2014}");
    }
}
