//! Reads the task list of an issue body: the unchecked items a person wrote as the plan.
//!
//! It follows GitHub's rendering closely enough that what a reader sees as a checkbox is
//! an item and what sits in a fenced code block is not; it does not interpret the rest
//! of the markdown.

/// One unchecked task-list item.
#[derive(Debug)]
pub(super) struct Item {
    /// The item's text after the checkbox, trimmed.
    pub(super) text: String,
    /// The text as a title: without bold markers outside code spans.
    pub(super) title: String,
    /// Backticked file paths or globs named in the text, deduplicated.
    pub(super) paths: Vec<String>,
}

/// Whether the issue body has at least one unchecked task-list item, so the orchestrator
/// knows it need not run a planner agent.
pub fn has_checklist(body: &str) -> bool {
    !unchecked_items(body).is_empty()
}

/// The unchecked items of `body`, in order; checked items and code blocks are skipped.
pub(super) fn unchecked_items(body: &str) -> Vec<Item> {
    let mut items = Vec::new();
    let mut fence: Option<Fence> = None;
    for line in body.lines() {
        if let Some(open) = &fence {
            if open.is_closed_by(line) {
                fence = None;
            }
            continue;
        }
        if let Some(opened) = Fence::opened_by(line) {
            fence = Some(opened);
            continue;
        }
        if let Some(text) = unchecked_text(line) {
            let text = text.trim();
            if !text.is_empty() {
                items.push(Item {
                    text: text.to_owned(),
                    title: plain_title(text),
                    paths: path_tokens(text),
                });
            }
        }
    }
    items
}

/// An open fenced code block: its fence character and length.
struct Fence {
    marker: char,
    len: usize,
}

impl Fence {
    /// The fence a line opens, if it opens one (``` or ~~~, three or more).
    fn opened_by(line: &str) -> Option<Self> {
        let trimmed = line.trim_start();
        let marker = trimmed.chars().next().filter(|c| *c == '`' || *c == '~')?;
        let len = trimmed.chars().take_while(|c| *c == marker).count();
        let info = &trimmed[len..];
        (len >= 3 && !(marker == '`' && info.contains('`'))).then_some(Self { marker, len })
    }

    /// Whether `line` closes this fence: the same character, at least as many, nothing after.
    fn is_closed_by(&self, line: &str) -> bool {
        let trimmed = line.trim();
        let len = trimmed.chars().take_while(|c| *c == self.marker).count();
        len >= self.len && len == trimmed.chars().count()
    }
}

/// The text after `[ ]` when `line` is an unchecked task-list item (`-`, `*`, `+` or
/// `1.`/`1)` bullets, at any indentation).
fn unchecked_text(line: &str) -> Option<&str> {
    let rest = line.trim_start();
    let rest = if let Some(after) = rest.strip_prefix(['-', '*', '+']) {
        after
    } else {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        rest[digits..].strip_prefix(['.', ')'])?
    };
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let rest = rest.trim_start().strip_prefix("[ ]")?;
    (rest.is_empty() || rest.starts_with([' ', '\t'])).then_some(rest)
}

/// The text without bold markers outside code spans, nor emphasis wrapping all of it.
fn plain_title(text: &str) -> String {
    let unbolded: Vec<String> = text
        .split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 0 {
                part.replace("**", "")
            } else {
                part.to_owned()
            }
        })
        .collect();
    let unbolded = unbolded.join("`");
    let mut title = unbolded.trim();
    for marker in ["__", "*", "_"] {
        if let Some(inner) = title
            .strip_prefix(marker)
            .and_then(|t| t.strip_suffix(marker))
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            title = inner;
            break;
        }
    }
    title.to_owned()
}

/// Backticked tokens of `text` that look like file paths or globs: no whitespace, and a
/// `/`, a `*` or a file extension.
fn path_tokens(text: &str) -> Vec<String> {
    let mut paths: Vec<String> = Vec::new();
    for token in text.split('`').skip(1).step_by(2) {
        let token = token.trim();
        if looks_like_path(token) && !paths.iter().any(|p| p == token) {
            paths.push(token.to_owned());
        }
    }
    paths
}

/// Whether a backticked token names a file or a glob rather than code or a command.
fn looks_like_path(token: &str) -> bool {
    let allowed = |c: char| c.is_alphanumeric() || "_-./*?[]{},!@+=~".contains(c);
    if token.is_empty() || !token.chars().all(allowed) {
        return false;
    }
    if token.contains(['/', '*']) {
        return true;
    }
    match token.rsplit_once('.') {
        Some((stem, ext)) => {
            !stem.is_empty()
                && !ext.is_empty()
                && ext.chars().all(|c| c.is_ascii_alphanumeric())
                && ext.chars().any(|c| c.is_ascii_alphabetic())
        }
        None => false,
    }
}
