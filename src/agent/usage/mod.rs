//! What an agent's model used: tokens per model and the cost a CLI reports, read from
//! the CLI's streaming output line by line while the agent runs.
//!
//! Each CLI that reports usage has its own reader (`claude`, `codex`); the runner feeds
//! it every stdout line and publishes the running total, so a budget can stop an agent
//! mid-run. This module only reads what the CLI printed: an agent's output is a claim
//! about its usage, and pricing it is the `pricing` module's job.

mod claude;
mod codex;

use std::collections::BTreeMap;
use std::ops::AddAssign;

use serde::{Deserialize, Serialize};

/// Token counts of one model (or a sum over models).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    /// Input tokens not read from the prompt cache.
    pub input: u64,
    /// Output tokens.
    pub output: u64,
    /// Input tokens read from the prompt cache.
    pub cache_read: u64,
    /// Input tokens written to the prompt cache.
    pub cache_write: u64,
}

impl Tokens {
    /// Every token counted, whatever its kind: what a token budget limits.
    pub fn total(&self) -> u64 {
        self.input
            .saturating_add(self.output)
            .saturating_add(self.cache_read)
            .saturating_add(self.cache_write)
    }
}

impl AddAssign for Tokens {
    fn add_assign(&mut self, other: Self) {
        self.input = self.input.saturating_add(other.input);
        self.output = self.output.saturating_add(other.output);
        self.cache_read = self.cache_read.saturating_add(other.cache_read);
        self.cache_write = self.cache_write.saturating_add(other.cache_write);
    }
}

/// What one agent run used so far, as its CLI reported it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens per model name as the CLI reported it (`""` when it named none).
    pub by_model: BTreeMap<String, Tokens>,
    /// The run's cost in USD when the CLI reports one (Claude Code's
    /// `total_cost_usd`); otherwise the pricing table turns tokens into dollars.
    pub reported_cost_usd: Option<f64>,
}

impl Usage {
    /// Tokens summed over every model.
    pub fn tokens(&self) -> Tokens {
        let mut sum = Tokens::default();
        for tokens in self.by_model.values() {
            sum += *tokens;
        }
        sum
    }

    /// Whether nothing was reported at all.
    pub fn is_empty(&self) -> bool {
        self.by_model.is_empty() && self.reported_cost_usd.is_none()
    }
}

/// Which streaming format an agent's stdout is in, for reading its usage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UsageFormat {
    /// The CLI reports no usage Flotilla can read (aider, a shell command).
    None,
    /// Claude Code's `--output-format stream-json` events.
    ClaudeStreamJson,
    /// `codex exec --json` events, which name no model: `model` is the one the adapter
    /// asked for (`""` when the CLI chose).
    CodexJson {
        /// The model the usage is recorded under.
        model: String,
    },
}

/// Reads usage out of one run's stdout, a line at a time, as the lines arrive.
#[derive(Debug)]
pub enum UsageReader {
    /// Nothing to read.
    None,
    /// Claude Code's stream.
    Claude(claude::ClaudeUsage),
    /// Codex's stream.
    Codex(codex::CodexUsage),
}

impl UsageReader {
    /// A reader for `format`.
    pub fn new(format: &UsageFormat) -> Self {
        match format {
            UsageFormat::None => UsageReader::None,
            UsageFormat::ClaudeStreamJson => UsageReader::Claude(claude::ClaudeUsage::default()),
            UsageFormat::CodexJson { model } => UsageReader::Codex(codex::CodexUsage::new(model)),
        }
    }

    /// Takes one complete line of stdout (without its newline); returns whether the
    /// usage changed. Lines that are not the format's events are ignored.
    pub fn line(&mut self, line: &str) -> bool {
        match self {
            UsageReader::None => false,
            UsageReader::Claude(reader) => reader.line(line),
            UsageReader::Codex(reader) => reader.line(line),
        }
    }

    /// The usage read so far.
    pub fn usage(&self) -> Usage {
        match self {
            UsageReader::None => Usage::default(),
            UsageReader::Claude(reader) => reader.usage(),
            UsageReader::Codex(reader) => reader.usage(),
        }
    }
}
