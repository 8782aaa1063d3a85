//! Usage in `codex exec --json` events.

use super::Usage;

/// The running usage of one Codex run.
#[derive(Debug, Default)]
pub struct CodexUsage {
    usage: Usage,
}

impl CodexUsage {
    /// Takes one stdout line; returns whether the usage changed.
    pub fn line(&mut self, _line: &str) -> bool {
        false
    }

    /// The usage read so far.
    pub fn usage(&self) -> Usage {
        self.usage.clone()
    }
}
