//! Markdown for text Flotilla did not write (a reviewer's findings, a build's output,
//! an agent's summary) and the sizes GitHub accepts: no HTML, no forged hidden marker,
//! no code fence the text can close, table cells that stay cells, every text under
//! GitHub's limit with a note where it was cut. The one set of escaping rules every
//! message uses; the messages themselves say what to say.

use crate::agent::result::strip_ansi;

/// The most characters of a summary shown in one table cell.
const CELL_CHARS: usize = 200;

/// Untrusted text made safe to embed in our Markdown: `<` outside code becomes `&lt;`
/// (no HTML, no comment, no forged marker), `@name` outside code gets a zero-width
/// space after the `@` (no notification to whoever a reviewer names), `<!--` inside
/// code is broken up, control characters become spaces. Code is recognised conservatively: where this reading and
/// GitHub's could differ, the text is treated as prose and escaped. With
/// `first_line_inline`, the first line follows other text on its line and so cannot
/// open a code fence.
pub(crate) fn escape(text: &str, first_line_inline: bool) -> String {
    let text = text.replace("\r\n", "\n");
    let mut out = String::with_capacity(text.len());
    let mut fence: Option<Fence> = None;
    // A backtick run left open on a line may close on a later line of the same
    // paragraph, so until a blank line ends it, spans on one line are not trusted.
    let mut dangling = false;
    for (index, line) in text.split('\n').enumerate() {
        if index > 0 {
            out.push('\n');
        }
        let line: String = line
            .chars()
            .map(|c| if c.is_control() && c != '\t' { ' ' } else { c })
            .collect();
        let opened = (index > 0 || !first_line_inline)
            .then(|| Fence::opening(&line))
            .flatten();
        match fence {
            Some(open) if open.still_open(&line) => {
                if open.closed_by(&line) {
                    fence = None;
                }
                out.push_str(&break_comments(&line));
            }
            _ if opened.is_some() => {
                fence = opened;
                out.push_str(&break_comments(&line));
            }
            _ => {
                fence = None;
                dangling &= !line.trim().is_empty();
                let (escaped, unmatched) = escape_inline(&line, !dangling);
                dangling |= unmatched;
                out.push_str(&escaped);
            }
        }
    }
    out
}

/// A fenced code block opened in untrusted text.
#[derive(Clone, Copy)]
struct Fence {
    marker: char,
    len: usize,
    indent: usize,
}

impl Fence {
    /// The fence a line opens: up to three spaces, then three or more backticks (with
    /// no backtick after them) or tildes.
    fn opening(line: &str) -> Option<Fence> {
        let trimmed = line.trim_start_matches(' ');
        let indent = line.len() - trimmed.len();
        let marker = trimmed.chars().next().filter(|c| matches!(c, '`' | '~'))?;
        let len = trimmed.chars().take_while(|c| *c == marker).count();
        let info_has_backtick = marker == '`' && trimmed[len..].contains('`');
        (indent <= 3 && len >= 3 && !info_has_backtick).then_some(Fence {
            marker,
            len,
            indent,
        })
    }

    /// Whether the line can still be inside the block: a non-blank line indented less
    /// than the opening fence may end an enclosing list item (and the block with it),
    /// so it counts as prose.
    fn still_open(self, line: &str) -> bool {
        let trimmed = line.trim_start_matches(' ');
        trimmed.is_empty() || line.len() - trimmed.len() >= self.indent
    }

    /// Whether the line closes the block (any indentation counts: closing too early
    /// only escapes more).
    fn closed_by(self, line: &str) -> bool {
        let trimmed = line.trim_start();
        let run = trimmed.chars().take_while(|c| *c == self.marker).count();
        run >= self.len && trimmed[run..].trim().is_empty()
    }
}

/// One line of prose: `<` becomes `&lt;` except after a backslash (already literal
/// there) and, with `spans`, inside a code span on the line. Also says whether a
/// backtick run was left unmatched.
fn escape_inline(line: &str, spans: bool) -> (String, bool) {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::with_capacity(line.len());
    let mut unmatched = false;
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' if chars.get(i + 1).is_some_and(char::is_ascii_punctuation) => {
                out.push('\\');
                out.push(chars[i + 1]);
                i += 2;
            }
            '`' => {
                let run = run_at(&chars, i);
                match closing_run(&chars, i + run, run).filter(|_| spans) {
                    Some(end) => {
                        let span: String = chars[i..end].iter().collect();
                        out.push_str(&break_comments(&span));
                        i = end;
                    }
                    None => {
                        unmatched = true;
                        out.extend(&chars[i..i + run]);
                        i += run;
                    }
                }
            }
            '<' => {
                out.push_str("&lt;");
                i += 1;
            }
            '@' if chars.get(i + 1).is_some_and(|c| c.is_alphanumeric()) => {
                out.push_str("@\u{200B}");
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    (out, unmatched)
}

