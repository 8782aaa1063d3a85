//! Reads the task list of an issue body: the unchecked items a person wrote as the plan,
//! found by the shared Markdown reader, each with a title and the paths it names.

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

/// The unchecked items of `body`, in order, as GitHub renders its task list
/// ([`crate::commonmark::task_items`]): checked items, code and quotes are skipped.
pub(super) fn unchecked_items(body: &str) -> Vec<Item> {
    crate::commonmark::task_items(body)
        .into_iter()
        .filter(|item| !item.checked)
        .map(|item| Item {
            title: plain_title(&item.text),
            paths: path_tokens(&item.text),
            text: item.text,
        })
        .collect()
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
