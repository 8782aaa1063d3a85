//! What in a published text would make GitHub act on the App's behalf: `@mentions`
//! (a notification to whoever an agent names), closing keywords (`Fixes #3` closes
//! issue 3 when the pull request merges) and HTML comments (Flotilla finds its own
//! comments and reviews by a hidden `<!-- flotilla:… -->` marker, so a forged one could
//! suppress them).
//!
//! Each is broken with an invisible zero-width space where GitHub's parsers need two
//! characters side by side (`@` and a name, a keyword and its reference, `#` and a
//! number), the same device Dependabot uses for mentions. Unlike wrapping in backticks,
//! it needs no knowledge of the Markdown around the text: it holds inside code spans,
//! fences and tables alike and never changes how the text renders.

use std::sync::LazyLock;

use regex::{Captures, Regex};

/// Zero width space: invisible, and neither a word character nor whitespace.
const BREAK: char = '\u{200B}';

/// GitHub's closing keywords (any case, optional colon) and the reference after them:
/// `#12`, `owner/repo#12`, `GH-12` or an issue URL.
static CLOSING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(close[sd]?|fix(?:e[sd])?|resolve[sd]?)(\s*:?\s*)((?:[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)?#[0-9]+|GH-[0-9]+|https?://\S+)",
    )
    .expect("the closing keyword pattern is valid")
});

/// `text` with no mention, closing reference or HTML comment GitHub would act on.
pub(super) fn neutralise(text: &str) -> String {
    let unclosing = CLOSING.replace_all(text, |caps: &Captures<'_>| {
        let reference = &caps[3];
        let split = if reference.to_ascii_lowercase().starts_with("gh-") {
            Some(3)
        } else {
            reference.find('#').map(|at| at + 1)
        };
        let reference = match split {
            Some(at) => format!("{}{BREAK}{}", &reference[..at], &reference[at..]),
            None => reference.to_owned(),
        };
        format!("{}{BREAK}{}{reference}", &caps[1], &caps[2])
    });
    let uncommented = unclosing.replace("<!--", "<! --");
    unmention(&uncommented)
}

/// A zero-width space after every `@` that starts a name.
fn unmention(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '@' && chars.peek().is_some_and(|next| next.is_alphanumeric()) {
            out.push(BREAK);
        }
    }
    out
}
