//! Short, branch-safe names derived from task titles.

/// Longest slug, in characters: slugs go into branch names next to other parts.
const MAX_SLUG_CHARS: usize = 40;

/// Branch-safe slug of a title, so a task's branch says what it is about: lowercase
/// ascii `[a-z0-9-]`, words joined by `-`, no leading, trailing or double `-`, at most 40
/// characters (cut at a `-` when possible), `task` if nothing is left.
///
/// Apostrophes and non-ascii letters are dropped inside words ("don't" → `dont`,
/// "naïve" → `nave`); any other character separates words.
pub fn slug(title: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c.to_ascii_lowercase());
        } else if c == '\'' || c == '\u{2019}' || c.is_alphanumeric() {
            // Apostrophes and non-ascii letters vanish inside their word.
        } else if !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    let joined = words.join("-");
    if joined.is_empty() {
        return "task".to_owned();
    }
    if joined.len() <= MAX_SLUG_CHARS {
        return joined;
    }
    let cut = &joined[..MAX_SLUG_CHARS];
    let cut = if joined.as_bytes()[MAX_SLUG_CHARS] == b'-' {
        cut
    } else {
        cut.rfind('-').map_or(cut, |at| &cut[..at])
    };
    cut.trim_end_matches('-').to_owned()
}
