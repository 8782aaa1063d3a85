//! Reading a change: the text of `git diff --no-color --no-ext-diff -M --unified=3` turned
//! into files, added lines and hunk ranges.
//!
//! The gates scan added lines and touched paths, and inline review comments must land
//! inside a hunk (GitHub answers 422 otherwise), so this module keeps exactly that. The
//! parser is tolerant: odd or truncated input yields what could be read, never a panic.
//! It reads text only; running git is the caller's business.

use std::collections::HashSet;
use std::ops::RangeInclusive;

/// Every file a change touches, in the order git printed them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diff {
    /// One entry per file git reported.
    pub files: Vec<FileChange>,
}

/// What happened to one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeStatus {
    /// Created by the change.
    Added,
    /// Edited in place (content or mode).
    Modified,
    /// Removed by the change.
    Deleted,
    /// Moved (and possibly edited).
    Renamed,
}

/// One file of the change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileChange {
    /// The path at the head commit, or the old path when the file was deleted.
    pub path: String,
    /// The path before a rename.
    pub old_path: Option<String>,
    /// What happened to the file.
    pub status: ChangeStatus,
    /// Whether git reported the file as binary (no lines are known then).
    pub binary: bool,
    /// The file's git mode at the head when the diff names it (`100644`, `100755`,
    /// `120000` for a symlink, `160000` for a submodule).
    pub mode: Option<u32>,
    /// The lines the change adds, numbered on the new side.
    pub added: Vec<AddedLine>,
    /// How many lines the change removes.
    pub removed: u32,
    /// New-side line ranges covered by hunks, context included: where inline comments
    /// may go.
    pub hunks: Vec<RangeInclusive<u32>>,
    /// Every line of every hunk in order, so a gate can see what a removed line sat
    /// next to (the tests gate pairs a removed `#[test]` with the function below it).
    pub lines: Vec<DiffLine>,
}

/// One line of a hunk, or the start of one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiffLine {
    /// Whether the line is kept, added or removed, or starts a hunk.
    pub kind: LineKind,
    /// The 1-based line number on the old side; for an added line, the old line it
    /// follows.
    pub old: u32,
    /// The 1-based line number on the new side; for a removed line, the new line it
    /// sits before (where an inline comment about the removal can go).
    pub new: u32,
    /// The text without its leading marker; for a hunk start, what git printed after
    /// `@@ … @@` (the enclosing definition, such as `mod tests {`).
    pub text: String,
}

/// What a [`DiffLine`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineKind {
    /// A hunk starts here.
    HunkStart,
    /// Unchanged context.
    Context,
    /// Added by the change.
    Added,
    /// Removed by the change.
    Removed,
}

/// A line the change adds, where secrets are looked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddedLine {
    /// 1-based line number in the file at the head commit.
    pub line: u32,
    /// The line's text, without the leading `+` and the newline.
    pub text: String,
}

impl Diff {
    /// Reads the output of `git diff`. Never fails: lines it cannot place are skipped.
    pub fn parse(text: &str) -> Diff {
        let mut files = Vec::new();
        let mut current: Option<Builder> = None;
        for line in text.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if let Some(file) = current.as_mut()
                && file.in_hunk()
                && file.hunk_line(line)
            {
                continue;
            }
            if let Some(rest) = line.strip_prefix("diff --git ") {
                files.extend(current.take().and_then(Builder::finish));
                current = Some(Builder::from_git_header(rest));
                continue;
            }
            if line.starts_with("--- ") && current.as_ref().is_none_or(Builder::has_content) {
                files.extend(current.take().and_then(Builder::finish));
            }
            current
                .get_or_insert_with(Builder::default)
                .header_line(line);
        }
        files.extend(current.and_then(Builder::finish));
        Diff { files }
    }

    /// Lines added plus lines removed: the size the diff-size gate limits.
    pub fn changed_lines(&self) -> u64 {
        self.files
            .iter()
            .map(|f| f.added.len() as u64 + u64::from(f.removed))
            .sum()
    }

    /// Whether the change touches no file at all (a mode change or a pure rename counts
    /// as touching).
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Whether an inline review comment on `line` of `path` (new side) would be
    /// accepted: the line lies inside one of the file's hunks.
    pub fn commentable(&self, path: &str, line: u32) -> bool {
        self.files
            .iter()
            .filter(|f| f.path == path && f.status != ChangeStatus::Deleted)
            .any(|f| f.hunks.iter().any(|hunk| hunk.contains(&line)))
    }

    /// Every path the change touches, rename sources included, each once.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        let mut seen = HashSet::new();
        self.files
            .iter()
            .flat_map(|f| std::iter::once(f.path.as_str()).chain(f.old_path.as_deref()))
            .filter(move |path| seen.insert(*path))
    }
}

