//! Usage in Claude Code's `--output-format stream-json` events.

use super::Usage;

/// The running usage of one Claude Code run.
#[derive(Debug, Default)]
pub struct ClaudeUsage {
    usage: Usage,
}

impl ClaudeUsage {
    /// Takes one stdout line; returns whether the usage changed.
    pub fn line(&mut self, _line: &str) -> bool {
        false
    }

    /// The usage read so far.
    pub fn usage(&self) -> Usage {
        self.usage.clone()
    }
}
