//! The demo's issue, read from a markdown file: the first line `# Title` is the title,
//! the rest is the body.

use std::path::Path;

use anyhow::Context;

/// The issue the demo opens.
pub(super) struct IssueText {
    /// The title, without the leading `#`.
    pub(super) title: String,
    /// Everything after the title line, trimmed.
    pub(super) body: String,
}

/// Reads `path`; its first non-blank line must be a `# Title` heading.
pub(super) fn read(path: &Path) -> anyhow::Result<IssueText> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read --issue-file {}", path.display()))?;
    parse(&text).with_context(|| format!("--issue-file {}", path.display()))
}

fn parse(text: &str) -> anyhow::Result<IssueText> {
    let text = text.trim_start();
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    let title = first
        .trim()
        .strip_prefix("# ")
        .map(str::trim)
        .filter(|title| !title.is_empty())
        .context("the first line must be the title, written `# Title`")?;
    Ok(IssueText {
        title: title.to_owned(),
        body: rest.trim().to_owned(),
    })
}