/// Where one side's name came from; later, more precise sources win.
#[derive(Default)]
struct Names {
    /// From the `diff --git` line (ambiguous when names hold spaces).
    header: Option<String>,
    /// From the `---` / `+++` line.
    marker: Option<String>,
    /// From `rename from` / `rename to`.
    rename: Option<String>,
}

impl Names {
    fn best(self) -> Option<String> {
        self.rename.or(self.marker).or(self.header)
    }
}

/// A file being read.
#[derive(Default)]
struct Builder {
    old: Names,
    new: Names,
    old_is_null: bool,
    new_is_null: bool,
    new_file: bool,
    deleted_file: bool,
    renamed: bool,
    binary: bool,
    mode: Option<u32>,
    saw_old_marker: bool,
    added: Vec<AddedLine>,
    removed: u32,
    hunks: Vec<RangeInclusive<u32>>,
    lines: Vec<DiffLine>,
    /// Old-side and new-side lines the current hunk still has to show.
    old_left: u32,
    new_left: u32,
    /// The next old-side and new-side line numbers in the current hunk.
    next_old: u32,
    next_new: u32,
}

impl Builder {
    fn from_git_header(rest: &str) -> Self {
        let (old, new) = split_git_header(rest);
        let mut builder = Self::default();
        builder.old.header = old.map(|p| strip_prefix(p, "a/"));
        builder.new.header = new.map(|p| strip_prefix(p, "b/"));
        builder
    }

    fn in_hunk(&self) -> bool {
        self.old_left > 0 || self.new_left > 0
    }

    /// Whether a `---` line here starts another file (plain diffs have no `diff --git`).
    fn has_content(&self) -> bool {
        self.saw_old_marker || !self.hunks.is_empty() || self.removed > 0 || !self.added.is_empty()
    }

    /// Takes one line of the current hunk; `false` when the line cannot belong to a hunk
    /// (the hunk was shorter than announced), so the caller reads it as a header.
    fn hunk_line(&mut self, line: &str) -> bool {
        let Some(first) = line.chars().next() else {
            self.record(LineKind::Context, "");
            self.context_line();
            return true;
        };
        let text = &line[first.len_utf8()..];
        match first {
            ' ' => {
                self.record(LineKind::Context, text);
                self.context_line();
            }
            '+' if self.new_left > 0 => {
                self.record(LineKind::Added, text);
                self.added.push(AddedLine {
                    line: self.next_new,
                    text: text.to_owned(),
                });
                self.next_new = self.next_new.saturating_add(1);
                self.new_left -= 1;
            }
            '-' if self.old_left > 0 => {
                self.record(LineKind::Removed, text);
                self.removed = self.removed.saturating_add(1);
                self.next_old = self.next_old.saturating_add(1);
                self.old_left -= 1;
            }
            '\\' => {}
            _ => {
                self.old_left = 0;
                self.new_left = 0;
                return false;
            }
        }
        true
    }

