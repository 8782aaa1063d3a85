//! Starting a configured agent in a checkout: the one place the orchestrator turns a
//! repository's agent settings and the fleet's limits into an [`AgentRun`].

use std::path::Path;

use super::fleet::Fleet;
use crate::agent::{AgentRun, Role};
use crate::config::AgentConfig;

/// Describes one agent run of `role` in `dir`; the caller runs it with the fleet's
/// host environment.
pub(crate) fn agent_run(
    fleet: &Fleet,
    agent: &AgentConfig,
    dir: &Path,
    prompt: String,
    role: Role,
    task_id: String,
    task_title: String,
) -> AgentRun {
    AgentRun {
        command: agent.to_adapter().command(),
        working_dir: dir.to_owned(),
        prompt,
        role,
        task_id,
        task_title,
        lens: None,
        time_limit: agent.time_limit,
        kill_grace: fleet.config.kill_grace,
        pass_env: agent.pass_env.clone(),
        transcript_cap: fleet.config.transcript_cap,
    }
}
