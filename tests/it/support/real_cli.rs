//! The real coding-agent CLIs in tests: where the pinned install lives (installing it
//! once, under a lock, when it is missing), and a run of Claude Code in the fleet's
//! sandbox against a scripted model server, pointed at it the way users point it at a
//! model API: `ANTHROPIC_BASE_URL` and `ANTHROPIC_API_KEY` in Flotilla's environment,
//! named in `pass_env`, and the server's address in `network.allow`; the same for a
//! whole fleet of Claude agents on the simulator ([`claude_agent`], [`claude_world`]).

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use flotilla::agent::{Adapter, AgentReport, HostEnv, Role, Tokens};
use flotilla::sim::model::{ModelServer, ModelServerHandle, Script, ScriptUsage};
use flotilla::store::{RunRecord, RunState, TaskRecord, TaskState};
use flotilla::types::IssueNumber;
use tempfile::TempDir;

use super::world::TestWorld;
use super::{agent_run, test_sandbox_exposing};

/// The dummy API key the CLI sends; the scripted server accepts anything.
pub const DUMMY_API_KEY: &str = "sk-ant-scripted-dummy";

/// What Claude Code needs from Flotilla's environment to reach the model server: its
/// URL and a key, named in each Claude agent's `pass_env`.
pub const CLAUDE_PASS_ENV: [&str; 2] = ["ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY"];

/// A model server playing `script` (YAML).
pub async fn model_server(script: &str) -> ModelServerHandle {
    ModelServer::start(Script::from_yaml(script).expect("model script parses"))
        .await
        .expect("model server starts")
}

/// What the server reported, summed over its answers, in Flotilla's token kinds.
pub fn reported_tokens(server: &ModelServerHandle) -> Tokens {
    let ScriptUsage {
        input,
        output,
        cache_read,
        cache_write,
    } = server.reported_usage();
    Tokens {
        input,
        output,
        cache_read,
        cache_write,
    }
}

/// An agent section (`worker:`, `planner:`, or a lens under `reviewers:` when indented
/// by the caller) running Claude Code against `server`, as a maintainer writes it:
/// the URL and key through `pass_env` (plus `extra_env`, such as the CLI's own retry
/// setting), the server's address in `network.allow`.
pub fn claude_agent(section: &str, server: &ModelServerHandle, extra_env: &[&str]) -> String {
    let pass_env: Vec<&str> = CLAUDE_PASS_ENV.iter().chain(extra_env).copied().collect();
    format!(
        "{section}:
  adapter: claude-code
  time_limit: 90s
  pass_env: [{}]
  network:
    allow: [\"{}\"]
",
        pass_env.join(", "),
        server.addr()
    )
}

/// A world whose Flotilla runs the pinned Claude Code against `server`: the model
/// API's URL and a dummy key in Flotilla's environment, with `extra_env` beside them.
pub async fn claude_world(server: &ModelServerHandle, extra_env: &[(&str, String)]) -> TestWorld {
    let mut vars = vec![
        (CLAUDE_PASS_ENV[0], server.url()),
        (CLAUDE_PASS_ENV[1], DUMMY_API_KEY.to_owned()),
    ];
    vars.extend(extra_env.iter().cloned());
    TestWorld::start_with_agent_clis_env(&vars).await
}

/// Serializes installs within this test process; the file lock does across processes.
static INSTALL: Mutex<()> = Mutex::new(());

/// Where `tests/agent-clis/install.sh` installs the pinned CLIs.
pub fn agent_clis_dir() -> PathBuf {
    std::env::var_os("FLOTILLA_AGENT_CLIS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/flotilla-agent-clis"))
}

/// The directory holding the pinned `claude` (and `codex`), installed first if missing.
pub fn agent_clis_bin() -> PathBuf {
    let root = agent_clis_dir();
    let bin = root.join("node_modules/.bin");
    if bin.join("claude").exists() {
        return bin;
    }
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    std::fs::create_dir_all(&root).expect("agent CLI directory");
    let lock = std::fs::File::create(root.with_extension("lock")).expect("install lock file");
    // SAFETY: flock on a file descriptor this function owns for the whole install.
    let locked = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
    assert_eq!(locked, 0, "locking the agent CLI install");
    if !bin.join("claude").exists() {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/agent-clis/install.sh");
        let status = Command::new(script)
            .env("FLOTILLA_AGENT_CLIS", &root)
            .status()
            .expect("tests/agent-clis/install.sh runs");
        assert!(status.success(), "tests/agent-clis/install.sh failed");
    }
    bin
}

/// Asserts every agent of a run — the planner, the worker and the three lenses — talked
/// to the scripted model server: each CLI was really driven, none skipped.
pub fn every_agent_talked_to(server: &ModelServerHandle) {
    let conversations: Vec<String> = server
        .requests()
        .into_iter()
        .filter_map(|r| r.conversation)
        .collect();
    for name in ["planner", "worker", "correctness", "security", "runs"] {
        assert!(
            conversations.iter().any(|c| c == name),
            "{name} never talked to the model: {conversations:?}"
        );
    }
}

/// The `flotilla/verify` summaries on a task's verified head, joined: what each lens
/// said and what the task's agents spent, as a maintainer reads them on the PR (a lens
/// that upholds with nothing to say posts no review).
pub fn verify_summary(world: &TestWorld, task: &TaskRecord) -> String {
    let head = task.head_sha.clone().expect("a verified head");
    world
        .check_runs(&head)
        .into_iter()
        .filter(|c| c.name == "flotilla/verify")
        .filter_map(|c| c.summary)
        .collect()
}

