//! The Codex CLI (`@openai/codex`, pinned in `tests/agent-clis`) as Flotilla runs it:
//! `codex exec --json` in Flotilla's sandbox, pointed at the scripted model server's
//! Responses API through the agent's `codex:` section (a model provider's `base_url`),
//! `pass_env` (the key) and `network.allow` (the server), exactly as a maintainer
//! writes them in `.github/flotilla.yml`.

use flotilla::agent::{Adapter, AgentReport, HostEnv, Outcome, Role};
use flotilla::config::RepoConfig;
use flotilla::sim::model::{Api, ModelServerHandle};
use tempfile::TempDir;

use crate::support::real_cli::{
    DUMMY_API_KEY, a_dead_model_api_fails_the_task_with_a_comment_and_no_pr, agent_clis_bin,
    agent_clis_dir, every_agent_talked_to, model_server, planned_greeting_merges, reported_tokens,
    verify_summary,
};
use crate::support::world::TestWorld;
use crate::support::{agent_run, test_sandbox_exposing};

/// The model every scripted Codex agent asks for.
const MODEL: &str = "gpt-scripted";

/// An agent section (`worker:` or `planner:`) running Codex against `server`, as a
/// maintainer writes it; Codex retries a failed request once, not five times.
fn codex_agent(section: &str, server: &ModelServerHandle) -> String {
    let addr = server.addr();
    format!(
        "{section}:
  adapter: codex
  model: {MODEL}
  time_limit: 90s
  pass_env: [OPENAI_API_KEY]
  network:
    allow: [\"{addr}\"]
  codex:
    model_provider: scripted
    model_providers:
      scripted:
        name: Scripted model server
        base_url: \"http://{addr}/v1\"
        env_key: OPENAI_API_KEY
        wire_api: responses
        request_max_retries: 1
        stream_max_retries: 1
"
    )
}

/// Runs Codex once as `role` with `prompt` in `tree` (writable for a worker), in a
/// sandbox like the fleet's, configured by [`codex_agent`].
async fn run_codex(
    server: &ModelServerHandle,
    role: Role,
    prompt: &str,
    tree: &TempDir,
) -> (Adapter, AgentReport) {
    let config = RepoConfig::parse(codex_agent("worker", server).as_bytes())
        .expect("the Codex section is valid")
        .worker;
    let adapter = config.to_adapter();
    let mut run = agent_run(adapter.command(), tree.path());
    run.role = role;
    run.prompt = prompt.to_owned();
    run.time_limit = config.time_limit;
    run.pass_env = config.pass_env;
    run.confinement.network_allow = config.network.allow;
    run.confinement.tree_writable = role == Role::Worker;
    run.usage_format = adapter.usage_format();
    let data = TempDir::new().expect("data dir");
    let sandbox = test_sandbox_exposing(
        data.path(),
        "http://127.0.0.1:1",
        &[],
        &[],
        &[agent_clis_dir()],
    )
    .await;
    let path = std::env::var("PATH").unwrap_or_default();
    let host = HostEnv::current()
        .with("PATH", format!("{}:{path}", agent_clis_bin().display()))
        .with("OPENAI_API_KEY", DUMMY_API_KEY);
    let report = run.run(&host, &sandbox).await.expect("run is prepared");
    (adapter, report)
}

#[test]
fn every_flag_the_codex_adapter_passes_is_in_the_pinned_codex_exec_help() {
    let help = std::process::Command::new(agent_clis_bin().join("codex"))
        .args(["exec", "--help"])
        .output()
        .expect("codex runs");
    let help = String::from_utf8_lossy(&help.stdout);
    let features = std::process::Command::new(agent_clis_bin().join("codex"))
        .args(["features", "list"])
        .env("HOME", TempDir::new().expect("home").path())
        .output()
        .expect("codex runs");
    let features = String::from_utf8_lossy(&features.stdout);
    let adapter = Adapter::Codex {
        model: Some(MODEL.to_owned()),
        config: Default::default(),
    };
    let flotilla::agent::AgentCommand::Program { args, .. } = adapter.command() else {
        panic!("Codex is a program");
    };
    let args: Vec<String> = args
        .into_iter()
        .map(|arg| match arg {
            flotilla::agent::Arg::Text(text) => text,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(args[0], "exec");
    for (i, arg) in args.iter().enumerate() {
        if arg.starts_with('-') && arg != "-" {
            let flag = arg.split('=').next().unwrap_or(arg);
            assert!(
                help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
                "`{flag}` is not in the pinned `codex exec --help`"
            );
        }
        if arg == "--disable" {
            let feature = &args[i + 1];
            assert!(
                features
                    .lines()
                    .any(|line| line.split_whitespace().next() == Some(feature)),
                "`--disable {feature}`: no such feature in the pinned `codex features list`"
            );
        }
    }
    assert!(help.contains("[possible values: read-only, workspace-write, danger-full-access]"));
}

#[tokio::test]
async fn a_codex_worker_edits_files_with_its_own_tools_and_its_usage_is_exactly_what_the_server_reported()
 {
    let server = model_server(
        r#"
conversations:
  - name: worker
    match: "Greet the world"
    turns:
      - write: { path: hello.txt, content: "hello from codex\n" }
        usage: { input: 1500, output: 40, cache_read: 2000, cache_write: 300 }
      - edit: { path: hello.txt, old: "hello from codex", new: "hello, world" }
        usage: { input: 700, output: 25, cache_read: 3500 }
      - run: "printf 'ran in the sandbox\n' > ran.txt"
        usage: { input: 90, output: 12, cache_read: 4200 }
      - say: "Greeted the world."
        usage: { input: 60, output: 9, cache_read: 4300 }
"#,
    )
    .await;
    let tree = TempDir::new().expect("tree");

    let (adapter, report) = run_codex(
        &server,
        Role::Worker,
        "Greet the world in hello.txt.",
        &tree,
    )
    .await;

    assert_eq!(report.outcome, Outcome::Exited, "{}", report.transcript);
    assert_eq!(
        adapter.final_message(&report.stdout).as_deref(),
        Ok("Greeted the world.")
    );
    let read = |name: &str| std::fs::read_to_string(tree.path().join(name)).unwrap_or_default();
    assert_eq!(read("hello.txt"), "hello, world\n");
    assert_eq!(read("ran.txt"), "ran in the sandbox\n");
    let requests = server.requests();
    assert_eq!(requests.len(), 4, "{requests:#?}");
    assert!(
        requests
            .iter()
            .all(|r| r.api == Api::OpenAiResponses && r.stream && r.status == 200)
    );
    assert_eq!(
        requests.iter().map(|r| r.step).collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
    assert_eq!(report.usage.tokens(), reported_tokens(&server));
    assert_eq!(
        report.usage.by_model.keys().collect::<Vec<_>>(),
        [MODEL],
        "recorded under the model the adapter asked for"
    );
    assert!(
        !report.transcript.contains("refused a connection"),
        "Codex reached for something besides the model server:\n{}",
        report.transcript
    );
}

#[tokio::test]
async fn a_codex_reviewer_answers_with_the_verdict_in_its_final_message() {
    let server = model_server(
        r#"
conversations:
  - name: reviewer
    match: "You are the security reviewer"
    turns:
      - run: "cat notes.txt"
      - say: "I read notes.txt.\n{\"verdict\": \"refuted\", \"findings\": [{\"path\": \"notes.txt\", \"line\": 1, \"severity\": \"high\", \"message\": \"leaks a secret\"}], \"summary\": \"codex refutes\"}"
"#,
    )
    .await;
    let tree = TempDir::new().expect("tree");
    std::fs::write(tree.path().join("notes.txt"), "password=hunter2\n").expect("tree file");

    let (adapter, report) = run_codex(
        &server,
        Role::Reviewer,
        "You are the security reviewer of a proposed change.",
        &tree,
    )
    .await;

    assert_eq!(report.outcome, Outcome::Exited, "{}", report.transcript);
    let verdict = adapter.verdict(&report).expect("one verdict");
    assert_eq!(verdict["verdict"], "refuted");
    assert_eq!(verdict["findings"][0]["path"], "notes.txt");
    assert_eq!(verdict["summary"], "codex refutes");
    assert_eq!(report.usage.tokens(), reported_tokens(&server));
}

#[tokio::test]
async fn a_rate_limit_and_a_server_error_once_are_retried_by_codex_and_the_work_goes_on() {
    let server = model_server(
        r#"
conversations:
  - name: worker
    match: "Flaky server"
    turns:
      - fault: { kind: rate_limited, times: 1 }
      - write: { path: a.txt, content: "a\n" }
        usage: { input: 100, output: 10, cache_read: 50 }
      - fault: { kind: server_error, times: 1 }
      - say: "Wrote a.txt."
        usage: { input: 30, output: 5, cache_read: 150 }
"#,
    )
    .await;
    let tree = TempDir::new().expect("tree");

    let (adapter, report) =
        run_codex(&server, Role::Worker, "Flaky server: add a.txt", &tree).await;

    assert_eq!(report.outcome, Outcome::Exited, "{}", report.transcript);
    assert_eq!(
        adapter.final_message(&report.stdout).as_deref(),
        Ok("Wrote a.txt.")
    );
    assert_eq!(
        std::fs::read_to_string(tree.path().join("a.txt"))
            .ok()
            .as_deref(),
        Some("a\n")
    );
    let statuses: Vec<u16> = server.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 200, 500, 200]);
    assert_eq!(
        report.usage.tokens(),
        reported_tokens(&server),
        "faults report no usage"
    );
}

#[tokio::test]
async fn a_model_server_that_always_fails_makes_codex_exit_non_zero_with_the_reason() {
    let server = model_server(
        r#"
conversations:
  - name: worker
    match: "Broken server"
    turns:
      - fault: { kind: server_error }
"#,
    )
    .await;
    let tree = TempDir::new().expect("tree");

    let (adapter, report) =
        run_codex(&server, Role::Worker, "Broken server: add a.txt", &tree).await;

    assert_eq!(
        report.outcome,
        Outcome::Failed { code: 1 },
        "{}",
        report.transcript
    );
    let error = adapter
        .final_message(&report.stdout)
        .expect_err("a failed turn is no answer");
    assert!(error.to_string().contains("failed turn"), "{error}");
    assert!(
        server.requests().iter().all(|r| r.status == 500),
        "{:#?}",
        server.requests()
    );
    assert!(report.usage.is_empty(), "{:?}", report.usage);
    assert!(!tree.path().join("a.txt").exists());
}

/// Everything a run of Codex agents needs in one world: the planner, the worker and
/// the three default lenses all run Codex against one scripted server.
const FLEET_SCRIPT: &str = r#"
conversations:
  - name: planner
    match: "You plan work for a fleet of coding agents"
    turns:
      - say: "{\"tasks\": [{\"id\": \"a\", \"title\": \"Add a greeting\", \"instructions\": \"Create greeting.txt saying hello.\", \"paths\": [\"greeting.txt\"]}]}"
        usage: { input: 800, output: 60, cache_read: 0 }
  - name: worker
    match: "You are a coding agent working on one task"
    turns:
      - run: "git push origin HEAD:refs/heads/agent-pushed-this"
        usage: { input: 900, output: 30, cache_read: 1000 }
      - write: { path: greeting.txt, content: "hello\n" }
        usage: { input: 300, output: 40, cache_read: 1900 }
      - say: "Added greeting.txt."
        usage: { input: 100, output: 10, cache_read: 2200 }
  - name: correctness
    match: "You are the correctness reviewer"
    turns:
      - run: "cat greeting.txt"
      - say: "{\"verdict\": \"upheld\", \"findings\": [], \"summary\": \"greeting.txt says hello\"}"
  - name: security
    match: "You are the security reviewer"
    turns:
      - say: "{\"verdict\": \"upheld\", \"findings\": [], \"summary\": \"nothing to exploit\"}"
  - name: runs
    match: "You are the runs reviewer"
    turns:
      - say: "{\"verdict\": \"upheld\", \"findings\": [], \"summary\": \"it runs\"}"
"#;

#[tokio::test]
async fn codex_plans_works_and_reviews_an_issue_through_to_merge_and_its_git_push_goes_nowhere() {
    let model = model_server(FLEET_SCRIPT).await;
    let world = TestWorld::start_with_agent_clis(&["OPENAI_API_KEY"]).await;
    world
        .set_repo_config(&format!(
            "{}{}max_attempts: 1\n",
            codex_agent("worker", &model),
            codex_agent("planner", &model)
        ))
        .await;

    let (issue, _, task) = planned_greeting_merges(&world).await;
    let verify = verify_summary(&world, &task);
    for summary in ["greeting.txt says hello", "nothing to exploit", "it runs"] {
        assert!(
            verify.contains(summary),
            "flotilla/verify does not say {summary:?}: {verify}"
        );
    }
    let task_spent = world.flotilla.store.spend_of_task(task.id).await.unwrap();
    assert!(task_spent.tokens.total() > 0);
    assert!(
        verify.contains(&format!("the task's agents spent {task_spent} in all")),
        "flotilla/verify shows what the task cost: {verify}"
    );
    every_agent_talked_to(&model);
    world
        .bot_comments_are(issue, &["| merged |", "are merged into"])
        .await;
    world.teardown().await;
}

#[tokio::test]
async fn a_codex_worker_whose_model_server_always_fails_fails_its_task_with_a_comment_and_opens_no_pr()
 {
    let model = model_server(
        r#"
conversations:
  - name: worker
    match: "You are a coding agent working on one task"
    turns:
      - fault: { kind: rate_limited }
"#,
    )
    .await;
    let world = TestWorld::start_with_agent_clis(&["OPENAI_API_KEY"]).await;
    world
        .set_repo_config(&format!(
            "{}max_attempts: 1\n",
            codex_agent("worker", &model)
        ))
        .await;

    a_dead_model_api_fails_the_task_with_a_comment_and_no_pr(&world).await;
    assert!(model.requests().iter().all(|r| r.status == 429));
    world.teardown().await;
}
