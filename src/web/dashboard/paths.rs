//! The dashboard's URL paths, in one place: its pages link to each other with them,
//! and the check runs and comments Flotilla posts link to them.

use crate::store::RunId;
use crate::types::CommitSha;

/// Every run the viewer may see.
pub const RUNS: &str = "/runs";
/// The queue.
pub const QUEUE: &str = "/queue";

/// A run's page.
pub fn run(run: RunId) -> String {
    format!("/runs/{run}")
}

/// A worker attempt's page.
pub fn attempt(run: RunId, position: i64, attempt: u32) -> String {
    format!("/runs/{run}/tasks/{position}/attempts/{attempt}")
}

/// The page of a task head's verification.
pub fn verification(run: RunId, position: i64, head: &CommitSha) -> String {
    format!("/runs/{run}/tasks/{position}/verifications/{head}")
}
