//! Finding the line a validation error is about, by a plain scan of the file's text.
//!
//! The YAML parser locates syntax and schema errors itself; rules checked after parsing
//! (`max_parallel_tasks` ≤ `max_tasks`, say) only know the field's path, so this module
//! finds the line where that key is written. It understands block mappings only, which
//! is what the documented file uses; when it cannot find the key the error has no line.

use super::ConfigError;

/// An error about the key at `path` (`["worker", "time_limit"]`), located by a scan.
pub(super) fn error_at(text: &str, path: &[&str], message: String) -> ConfigError {
    let found = key_position(text, path);
    ConfigError {
        line: found.map(|(line, _)| line),
        column: found.map(|(_, column)| column),
        message,
    }
}

/// Whether the text holds nothing but blank lines, comments and document markers.
pub(super) fn is_blank(text: &str) -> bool {
    text.lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#') || line == "---" || line == "..."
    })
}

/// The 1-based line holding byte `offset`.
pub(super) fn line_of_offset(bytes: &[u8], offset: usize) -> usize {
    1 + bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
}

/// The 1-based line of `name` inside the `pass_env` list of `section`, either a
/// `- NAME` item or within a flow list `[A, NAME]`.
pub(super) fn pass_env_line(text: &str, section: &str, name: &str) -> Option<usize> {
    let (start, _) = key_position(text, &[section, "pass_env"])?;
    let lines: Vec<&str> = text.lines().collect();
    let key_indent = indent(lines[start - 1]);
    let mentions = |line: &str| {
        line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .any(|word| word == name)
    };
    if mentions(lines[start - 1].split_once(':').map_or("", |(_, v)| v)) {
        return Some(start);
    }
    lines
        .iter()
        .enumerate()
        .skip(start)
        .take_while(|(_, line)| {
            is_skippable(line) || indent(line) > key_indent || line.trim_start().starts_with('-')
        })
        .find(|(_, line)| !is_skippable(line) && mentions(line))
        .map(|(index, _)| index + 1)
}

/// 1-based line and column of the key at `path`, each key searched among the lines
/// nested under the previous one.
fn key_position(text: &str, path: &[&str]) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut from = 0;
    let mut parent_indent: Option<usize> = None;
    let mut found = None;
    for key in path {
        let mut hit = None;
        for (index, line) in lines.iter().enumerate().skip(from) {
            if is_skippable(line) {
                continue;
            }
            let depth = indent(line);
            if parent_indent.is_some_and(|parent| depth <= parent) {
                break;
            }
            if declares(line.trim_start(), key) {
                hit = Some((index, depth));
                break;
            }
        }
        let (index, depth) = hit?;
        found = Some((index + 1, depth + 1));
        from = index + 1;
        parent_indent = Some(depth);
    }
    found
}

/// Whether `line` (indentation removed) starts the mapping entry `key:`.
fn declares(line: &str, key: &str) -> bool {
    let unquoted = line
        .strip_prefix(key)
        .or_else(|| line.strip_prefix(&format!("\"{key}\"") as &str))
        .or_else(|| line.strip_prefix(&format!("'{key}'") as &str));
    unquoted.is_some_and(|rest| rest.trim_start().starts_with(':'))
}

fn is_skippable(line: &str) -> bool {
    let line = line.trim();
    line.is_empty() || line.starts_with('#')
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}