/// The length of the backtick run starting at `at`.
fn run_at(chars: &[char], at: usize) -> usize {
    chars[at..].iter().take_while(|c| **c == '`').count()
}

/// The end of the first backtick run of exactly `len` from `from`, which closes a code
/// span.
fn closing_run(chars: &[char], from: usize, len: usize) -> Option<usize> {
    let mut j = from;
    while j < chars.len() {
        if chars[j] == '`' {
            let run = run_at(chars, j);
            if run == len {
                return Some(j + run);
            }
            j += run;
        } else {
            j += 1;
        }
    }
    None
}

/// Code text with `<!--` broken up, so no text of ours contains a forged marker.
fn break_comments(code: &str) -> String {
    code.replace("<!--", "<! --")
}

/// Untrusted text on one line, for a heading or a sentence of ours.
pub(crate) fn escape_line(text: &str) -> String {
    escape(&text.replace('\n', " "), true)
}

/// Untrusted text for a table cell: one line, `|` escaped, shortened.
pub(crate) fn cell(text: &str) -> String {
    let first: String = text.chars().take(CELL_CHARS).collect();
    let shortened = if text.chars().count() > CELL_CHARS {
        format!("{first}…")
    } else {
        first
    };
    escape_line(&shortened).replace('|', "\\|")
}

/// Text as a code span, whatever backticks it holds.
pub(crate) fn code(text: &str) -> String {
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let ticks = "`".repeat(longest_run(&text, '`') + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{}{pad}{ticks}", break_comments(&text))
}

/// The longest run of `c` in `text`.
fn longest_run(text: &str, c: char) -> usize {
    text.split(|other| other != c)
        .map(str::len)
        .max()
        .unwrap_or(0)
}

/// A command's output as a fenced block no line of it can close, cut to its last part
/// when it does not fit in `budget` bytes.
pub(crate) fn output_block(output: &str, budget: usize) -> String {
    let clean = strip_ansi(output).replace("\r\n", "\n").replace('\r', "\n");
    let fence = "`".repeat(longest_run(&clean, '`').max(2) + 1);
    let overhead = 2 * fence.len() + 64;
    let room = budget.saturating_sub(overhead);
    if room == 0 {
        return "*(no room left for the output)*".to_owned();
    }
    let (note, tail) = if clean.len() <= room {
        ("", clean.as_str())
    } else {
        let mut start = clean.len() - room;
        while !clean.is_char_boundary(start) {
            start += 1;
        }
        let tail = &clean[start..];
        let tail = tail.split_once('\n').map_or(tail, |(_, rest)| rest);
        ("*(earlier output cut)*\n", tail)
    };
    format!(
        "{note}{fence}text\n{}\n{fence}",
        tail.trim_end_matches('\n')
    )
}

/// The most bytes of one text we send: under GitHub's 65,535-character limit whatever it
/// counts, with room to spare.
pub(crate) const TEXT_LIMIT: usize = 65_000;

/// The text cut to [`TEXT_LIMIT`], with a note saying so.
pub(crate) fn fit(text: String) -> String {
    fit_within(text, TEXT_LIMIT)
}

/// The text cut to `limit` bytes at a line break, with a note at the start of a line
/// (which ends any list item or quote, and any code block inside them).
pub(crate) fn fit_within(text: String, limit: usize) -> String {
    if text.len() <= limit {
        return text;
    }
    let note = format!(
        "\n\n*(Cut here: the full text is {} bytes, over the {limit} this report may use.)*\n",
        text.len()
    );
    let mut end = limit.saturating_sub(note.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let end = text[..end].rfind('\n').unwrap_or(end);
    format!("{}{note}", &text[..end])
}

/// The first line of `text`, cut to `max` characters.
pub(crate) fn one_line(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    if line.chars().count() > max {
        format!("{}…", line.chars().take(max).collect::<String>())
    } else {
        line.to_owned()
    }
}

/// The last `max` bytes of `text` (on a character boundary).
pub(crate) fn tail(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}

/// Text as a block quote: a code fence opened inside it ends with the quote.
pub(crate) fn quote(text: &str) -> String {
    escape(text, false)
        .split('\n')
        .map(|line| {
            if line.is_empty() {
                ">".to_owned()
            } else {
                format!("> {line}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub(crate) fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// A marker field: only characters that cannot end the comment or forge another field.
pub(crate) fn marker_word(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/') {
                c
            } else {
                '_'
            }
        })
        .collect()
}
