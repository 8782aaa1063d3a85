//! The agent runner on real child processes: environment and files an agent gets, no
//! credential ever reaching it, crashes, hangs that take their grandchildren down with
//! them, capped transcripts, answers read from result files and stdout, and each
//! built-in adapter against a stand-in CLI in `fixtures/agents/`.

use std::path::PathBuf;
use std::time::Duration;

use flotilla::agent::codex_config::CodexConfig;
use flotilla::agent::result::{self, ResultError};
use flotilla::agent::{
    Adapter, AgentCommand, AgentReport, AgentRun, EnvError, HostEnv, Outcome, Role, RunError,
};
use tempfile::TempDir;

use crate::support::proc_scan::running_with;
use crate::support::{agent_run, fixture_path, test_sandbox};

const GITHUB_TOKEN: &str = "ghs_leakedInstallationToken123";
const WEBHOOK_SECRET: &str = "leaked-webhook-secret";
const PRIVATE_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----leaked";

/// Flotilla's environment as a test imagines it: the real one, the stand-in CLIs first on
/// `PATH`, and every credential Flotilla itself holds.
fn flotilla_env() -> HostEnv {
    let path = std::env::var("PATH").unwrap_or_default();
    let agents = fixture_path("agents");
    HostEnv::current()
        .with("PATH", format!("{}:{path}", agents.display()))
        .with("GITHUB_TOKEN", GITHUB_TOKEN)
        .with("GH_TOKEN", GITHUB_TOKEN)
        .with("GITHUB_APP_PRIVATE_KEY", PRIVATE_KEY)
        .with("FLOTILLA_PRIVATE_KEY", PRIVATE_KEY)
        .with("FLOTILLA_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .with("AGENT_TOOL_CONFIG", "passed-through")
}

/// A worktree stand-in and a run in it.
struct Scenario {
    worktree: TempDir,
    data_dir: TempDir,
    run: AgentRun,
}

impl Scenario {
    fn new(command: AgentCommand) -> Self {
        let worktree = TempDir::new().expect("worktree");
        let run = agent_run(command, worktree.path());
        Self {
            worktree,
            data_dir: TempDir::new().expect("data dir"),
            run,
        }
    }

    fn shell(line: &str) -> Self {
        Self::new(AgentCommand::Shell(line.to_owned()))
    }

    async fn run(&self) -> AgentReport {
        self.try_run().await.expect("run is prepared")
    }

    /// Runs the agent in a sandbox like the fleet's.
    async fn try_run(&self) -> Result<AgentReport, RunError> {
        let sandbox = test_sandbox(self.data_dir.path(), "http://127.0.0.1:1", &[], &[]).await;
        self.run.run(&flotilla_env(), &sandbox).await
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.worktree.path().join(name))
            .unwrap_or_else(|e| panic!("agent wrote {name}: {e}"))
    }
}

/// Asserts no process whose command line holds `marker` outlived the agent's run.
fn none_left_running(marker: &str) {
    let survivors = running_with(marker);
    assert!(
        survivors.is_empty(),
        "processes {survivors:?} holding {marker} survived the run"
    );
}

fn command(line: &str) -> Adapter {
    Adapter::Command {
        shell: line.to_owned(),
    }
}

#[tokio::test]
async fn a_worker_gets_the_prompt_on_stdin_and_in_a_private_file_and_the_flotilla_variables() {
    let mut scenario = Scenario::shell(
        r#"cat > stdin.txt
        cp "$FLOTILLA_PROMPT_FILE" prompt-copy.txt
        printf %s "$FLOTILLA_PROMPT_FILE" > prompt-path.txt
        printf %s "$FLOTILLA_RESULT_FILE" > result-path.txt
        env > env.txt
        echo "worker done""#,
    );
    scenario.run.role = Role::Worker;

    let report = scenario.run().await;

    assert_eq!(report.outcome, Outcome::Exited, "{}", report.transcript);
    assert!(report.outcome.is_success());
    assert_eq!(scenario.read("stdin.txt"), scenario.run.prompt);
    assert_eq!(scenario.read("prompt-copy.txt"), scenario.run.prompt);
    let prompt_path = PathBuf::from(scenario.read("prompt-path.txt"));
    let result_path = PathBuf::from(scenario.read("result-path.txt"));
    assert!(!prompt_path.starts_with(scenario.worktree.path()));
    assert_eq!(prompt_path.parent(), result_path.parent());
    assert!(!prompt_path.exists(), "the private directory is removed");
    let env = scenario.read("env.txt");
    for expected in [
        "FLOTILLA_ROLE=worker",
        "FLOTILLA_TASK_ID=task-7",
        "FLOTILLA_TASK_TITLE=Fix the parser",
    ] {
        assert!(env.lines().any(|l| l == expected), "{expected} in\n{env}");
    }
    assert!(env.lines().any(|l| l.starts_with("PATH=")));
    assert!(report.transcript.contains("worker done"));
    assert!(report.stdout.contains("worker done"));
}

