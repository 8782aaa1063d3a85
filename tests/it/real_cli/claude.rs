//! Claude Code 2.1.332 for real: flags its `--help` knows, files written through its
//! own tools, verdicts in its final message (or relayed from a command it ran), its own
//! max-turns, model API faults, a model that asks to push, and usage recorded exactly
//! as the model server reported it; then through the whole fleet on the simulator —
//! planner, worker and every lens to a merge, a dead model API failing its task, and a
//! task budget stopping the agent mid-command.

use std::process::Command;

use flotilla::agent::{Adapter, AgentCommand, Arg, Outcome, Role};
use flotilla::cost::Usd;
use flotilla::store::TaskState;

use crate::support::proc_scan::running_with;
use crate::support::real_cli::{
    RealClaude, a_dead_model_api_fails_the_task_with_a_comment_and_no_pr, agent_clis_bin,
    claude_agent, claude_world, every_agent_talked_to, model_server, planned_greeting_merges,
    reported_tokens, verify_summary,
};
use crate::support::wait_for;

fn claude(max_turns: Option<u32>) -> Adapter {
    Adapter::ClaudeCode {
        model: None,
        max_turns,
    }
}

const WORKER: &str = r#"
conversations:
  - name: worker
    match: "Add a greeting"
    turns:
      - write: { path: hello.txt, content: "hello, world\n" }
        usage: { input: 1500, output: 60, cache_read: 2000, cache_write: 700 }
      - run: "echo ran > ran.txt"
        usage: { input: 300, output: 25, cache_read: 3500, cache_write: 90 }
      - say: "I added hello.txt."
        usage: { input: 120, output: 14, cache_read: 3600, cache_write: 0 }
"#;

#[tokio::test]
async fn a_worker_edits_files_through_claude_codes_own_tools_and_its_usage_is_exactly_the_servers()
{
    let claude_code = RealClaude::start(WORKER).await;

    let report = claude_code
        .run(&claude(None), Role::Worker, "Add a greeting in hello.txt.")
        .await;

    assert_eq!(report.outcome, Outcome::Exited, "{}", report.transcript);
    assert_eq!(
        claude_code.file("hello.txt").as_deref(),
        Some("hello, world\n")
    );
    assert_eq!(claude_code.file("ran.txt").as_deref(), Some("ran\n"));
    assert_eq!(
        claude(None)
            .final_message(&report.stdout)
            .expect("final message"),
        "I added hello.txt."
    );
    let requests = claude_code.server.requests();
    assert!(
        requests.iter().all(|r| r.status == 200),
        "every request answered: {requests:?}"
    );
    assert_eq!(
        report.usage.tokens(),
        reported_tokens(&claude_code.server),
        "recorded usage equals what the server reported over {} requests",
        requests.len()
    );
    assert!(report.usage.reported_cost_usd.is_some_and(|usd| usd > 0.0));
}

#[tokio::test]
async fn a_reviewers_verdict_is_read_from_claude_codes_final_message_upheld_or_refuted() {
    let script = r#"
conversations:
  - name: upheld
    match: "Review change A"
    turns:
      - say: "Looks right.\n```json\n{\"verdict\": \"upheld\", \"findings\": [], \"summary\": \"fine\"}\n```"
  - name: refuted
    match: "Review change B"
    turns:
      - say: "{\"verdict\": \"refuted\", \"findings\": [{\"path\": \"a.rs\", \"line\": 3, \"severity\": \"high\", \"message\": \"off by one\"}], \"summary\": \"wrong\"}"
"#;
    let claude_code = RealClaude::start(script).await;

    for (prompt, expected) in [
        ("Review change A.", "upheld"),
        ("Review change B.", "refuted"),
    ] {
        let report = claude_code.run(&claude(None), Role::Reviewer, prompt).await;
        let verdict = claude(None).verdict(&report).expect("a verdict object");
        assert_eq!(verdict["verdict"], expected, "{}", report.transcript);
    }
}

#[tokio::test]
async fn claude_code_stopping_at_its_own_max_turns_is_an_error_not_an_answer() {
    let script = r#"
conversations:
  - name: looping
    match: "Loop forever"
    turns:
      - run: "echo 1 > one.txt"
      - run: "echo 2 > two.txt"
      - run: "echo 3 > three.txt"
      - say: "{\"verdict\": \"upheld\", \"findings\": [], \"summary\": \"never reached\"}"
"#;
    let claude_code = RealClaude::start(script).await;

    let report = claude_code
        .run(&claude(Some(2)), Role::Reviewer, "Loop forever.")
        .await;

    let error = claude(Some(2))
        .final_message(&report.stdout)
        .expect_err("max turns is an error");
    assert!(error.to_string().contains("error_max_turns"), "{error}");
    assert_eq!(claude_code.file("three.txt"), None);
}

