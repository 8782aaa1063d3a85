//! Starting a configured agent in a checkout: the one place the orchestrator turns a
//! repository's agent settings, its sandbox limits and the fleet's limits into an
//! [`AgentRun`].

use super::fleet::Fleet;
use crate::agent::{AgentRun, Role};
use crate::config::AgentConfig;
use std::path::Path;

use crate::sandbox::{Confinement, ResourceLimits};

/// Which task (or plan) an agent run is for, as the agent is told.
pub(crate) struct TaskLabel {
    /// `FLOTILLA_TASK_ID`.
    pub(crate) id: String,
    /// `FLOTILLA_TASK_TITLE`.
    pub(crate) title: String,
}

/// Describes one agent run of `role` in `tree` (a worker's or planner's own repository,
/// a reviewer's checkout), confined to it: writable for workers and planners,
/// read-only for reviewers. Nothing else of git is shown: a worker's repository is
/// inside its tree, and a checkout has none. The caller runs it with the fleet's host
/// environment and sandbox.
pub(crate) fn agent_run(
    fleet: &Fleet,
    agent: &AgentConfig,
    tree: &Path,
    limits: ResourceLimits,
    prompt: String,
    role: Role,
    task: TaskLabel,
) -> AgentRun {
    let adapter = agent.to_adapter();
    AgentRun {
        command: adapter.command(),
        usage_format: adapter.usage_format(),
        usage_cap: None,
        working_dir: tree.to_owned(),
        prompt,
        role,
        task_id: task.id,
        task_title: task.title,
        lens: None,
        time_limit: agent.time_limit,
        kill_grace: fleet.config.kill_grace,
        pass_env: agent.pass_env.clone(),
        transcript_cap: fleet.config.transcript_cap,
        confinement: Confinement {
            tree_writable: role != Role::Reviewer,
            views: Vec::new(),
            network_allow: agent.network.allow.clone(),
            limits,
            separate_runs: None,
        },
    }
}
