//! Words of a shell command line, as `verify_files` needs them: the simple commands of
//! a line, the words a wrapper (`env`, `sudo`, …) puts before the real command, and
//! which words name a file in the repository.

use super::verify_files::{NOT_RUN, PREFIXES, SCRIPT_EXTENSIONS};

/// The simple commands of a command line, split at unquoted `;`, `&`, `|`, newlines
/// and parentheses (`2>&1` and `&>` stay whole).
pub(super) fn split_commands(text: &str) -> Vec<String> {
    let mut segments = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => {
                quote = None;
                current.push(c);
            }
            (Some('"'), '\\') | (None, '\\') => {
                current.push(c);
                current.extend(chars.next());
            }
            (Some(_), c) => current.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                current.push(c);
            }
            (None, '&') if current.ends_with(['>', '<']) || chars.peek() == Some(&'>') => {
                current.push(c);
            }
            (None, ';' | '&' | '|' | '\n' | '(' | ')' | '`') => {
                segments.push(std::mem::take(&mut current));
            }
            (None, c) => current.push(c),
        }
    }
    segments.push(current);
    segments.retain(|s| !s.trim().is_empty());
    segments
}

/// The words after leading assignments (`CI=1`), redirections and wrappers (`env`,
/// `time`, `timeout 60`, `if`, …).
pub(super) fn strip_prefixes(words: &[String]) -> &[String] {
    let mut at = 0;
    let mut wrapped = false;
    while let Some(word) = words.get(at) {
        let assignment = word.split_once('=').is_some_and(|(name, _)| {
            !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_')
        });
        let duration = word
            .trim_end_matches(['s', 'm', 'h', 'd'])
            .parse::<f64>()
            .is_ok();
        let prefix = PREFIXES.contains(&word.as_str());
        if assignment || prefix || (wrapped && (word.starts_with('-') || duration)) {
            wrapped |= prefix;
            at += 1;
        } else {
            break;
        }
    }
    &words[at..]
}

/// The file an argument names, if it looks like a script or configuration file in the
/// repository (`scripts/check.js`, `--config=jest.config.js`).
pub(super) fn named_file(arg: &str) -> Option<&str> {
    let value = if arg.starts_with('-') {
        arg.split_once('=')?.1
    } else {
        arg
    };
    if !is_plain_path(value) {
        return None;
    }
    let name = value.rsplit('/').next()?;
    let (stem, extension) = name.rsplit_once('.')?;
    let extension = extension.to_ascii_lowercase();
    let lower = name.to_ascii_lowercase();
    (!stem.is_empty() || name.len() > 1)
        .then_some(())
        .filter(|()| SCRIPT_EXTENSIONS.contains(&extension.as_str()))
        .filter(|()| !NOT_RUN.contains(&lower.as_str()))
        .map(|()| value)
}

/// A relative path with no shell or glob syntax left in it (so it names one file).
pub(super) fn is_plain_path(word: &str) -> bool {
    !word.is_empty()
        && !word.starts_with(['/', '~', '-'])
        && !word.contains("://")
        && !word.contains([
            '$', '*', '?', '[', ']', '{', '}', '`', '<', '>', '=', '\\', '%',
        ])
}

/// `path` relative to the directory `cwd` (both relative to the repository root), with
/// `.` and `..` resolved; `None` when it leaves the repository or is absolute.
pub(super) fn join(cwd: &str, path: &str) -> Option<String> {
    if path.starts_with('/') || path.starts_with('~') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in cwd.split('/').chain(path.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}
