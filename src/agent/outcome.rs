//! How an agent run ended, as data for the orchestrator and words for the record.
//!
//! Each ending carries the one sentence that explains it; the orchestrator decides what
//! follows (retry, fail the task, refute the change), never this module.

use std::fmt;
use std::time::Duration;

use crate::sandbox::LimitBreach;

/// How an agent run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Exited with status 0.
    Exited,
    /// Exited with a non-zero status.
    Failed {
        /// The exit status.
        code: i32,
    },
    /// Died from a signal it did not get from Flotilla: a crash.
    Killed {
        /// The signal number.
        signal: i32,
    },
    /// Ran past its time limit; its whole group was stopped.
    TimedOut {
        /// The limit it exceeded.
        limit: Duration,
    },
    /// Broke a resource limit of its sandbox; everything it started was stopped.
    LimitExceeded {
        /// Which limit.
        breach: LimitBreach,
    },
    /// Reached its budget while it ran; everything it started was stopped.
    BudgetExceeded {
        /// Which budget, with its figure (`the task's budget of $2.00`).
        budget: String,
    },
    /// Never started.
    SpawnFailed {
        /// Why.
        error: String,
    },
}

impl Outcome {
    /// Whether the agent finished its work (exit status 0).
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Exited)
    }

    /// A sentence for the task's record and the comment that reports it.
    pub fn reason(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Exited => f.write_str("the agent exited successfully"),
            Outcome::Failed { code } => write!(f, "the agent exited with status {code}"),
            Outcome::Killed { signal } => write!(
                f,
                "the agent crashed: it was killed by signal {signal} ({})",
                signal_name(*signal)
            ),
            Outcome::TimedOut { limit } => write!(
                f,
                "the agent ran past its time limit of {limit:?} and was stopped with all its processes"
            ),
            Outcome::LimitExceeded { breach } => write!(
                f,
                "the agent exceeded {breach} and was stopped with all its processes"
            ),
            Outcome::BudgetExceeded { budget } => write!(
                f,
                "the agent reached {budget} and was stopped with all its processes"
            ),
            Outcome::SpawnFailed { error } => write!(f, "the agent could not be started: {error}"),
        }
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGINT => "SIGINT",
        libc::SIGHUP => "SIGHUP",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGPIPE => "SIGPIPE",
        _ => "another signal",
    }
}
