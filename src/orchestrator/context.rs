//! What a job handler working on one task needs besides the fleet's handlers, in one
//! value: the installation's GitHub client, the run, the task and the run's
//! configuration — passed as one argument instead of four.

use crate::config::RepoConfig;
use crate::github::InstallationClient;
use crate::store::{RunRecord, TaskRecord};

/// One task's job, as its handler sees it.
#[derive(Clone, Copy)]
pub(super) struct TaskContext<'a> {
    /// The client acting as the run's installation.
    pub(super) client: &'a InstallationClient,
    /// The run the task belongs to.
    pub(super) run: &'a RunRecord,
    /// The task.
    pub(super) task: &'a TaskRecord,
    /// The configuration the run works with.
    pub(super) config: &'a RepoConfig,
}