    fn context_line(&mut self) {
        self.old_left = self.old_left.saturating_sub(1);
        self.new_left = self.new_left.saturating_sub(1);
        self.next_old = self.next_old.saturating_add(1);
        self.next_new = self.next_new.saturating_add(1);
    }

    fn record(&mut self, kind: LineKind, text: &str) {
        self.lines.push(DiffLine {
            kind,
            old: self.next_old,
            new: self.next_new,
            text: text.to_owned(),
        });
    }

    fn header_line(&mut self, line: &str) {
        if let Some(rest) = line.strip_prefix("@@ ") {
            self.start_hunk(rest);
        } else if let Some(rest) = line.strip_prefix("--- ") {
            self.saw_old_marker = true;
            match marker_path(rest) {
                None => self.old_is_null = true,
                Some(path) => self.old.marker = Some(strip_prefix(path, "a/")),
            }
        } else if let Some(rest) = line.strip_prefix("+++ ") {
            match marker_path(rest) {
                None => self.new_is_null = true,
                Some(path) => self.new.marker = Some(strip_prefix(path, "b/")),
            }
        } else if let Some(rest) = line.strip_prefix("rename from ") {
            self.renamed = true;
            self.old.rename = Some(unquote(rest).0);
        } else if let Some(rest) = line.strip_prefix("rename to ") {
            self.renamed = true;
            self.new.rename = Some(unquote(rest).0);
        } else if let Some(mode) = line.strip_prefix("new file mode ") {
            self.new_file = true;
            self.mode = u32::from_str_radix(mode.trim(), 8).ok().or(self.mode);
        } else if line.starts_with("copy to ") {
            self.new_file = true;
        } else if let Some(mode) = line.strip_prefix("new mode ") {
            self.mode = u32::from_str_radix(mode.trim(), 8).ok().or(self.mode);
        } else if let Some(rest) = line.strip_prefix("index ")
            && let Some(mode) = rest.split(' ').nth(1)
        {
            self.mode = u32::from_str_radix(mode.trim(), 8).ok().or(self.mode);
        } else if line.starts_with("deleted file mode") {
            self.deleted_file = true;
        } else if line.starts_with("Binary files ") || line == "GIT binary patch" {
            self.binary = true;
        }
    }

    /// Starts a hunk from the rest of an `@@ -a,b +c,d @@` line; a malformed header
    /// starts nothing.
    fn start_hunk(&mut self, rest: &str) {
        let mut fields = rest.split(' ');
        let old = fields.next().and_then(|f| f.strip_prefix('-'));
        let new = fields.next().and_then(|f| f.strip_prefix('+'));
        let (Some((old_start, old_count)), Some((new_start, new_count))) =
            (old.and_then(parse_range), new.and_then(parse_range))
        else {
            return;
        };
        if new_count > 0 {
            let end = new_start.saturating_add(new_count - 1);
            self.hunks.push(new_start.max(1)..=end.max(1));
        }
        self.old_left = old_count;
        self.new_left = new_count;
        self.next_old = old_start.max(1);
        self.next_new = new_start.max(1);
        let context = rest.split_once("@@").map_or("", |(_, after)| after.trim());
        self.record(LineKind::HunkStart, context);
    }

    fn finish(self) -> Option<FileChange> {
        let status = if self.deleted_file || self.new_is_null {
            ChangeStatus::Deleted
        } else if self.new_file || self.old_is_null {
            ChangeStatus::Added
        } else if self.renamed {
            ChangeStatus::Renamed
        } else {
            ChangeStatus::Modified
        };
        let old = self.old.best();
        let new = self.new.best();
        let (path, old_path) = match status {
            ChangeStatus::Deleted => (old.or(new)?, None),
            ChangeStatus::Renamed => {
                let new = new?;
                (new, old)
            }
            ChangeStatus::Added | ChangeStatus::Modified => (new.or(old)?, None),
        };
        (!path.is_empty()).then_some(FileChange {
            path,
            old_path,
            status,
            binary: self.binary,
            mode: self.mode,
            added: self.added,
            removed: self.removed,
            hunks: self.hunks,
            lines: self.lines,
        })
    }
}

