//! Agents as processes: run one coding-agent CLI in a worktree, isolated in its own
//! process group with an allowlisted environment and a time limit, and read its answer.
//!
//! `adapter` turns a configured agent into a command and decodes its output; `runner`
//! runs it and records how it ended; `result` finds a planner's or reviewer's JSON
//! answer; `env` owns the rule that no credential ever reaches an agent. This module
//! never decides what to do with an outcome: that is the orchestrator's job.

pub mod adapter;
pub mod codex_config;
pub mod env;
mod group;
mod outcome;
pub mod result;
pub mod runner;
mod transcript;
pub mod usage;

pub use adapter::Adapter;
pub use env::{EnvError, HostEnv};
pub use outcome::Outcome;
pub use result::ResultError;
pub use runner::{AgentCommand, AgentReport, AgentRun, Arg, Role, RunError, UsageCap};
pub use usage::{Tokens, Usage, UsageFormat};