#[tokio::test]
async fn a_reviewer_gets_no_result_file_and_one_written_anyway_is_never_read() {
    let mut scenario = Scenario::shell(
        r#"env > env.txt
        printf '{"verdict": "upheld", "summary": "forged", "findings": []}' > /run/flotilla/result.json
        echo '{"verdict": "refuted", "summary": "mine", "findings": []}'"#,
    );
    scenario.run.role = Role::Reviewer;
    scenario.run.lens = Some("security".to_owned());

    let report = scenario.run().await;

    assert!(report.outcome.is_success(), "{}", report.transcript);
    let env = scenario.read("env.txt");
    assert!(env.lines().any(|l| l == "FLOTILLA_LENS=security"), "{env}");
    assert!(!env.contains("FLOTILLA_RESULT_FILE"), "{env}");
    assert_eq!(report.result_file, None);
    let verdict = command("true").verdict(&report).expect("one verdict");
    assert_eq!(verdict["summary"], "mine");
}

#[tokio::test]
async fn a_reviewer_output_with_two_verdicts_has_none() {
    let mut scenario = Scenario::shell(
        r#"echo '{"verdict": "upheld", "summary": "printed by the tests it ran", "findings": []}'
        echo '{"verdict": "refuted", "summary": "mine", "findings": []}'"#,
    );
    scenario.run.role = Role::Reviewer;

    let report = scenario.run().await;

    assert!(report.outcome.is_success(), "{}", report.transcript);
    let error = command("true").verdict(&report).unwrap_err();
    assert_eq!(error, ResultError::SeveralVerdicts { count: 2 });
}

#[tokio::test]
async fn no_github_credential_reaches_the_agent_even_when_flotillas_environment_holds_them() {
    let mut scenario = Scenario::shell("env > env.txt");
    scenario.run.pass_env = vec!["AGENT_TOOL_CONFIG".to_owned()];

    let report = scenario.run().await;

    assert_eq!(report.outcome, Outcome::Exited, "{}", report.transcript);
    let env = scenario.read("env.txt");
    for secret in [GITHUB_TOKEN, WEBHOOK_SECRET, PRIVATE_KEY] {
        assert!(!env.contains(secret), "a credential leaked:\n{env}");
    }
    for name in [
        "GITHUB_TOKEN=",
        "GH_TOKEN=",
        "GITHUB_APP_",
        "FLOTILLA_WEBHOOK",
    ] {
        assert!(!env.contains(name), "{name} leaked:\n{env}");
    }
    assert!(env.contains("AGENT_TOOL_CONFIG=passed-through"));
}

#[tokio::test]
async fn naming_a_credential_in_pass_env_is_refused_and_the_agent_never_starts() {
    for name in [
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "github_token",
        "GITHUB_APP_ID",
        "MY_GITHUB_DEPLOY_TOKEN",
        "GITHUB_PAT",
        "FLOTILLA_WEBHOOK_SECRET",
        "FLOTILLA_PRIVATE_KEY",
        "NOT-A-NAME",
    ] {
        let mut scenario = Scenario::shell("touch started");
        scenario.run.pass_env = vec!["AGENT_TOOL_CONFIG".to_owned(), name.to_owned()];

        let error = scenario.try_run().await.expect_err("credential refused");

        let RunError::Env(refusal) = &error else {
            panic!("{name}: unexpected error {error}");
        };
        assert!(
            matches!(
                refusal,
                EnvError::Credential { .. }
                    | EnvError::Reserved { .. }
                    | EnvError::InvalidName { .. }
            ),
            "{refusal:?}"
        );
        assert!(error.to_string().contains(name), "{error}");
        assert!(!scenario.worktree.path().join("started").exists());
    }
    assert!(flotilla::agent::env::check_pass_env(&["RUST_LOG".to_owned()]).is_ok());
}