/// `start[,count]` of a hunk header; the count defaults to 1.
fn parse_range(field: &str) -> Option<(u32, u32)> {
    match field.split_once(',') {
        Some((start, count)) => Some((start.parse().ok()?, count.parse().ok()?)),
        None => Some((field.parse().ok()?, 1)),
    }
}

/// The path of a `---` / `+++` line, or `None` for `/dev/null`. Git appends a tab to a
/// name holding a space; other tools put a timestamp after the tab.
fn marker_path(rest: &str) -> Option<String> {
    let path = if rest.starts_with('"') {
        unquote(rest).0
    } else {
        rest.split('\t').next().unwrap_or(rest).to_owned()
    };
    (path != "/dev/null").then_some(path)
}

/// The two names of a `diff --git a/x b/y` line. Unquoted names holding spaces are
/// ambiguous; equal names (no rename) are found exactly, and a rename's names come from
/// its `rename from/to` lines anyway.
fn split_git_header(rest: &str) -> (Option<String>, Option<String>) {
    if rest.starts_with('"') {
        let (old, after) = unquote(rest);
        let after = after.strip_prefix(' ').unwrap_or(after);
        return (Some(old), Some(unquote(after).0));
    }
    if rest.len() % 2 == 1 {
        let half = rest.len() / 2;
        if rest.is_char_boundary(half) && rest.is_char_boundary(half + 1) {
            let (old, new) = (&rest[..half], &rest[half + 1..]);
            if rest.as_bytes()[half] == b' '
                && old
                    .strip_prefix("a/")
                    .is_some_and(|o| Some(o) == new.strip_prefix("b/"))
            {
                return (Some(old.to_owned()), Some(new.to_owned()));
            }
        }
    }
    if let Some(at) = rest.find(" \"") {
        return (
            Some(rest[..at].to_owned()),
            Some(unquote(&rest[at + 1..]).0),
        );
    }
    match rest.find(" b/") {
        Some(at) => (Some(rest[..at].to_owned()), Some(rest[at + 1..].to_owned())),
        None => (None, None),
    }
}

/// The path without git's side prefix, when it has one.
fn strip_prefix(path: String, prefix: &str) -> String {
    match path.strip_prefix(prefix) {
        Some(stripped) => stripped.to_owned(),
        None => path,
    }
}

/// A name as git prints it: C-quoted (`"a/x\ty\303\251"`) when it holds special
/// characters, else as is. Returns the name and the text after it.
fn unquote(text: &str) -> (String, &str) {
    let Some(body) = text.strip_prefix('"') else {
        return (text.to_owned(), "");
    };
    let bytes = body.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return (String::from_utf8_lossy(&out).into_owned(), &body[i + 1..]),
            b'\\' if i + 1 < bytes.len() => {
                let escaped = bytes[i + 1];
                let octal = bytes.get(i + 1..i + 4).filter(|digits| {
                    digits.iter().all(|d| (b'0'..=b'7').contains(d)) && digits[0] <= b'3'
                });
                if let Some(digits) = octal {
                    out.push(digits.iter().fold(0u8, |acc, d| acc * 8 + (d - b'0')));
                    i += 4;
                    continue;
                }
                out.push(match escaped {
                    b'a' => 0x07,
                    b'b' => 0x08,
                    b't' => b'\t',
                    b'n' => b'\n',
                    b'v' => 0x0b,
                    b'f' => 0x0c,
                    b'r' => b'\r',
                    other => other,
                });
                i += 2;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), "")
}

/// Git's mode of a symbolic link.
pub const SYMLINK_MODE: u32 = 0o120000;

/// Git's mode of a submodule (a commit of another repository).
pub const SUBMODULE_MODE: u32 = 0o160000;