#[tokio::test]
async fn an_overloaded_model_api_is_retried_by_the_cli_and_the_run_goes_on() {
    let script = r#"
conversations:
  - name: flaky
    match: "Add a greeting"
    turns:
      - fault: { kind: overloaded, times: 2 }
      - fault: { kind: rate_limited, times: 1 }
      - write: { path: hello.txt, content: "hi\n" }
      - say: "Done."
"#;
    let claude_code = RealClaude::start(script).await;

    let report = claude_code
        .run(&claude(None), Role::Worker, "Add a greeting.")
        .await;

    assert_eq!(report.outcome, Outcome::Exited, "{}", report.transcript);
    assert_eq!(claude_code.file("hello.txt").as_deref(), Some("hi\n"));
    let statuses: Vec<u16> = claude_code
        .server
        .requests()
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(&statuses[..3], &[529, 529, 429], "{statuses:?}");
    assert_eq!(report.usage.tokens(), reported_tokens(&claude_code.server));
}

#[tokio::test]
async fn a_model_api_that_always_fails_leaves_the_run_without_an_answer() {
    let script = r#"
conversations:
  - name: down
    match: "Add a greeting"
    turns:
      - fault: { kind: server_error }
"#;
    let claude_code = RealClaude::start(script)
        .await
        .with_env("CLAUDE_CODE_MAX_RETRIES", "1");

    let report = claude_code
        .run(&claude(None), Role::Worker, "Add a greeting.")
        .await;

    let error = claude(None)
        .final_message(&report.stdout)
        .expect_err("no answer from a dead API");
    // The CLI retries (once, as told); whether it gives up first (an error result naming
    // the status) or the time limit stops it, no answer is read and the attempt fails.
    assert!(
        error.to_string().contains("500") || report.outcome != Outcome::Exited,
        "{error}\n{}",
        report.transcript
    );
    let requests = claude_code.server.requests();
    assert!(requests.len() > 1, "the CLI retried");
    assert!(requests.iter().all(|r| r.status == 500), "{requests:?}");
}