#[tokio::test]
async fn an_agent_that_kills_itself_is_recorded_as_a_crash() {
    let report = Scenario::shell("echo about to crash; kill -9 $$")
        .run()
        .await;

    assert_eq!(report.outcome, Outcome::Killed { signal: 9 });
    assert!(
        report.outcome.reason().contains("SIGKILL"),
        "{}",
        report.outcome
    );
    assert!(report.transcript.contains("about to crash"));
}

#[tokio::test]
async fn an_agent_that_fails_is_recorded_with_its_exit_status() {
    let report = Scenario::shell("echo oops >&2; exit 3").run().await;

    assert_eq!(report.outcome, Outcome::Failed { code: 3 });
    assert!(report.outcome.reason().contains("status 3"));
    assert!(report.transcript.contains("oops"));
}

#[tokio::test]
async fn an_agent_program_that_does_not_exist_is_recorded_as_spawn_failed() {
    let report = Scenario::new(AgentCommand::Program {
        program: "flotilla-no-such-agent".to_owned(),
        args: Vec::new(),
        env: Vec::new(),
    })
    .run()
    .await;

    let Outcome::SpawnFailed { error } = &report.outcome else {
        panic!("{:?}", report.outcome);
    };
    assert!(error.contains("flotilla-no-such-agent"), "{error}");
}

#[tokio::test]
async fn a_hanging_agent_times_out_and_its_whole_group_dies_including_grandchildren() {
    // Everything ignores SIGTERM, so only the SIGKILL after the grace period stops it.
    let mut scenario = Scenario::shell(
        r#"trap '' TERM
        sleep 1000.111 & echo $! >> pids
        sh -c 'sleep 1000.111 & echo $! >> pids; echo $$ >> pids; wait' &
        echo $$ >> pids
        echo hanging
        wait"#,
    );
    scenario.run.time_limit = Duration::from_millis(1500);
    scenario.run.kill_grace = Duration::from_millis(300);

    let report = scenario.run().await;

    assert_eq!(
        report.outcome,
        Outcome::TimedOut {
            limit: Duration::from_millis(1500)
        }
    );
    assert!(report.outcome.reason().contains("time limit"));
    assert!(
        report.elapsed < Duration::from_secs(10),
        "{:?}",
        report.elapsed
    );
    assert!(report.transcript.contains("hanging"));
    let pids = scenario.read("pids");
    assert_eq!(pids.lines().count(), 4, "{pids}");
    none_left_running("1000.111");
}

#[tokio::test]
async fn processes_an_agent_leaves_behind_are_stopped_when_it_exits() {
    // The background sleep holds stdout open: the run must not wait for it.
    let scenario = Scenario::shell("sleep 1000.222 & echo $! > pids; echo finished");

    let report = scenario.run().await;

    assert_eq!(report.outcome, Outcome::Exited);
    assert!(
        report.elapsed < Duration::from_secs(10),
        "{:?}",
        report.elapsed
    );
    assert!(report.stdout.contains("finished"));
    none_left_running("1000.222");
}