/// Claude Code in the fleet's sandbox, talking to a scripted model server.
pub struct RealClaude {
    /// The model server, with its record of requests and the usage it reported.
    pub server: ModelServerHandle,
    /// The worktree the CLI works in.
    pub tree: TempDir,
    data_dir: TempDir,
    /// More of Flotilla's environment, each passed to the CLI (`pass_env`).
    extra_env: Vec<(String, String)>,
}

impl RealClaude {
    /// Starts a model server playing `script` (YAML) and an empty git worktree.
    pub async fn start(script: &str) -> Self {
        let server = model_server(script).await;
        let tree = TempDir::new().expect("worktree");
        let git = |args: &[&str]| {
            let status = Command::new("git")
                .args(args)
                .current_dir(tree.path())
                .status()
                .expect("git runs");
            assert!(status.success(), "git {args:?}");
        };
        git(&["init", "-q", "-b", "main"]);
        git(&[
            "remote",
            "add",
            "origin",
            "https://example.invalid/repo.git",
        ]);
        Self {
            server,
            tree,
            data_dir: TempDir::new().expect("data dir"),
            extra_env: Vec::new(),
        }
    }

    /// Also sets `name` in Flotilla's environment and passes it to the CLI, such as
    /// Claude Code's own `CLAUDE_CODE_MAX_RETRIES`.
    pub fn with_env(mut self, name: &str, value: &str) -> Self {
        self.extra_env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Flotilla's environment as an operator sets it for Claude Code: the CLI on
    /// `PATH`, the model API's URL and key.
    pub fn host_env(&self) -> HostEnv {
        let path = std::env::var("PATH").unwrap_or_default();
        let env = HostEnv::current()
            .with("PATH", format!("{}:{path}", agent_clis_bin().display()))
            .with(CLAUDE_PASS_ENV[0], self.server.url())
            .with(CLAUDE_PASS_ENV[1], DUMMY_API_KEY);
        self.extra_env
            .iter()
            .fold(env, |env, (name, value)| env.with(name, value))
    }

    /// Runs `adapter` (Claude Code) as `role` with `prompt`, sandboxed as the fleet runs
    /// agents, with the model server as its only reachable host.
    pub async fn run(&self, adapter: &Adapter, role: Role, prompt: &str) -> AgentReport {
        let bin = agent_clis_bin();
        let root = agent_clis_dir();
        let sandbox = test_sandbox_exposing(
            self.data_dir.path(),
            "http://127.0.0.1:1",
            &[],
            &[],
            &[root],
        )
        .await;
        let mut run = agent_run(adapter.command(), self.tree.path());
        run.role = role;
        run.lens = (role == Role::Reviewer).then(|| "correctness".to_owned());
        run.prompt = prompt.to_owned();
        run.time_limit = Duration::from_secs(90);
        run.usage_format = adapter.usage_format();
        run.pass_env = CLAUDE_PASS_ENV
            .map(str::to_owned)
            .into_iter()
            .chain(self.extra_env.iter().map(|(name, _)| name.clone()))
            .collect();
        run.confinement.network_allow = vec![self.server.addr().to_string()];
        assert!(bin.join("claude").exists());
        run.run(&self.host_env(), &sandbox)
            .await
            .expect("the run is prepared")
    }

    /// A file of the worktree, or `None`.
    pub fn file(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.tree.path().join(name)).ok()
    }
}

/// Dispatches the greeting issue the planner scripts of the real-CLI fleet tests
/// answer, and checks the run end to end: planned by the planner agent, one task
/// merged with `greeting.txt` saying hello on `main`, and the worker's own
/// `git push origin HEAD:refs/heads/agent-pushed-this` nowhere on GitHub.
pub async fn planned_greeting_merges(world: &TestWorld) -> (IssueNumber, RunRecord, TaskRecord) {
    let issue = world
        .dispatch("Greetings", "We should greet people in a file.")
        .await;
    let (run, mut tasks) = tokio::time::timeout(Duration::from_secs(300), world.run_ends(issue))
        .await
        .expect("the run ends");

    assert_eq!(run.state, RunState::Settled);
    assert_eq!(run.plan_source.as_deref(), Some("the planner agent's plan"));
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].state, TaskState::Merged, "{:?}", tasks[0]);
    assert_eq!(
        world.on_main("greeting.txt").await.as_deref(),
        Some("hello\n")
    );
    assert_eq!(
        world.sim.branch_sha(&world.repo, "agent-pushed-this").await,
        None,
        "the agent's own git push reached GitHub"
    );
    (issue, run, tasks.remove(0))
}

/// Dispatches a one-task issue whose worker's model API never answers, and checks the
/// task failed for good (the CLI exited non-zero) with a comment offering the retry,
/// and no pull request was opened.
pub async fn a_dead_model_api_fails_the_task_with_a_comment_and_no_pr(world: &TestWorld) {
    let issue = world.dispatch("Doomed", "Add `x.txt`.").await;
    let (_, tasks) = tokio::time::timeout(Duration::from_secs(300), world.run_ends(issue))
        .await
        .expect("the run ends");

    assert_eq!(tasks[0].state, TaskState::Failed);
    let reason = tasks[0].last_reason.clone().unwrap_or_default();
    assert!(reason.contains("exit"), "{reason}");
    let comments = world.bot_comments(issue);
    assert!(
        comments
            .iter()
            .any(|c| c.contains("Task 1") && c.contains("/flotilla retry 1")),
        "{comments:#?}"
    );
    assert!(world.sim.pulls(&world.repo).is_empty());
}