#[tokio::test]
async fn a_model_that_asks_to_git_push_is_denied_by_claude_code() {
    let script = r#"
conversations:
  - name: pusher
    match: "Add a greeting"
    turns:
      - write: { path: hello.txt, content: "hi\n" }
      - run: "git push origin HEAD:main"
      - run: "git commit -am sneaky"
      - say: "Done."
"#;
    let claude_code = RealClaude::start(script).await;

    let report = claude_code
        .run(&claude(None), Role::Worker, "Add a greeting.")
        .await;

    assert_eq!(report.outcome, Outcome::Exited, "{}", report.transcript);
    let result = report
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["type"] == "result")
        .expect("a result event");
    let denied: Vec<String> = result["permission_denials"]
        .as_array()
        .expect("permission denials")
        .iter()
        .map(|d| {
            d["tool_input"]["command"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(
        denied,
        ["git push origin HEAD:main", "git commit -am sneaky"]
    );
    let log = Command::new("git")
        .args(["log", "--oneline"])
        .current_dir(claude_code.tree.path())
        .output()
        .expect("git log");
    assert!(!log.status.success(), "no commit was made");
}

#[test]
fn every_flag_the_claude_adapter_passes_is_one_the_pinned_claude_accepts() {
    let claude_bin = agent_clis_bin().join("claude");
    let help = Command::new(&claude_bin)
        .arg("--help")
        .output()
        .expect("claude --help");
    let help = String::from_utf8_lossy(&help.stdout);
    let adapter = Adapter::ClaudeCode {
        model: Some("claude-opus-5-5".to_owned()),
        max_turns: Some(3),
    };
    let AgentCommand::Program { args, .. } = adapter.command() else {
        panic!("claude is a program");
    };
    let args: Vec<String> = args
        .into_iter()
        .filter_map(|a| match a {
            Arg::Text(text) => Some(text),
            Arg::PromptFile | Arg::ResultFile => None,
        })
        .collect();
    // `--max-turns` works in 2.1.332 but its --help no longer lists it.
    const HIDDEN: &[&str] = &["--max-turns"];
    for flag in args.iter().filter(|a| a.starts_with('-')) {
        assert!(
            HIDDEN.contains(&flag.as_str()) || help.contains(flag.as_str()),
            "`{flag}` is not in claude --help"
        );
    }
    // Every flag is parsed: the CLI stops at the first unknown option, and the only
    // one it names is the sentinel after the adapter's own.
    let out = Command::new(&claude_bin)
        .args(&args)
        .arg("--flotilla-sentinel-flag")
        .env("ANTHROPIC_API_KEY", "unused")
        .env("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("claude runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown option '--flotilla-sentinel-flag'"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_reviewer_answers_with_the_verdict_its_own_command_printed_from_the_prompt_file() {
    let script = r#"
conversations:
  - name: relaying
    match: "Review change C"
    turns:
      - run: 'sh check.sh < "$FLOTILLA_PROMPT_FILE"'
      - relay: "My check says:"
"#;
    let claude_code = RealClaude::start(script).await;
    std::fs::write(
        claude_code.tree.path().join("check.sh"),
        "read -r first\nprintf '{\"verdict\": \"refuted\", \"findings\": [], \"summary\": \"%s\"}\\n' \"$first\"\n",
    )
    .expect("check script");

    let report = claude_code
        .run(&claude(None), Role::Reviewer, "Review change C.")
        .await;

    let verdict = claude(None).verdict(&report).unwrap_or_else(|e| {
        panic!("{e}\n{}", report.transcript);
    });
    assert_eq!(verdict["verdict"], "refuted");
    assert_eq!(
        verdict["summary"], "Review change C.",
        "the command read the prompt file"
    );
}

/// Everything a run of Claude agents needs in one world: the planner, the worker and
/// the three default lenses all run Claude Code against one scripted server.
const FLEET_SCRIPT: &str = r#"
conversations:
  - name: planner
    match: "You plan work for a fleet of coding agents"
    turns:
      - run: "ls"
        usage: { input: 700, output: 20, cache_read: 1500, cache_write: 300 }
      - say: "{\"tasks\": [{\"id\": \"a\", \"title\": \"Add a greeting\", \"instructions\": \"Create greeting.txt saying hello.\", \"paths\": [\"greeting.txt\"]}]}"
        usage: { input: 800, output: 60, cache_read: 1800, cache_write: 0 }
  - name: worker
    match: "You are a coding agent working on one task"
    turns:
      - run: "git push origin HEAD:refs/heads/agent-pushed-this"
        usage: { input: 900, output: 30, cache_read: 1000, cache_write: 500 }
      - write: { path: greeting.txt, content: "hello\n" }
        usage: { input: 300, output: 40, cache_read: 1900, cache_write: 120 }
      - say: "Added greeting.txt."
        usage: { input: 100, output: 10, cache_read: 2200, cache_write: 0 }
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
      - run: "test \"$(cat greeting.txt)\" = hello && echo '{\"verdict\": \"upheld\", \"findings\": [], \"summary\": \"reading greeting.txt prints hello\"}'"
      - relay: "I ran it:"
"#;

#[tokio::test]
async fn claude_code_plans_works_and_reviews_an_issue_through_to_merge_and_the_run_spends_what_the_server_reported()
 {
    let model = model_server(FLEET_SCRIPT).await;
    let world = claude_world(&model, &[]).await;
    world
        .set_repo_config(&format!(
            "{}{}max_attempts: 1\n",
            claude_agent("worker", &model, &[]),
            claude_agent("planner", &model, &[])
        ))
        .await;

    let (issue, run, task) = planned_greeting_merges(&world).await;
    let verify = verify_summary(&world, &task);
    for summary in [
        "greeting.txt says hello",
        "nothing to exploit",
        "reading greeting.txt prints hello",
    ] {
        assert!(
            verify.contains(summary),
            "flotilla/verify does not say {summary:?}: {verify}"
        );
    }
    every_agent_talked_to(&model);
    let requests = model.requests();
    assert!(requests.iter().all(|r| r.status == 200), "{requests:#?}");
    let reported = reported_tokens(&model);
    let spent = wait_for("every agent run's usage to be recorded", || async {
        let spent = world.flotilla.store.spend_of_run(run.id).await.unwrap();
        (spent.tokens == reported).then_some(spent)
    })
    .await;
    assert!(
        spent.usd > Usd::ZERO && spent.unpriced_runs == 0,
        "Claude Code reports what each run cost: {spent:?}"
    );
    world
        .bot_comments_are(issue, &["| merged |", "are merged into"])
        .await;
    world.teardown().await;
}

#[tokio::test]
async fn a_claude_worker_whose_model_server_always_fails_fails_its_task_with_a_comment_and_opens_no_pr()
 {
    let model = model_server(
        r#"
conversations:
  - name: worker
    match: "You are a coding agent working on one task"
    turns:
      - fault: { kind: server_error }
"#,
    )
    .await;
    // As an operator who wants a dead model API to fail fast sets it: Claude Code's
    // own retry count, passed through like the URL and key.
    let world = claude_world(&model, &[("CLAUDE_CODE_MAX_RETRIES", "1".to_owned())]).await;
    world
        .set_repo_config(&format!(
            "{}max_attempts: 1\n",
            claude_agent("worker", &model, &["CLAUDE_CODE_MAX_RETRIES"])
        ))
        .await;

    a_dead_model_api_fails_the_task_with_a_comment_and_no_pr(&world).await;
    let requests = model.requests();
    assert!(
        requests
            .iter()
            .filter(|r| r.conversation.as_deref() == Some("worker"))
            .count()
            > 1,
        "the CLI retried: {requests:#?}"
    );
    assert!(
        requests
            .iter()
            .filter(|r| r.conversation.is_some())
            .all(|r| r.status == 500),
        "{requests:#?}"
    );
    world.teardown().await;
}

/// Marks the worker's long command, so the test can see it is gone.
const SLEEP_MARKER: &str = "flotilla-budget-cap-sleep";

#[tokio::test]
async fn a_claude_worker_whose_model_reports_more_than_the_task_budget_is_stopped_mid_command_and_the_run_stops()
 {
    let model = model_server(&format!(
        r#"
conversations:
  - name: worker
    match: "You are a coding agent working on one task"
    turns:
      - run: "sleep 120 # {SLEEP_MARKER}"
        usage: {{ input: 40000, output: 300, cache_read: 9000, cache_write: 2000 }}
      - write: {{ path: never.txt, content: "the sleep ended\n" }}
      - say: "Done."
"#
    ))
    .await;
    let world = claude_world(&model, &[]).await;
    world
        .set_repo_config(&format!(
            "{}max_attempts: 2\nbudget:\n  task:\n    tokens: 10000\n",
            claude_agent("worker", &model, &[])
        ))
        .await;

    let issue = world.dispatch("Expensive", "Add `never.txt`.").await;
    let notice = world.budget_stop_notice(issue).await;

    let run = world.latest_run(issue).await.unwrap();
    let stop = run.budget_stopped.clone().expect("the run is stopped");
    assert!(
        stop.contains("the task's budget of 10,000 tokens is spent"),
        "{stop}"
    );
    let task = world.flotilla.store.tasks_of_run(run.id).await.unwrap()[0].clone();
    let spent = world.flotilla.store.spend_of_task(task.id).await.unwrap();
    let reported = reported_tokens(&model);
    assert_eq!(
        (
            spent.tokens.input,
            spent.tokens.cache_read,
            spent.tokens.cache_write
        ),
        (reported.input, reported.cache_read, reported.cache_write),
        "the input the server reported was streamed and recorded before the stop"
    );
    assert!(spent.tokens.total() >= 10_000, "{spent:?}");
    assert!(
        notice.contains(&format!(
            "the task's budget of 10,000 tokens is spent: {spent} used"
        )) && notice.contains(&format!("The run spent {spent} so far")),
        "the figures, spent and limit: {notice}"
    );
    // Claude Code may hand a long command to the background and send its next request
    // at once, racing the stop by milliseconds; the answer to that request (write
    // never.txt) must never be acted on.
    assert!(
        model
            .requests()
            .iter()
            .all(|r| r.conversation.as_deref() != Some("worker") || r.step <= 1),
        "the CLI was stopped before it acted on the model's next turn: {:#?}",
        model.requests()
    );
    wait_for("the stopped sandbox's sleep to be gone", || async {
        running_with(SLEEP_MARKER).is_empty().then_some(())
    })
    .await;
    assert_ne!(task.state, TaskState::Failed, "{task:?}");
    assert!(task.pr.is_none(), "{task:?}");
    assert!(world.sim.pulls(&world.repo).is_empty());
    world.budget_stop_said_once(issue);
    world.teardown().await;
}