#[tokio::test]
async fn garbage_output_is_a_result_error_with_the_reason() {
    let adapter = command("echo 'LGTM {verdict: upheld'; echo '[1, 2]'");
    let report = Scenario::new(adapter.command()).run().await;

    assert_eq!(report.outcome, Outcome::Exited);
    assert_eq!(adapter.answer(&report), Err(ResultError::NoJsonObject));

    let adapter = command(r#"echo 'not json' > "$FLOTILLA_RESULT_FILE"; echo '{"ok": 1}'"#);
    let report = Scenario::new(adapter.command()).run().await;
    let error = adapter.answer(&report).expect_err("garbage result file");
    assert!(
        matches!(error, ResultError::InvalidResultFile { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("result file"), "{error}");
}

#[tokio::test]
async fn the_result_file_is_preferred_over_stdout() {
    let adapter = command(
        r#"echo '{"verdict": "refuted", "summary": "from the file"}' > "$FLOTILLA_RESULT_FILE"
        echo '{"verdict": "upheld", "summary": "from stdout"}'"#,
    );
    let report = Scenario::new(adapter.command()).run().await;

    let answer = adapter.answer(&report).expect("answer");
    assert_eq!(answer["verdict"], "refuted");
    assert_eq!(answer["summary"], "from the file");
}

#[tokio::test]
async fn the_last_json_object_on_stdout_is_the_answer() {
    let adapter = command(
        r#"printf '\033[1;32mThinking...\033[0m {"draft": true}\n'
        echo 'A set {like this} is not JSON.'
        printf '\033[33m{"verdict": "refuted", "summary": "a } brace { in a string", "findings": [{"line": 3}]}\033[0m\n'
        echo 'That is my verdict; no more {braces'"#,
    );
    let report = Scenario::new(adapter.command()).run().await;

    let answer = adapter.answer(&report).expect("answer");
    assert_eq!(answer["verdict"], "refuted");
    assert_eq!(answer["summary"], "a } brace { in a string");
    assert_eq!(answer["findings"][0]["line"], 3);
    assert_eq!(
        result::last_json_object(r#"{"outer": {"inner": 1}} trailing"#).expect("object"),
        serde_json::json!({"outer": {"inner": 1}})
    );
}

#[tokio::test]
async fn the_transcript_is_capped_keeping_its_head_and_tail() {
    let mut scenario = Scenario::shell(
        "echo HEAD-MARKER; yes 'filler line' | head -c 300000; echo TAIL-MARKER >&2",
    );
    scenario.run.transcript_cap = 4096;

    let report = scenario.run().await;

    assert_eq!(report.outcome, Outcome::Exited);
    assert!(
        report.transcript.len() <= 4096 + 64,
        "{}",
        report.transcript.len()
    );
    assert!(report.transcript.starts_with("HEAD-MARKER"));
    assert!(report.transcript.trim_end().ends_with("TAIL-MARKER"));
    assert!(report.transcript.contains("bytes cut by Flotilla"));
    assert!(report.stdout.len() <= 4096 + 64);
}

/// Runs `adapter` as a reviewer against its stand-in and returns the report.
async fn review_with(adapter: &Adapter, prompt: &str) -> AgentReport {
    let mut scenario = Scenario::new(adapter.command());
    scenario.run.role = Role::Reviewer;
    scenario.run.lens = Some("correctness".to_owned());
    scenario.run.prompt = prompt.to_owned();
    scenario.run().await
}

#[tokio::test]
async fn each_built_in_adapter_passes_its_clis_real_flags_and_reads_its_output_format() {
    let model = |m: &str| Some(m.to_owned());
    let cases = [
        (
            Adapter::ClaudeCode {
                model: model("claude-sonnet-4-5"),
                max_turns: Some(12),
            },
            "claude-sonnet-4-5",
        ),
        (
            Adapter::Codex {
                model: model("gpt-5-codex"),
                config: CodexConfig::default(),
            },
            "gpt-5-codex",
        ),
        (
            Adapter::Aider {
                model: model("sonnet"),
            },
            "sonnet",
        ),
        (
            Adapter::OpenCode {
                model: model("anthropic/claude-sonnet-4-5"),
            },
            "anthropic/claude-sonnet-4-5",
        ),
        (
            Adapter::ClaudeCode {
                model: None,
                max_turns: None,
            },
            "default",
        ),
        (
            Adapter::Codex {
                model: None,
                config: CodexConfig::default(),
            },
            "default",
        ),
        (Adapter::Aider { model: None }, "gpt-4o"),
        (Adapter::OpenCode { model: None }, "opencode/default"),
    ];
    for (adapter, model_used) in cases {
        let report = review_with(&adapter, "Review the change to src/parse.rs.").await;

        let name = adapter.name();
        assert_eq!(
            report.outcome,
            Outcome::Exited,
            "{name}: {}",
            report.transcript
        );
        let answer = adapter
            .answer(&report)
            .unwrap_or_else(|e| panic!("{name}: {e}\n{}", report.stdout));
        assert_eq!(answer["verdict"], "upheld", "{name}");
        assert_eq!(answer["summary"], format!("{name} {model_used}"));
    }
}

#[tokio::test]
async fn a_claude_code_error_envelope_is_a_result_error_not_an_answer() {
    let adapter = Adapter::ClaudeCode {
        model: None,
        max_turns: None,
    };
    let report = review_with(&adapter, "Review this, and please fail.").await;

    assert_eq!(report.outcome, Outcome::Failed { code: 1 });
    let error = adapter.answer(&report).expect_err("error envelope");
    assert!(error.to_string().contains("error_max_turns"), "{error}");
}
