//! Diffs between two commits (from their merge base), file by file, with the lines of
//! each side that the hunks show (where a review comment may point).

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Result;

use super::{merge_base, run};

/// One file of a diff, as the pulls/compare APIs describe it.
#[derive(Clone, Debug)]
pub struct FileDiff {
    /// Path (new path for renames).
    pub path: String,
    /// `added`, `removed`, `modified`, `renamed`.
    pub status: String,
    /// Lines added.
    pub additions: u64,
    /// Lines removed.
    pub deletions: u64,
    /// The unified diff hunks.
    pub patch: String,
    /// Lines of the new file shown in the diff (commentable with `side: RIGHT`).
    pub right_lines: BTreeSet<u64>,
    /// Lines of the old file shown in the diff (`side: LEFT`).
    pub left_lines: BTreeSet<u64>,
}

/// The diff `base...head` (from their merge base), file by file.
pub async fn diff(repo: &Path, base: &str, head: &str) -> Result<Vec<FileDiff>> {
    let from = merge_base(repo, base, head)
        .await
        .unwrap_or_else(|| base.to_owned());
    let status = run(
        repo,
        &["diff", "--name-status", "--no-renames", &from, head],
        &[],
    )
    .await?;
    let numstat = run(
        repo,
        &["diff", "--numstat", "--no-renames", &from, head],
        &[],
    )
    .await?;
    let mut files: Vec<FileDiff> = status
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(s, p)| FileDiff {
            path: p.to_owned(),
            status: match s {
                "A" => "added",
                "D" => "removed",
                _ => "modified",
            }
            .to_owned(),
            additions: 0,
            deletions: 0,
            patch: String::new(),
            right_lines: BTreeSet::new(),
            left_lines: BTreeSet::new(),
        })
        .collect();
    for line in numstat.lines() {
        let mut parts = line.splitn(3, '\t');
        let (Some(a), Some(d), Some(p)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if let Some(f) = files.iter_mut().find(|f| f.path == p) {
            f.additions = a.parse().unwrap_or(0);
            f.deletions = d.parse().unwrap_or(0);
        }
    }
    let patch = run(
        repo,
        &["diff", "--no-renames", "--no-color", &from, head],
        &[],
    )
    .await?;
    let mut current: Option<usize> = None;
    for line in patch.lines() {
        if let Some(rest) = line.strip_prefix("diff --git ") {
            let path = rest.rsplit_once(" b/").map(|(_, p)| p).unwrap_or_default();
            current = files.iter().position(|f| f.path == path);
            continue;
        }
        let Some(index) = current else { continue };
        let file = &mut files[index];
        if let Some(header) = line.strip_prefix("@@ ") {
            let ranges: Vec<&str> = header.split_whitespace().take(2).collect();
            if let [old, new] = ranges.as_slice() {
                add_range(&mut file.left_lines, old.trim_start_matches('-'));
                add_range(&mut file.right_lines, new.trim_start_matches('+'));
            }
        }
        let in_hunk = !file.patch.is_empty() || line.starts_with("@@");
        if in_hunk {
            if !file.patch.is_empty() {
                file.patch.push('\n');
            }
            file.patch.push_str(line);
        }
    }
    Ok(files)
}

/// Adds the lines `start,count` of a hunk header to `set`.
fn add_range(set: &mut BTreeSet<u64>, range: &str) {
    let (start, count) = match range.split_once(',') {
        Some((s, c)) => (s.parse::<u64>().unwrap_or(0), c.parse::<u64>().unwrap_or(0)),
        None => (range.parse::<u64>().unwrap_or(0), 1),
    };
    set.extend(start..start + count);
}
