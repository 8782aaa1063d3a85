//! Claude Code 2.1.332 for real: flags its `--help` knows, files written through its
//! own tools, verdicts in its final message, its own max-turns, model API faults, a
//! model that asks to push, and usage recorded exactly as the model server reported it.

use std::process::Command;

use flotilla::agent::{Adapter, AgentCommand, Arg, Outcome, Role, Tokens};
use flotilla::sim::model::ScriptUsage;

use crate::support::real_cli::{RealClaude, agent_clis_bin};

fn claude(max_turns: Option<u32>) -> Adapter {
    Adapter::ClaudeCode {
        model: None,
        max_turns,
    }
}

fn tokens(usage: ScriptUsage) -> Tokens {
    Tokens {
        input: usage.input,
        output: usage.output,
        cache_read: usage.cache_read,
        cache_write: usage.cache_write,
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
        tokens(claude_code.server.reported_usage()),
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
    assert_eq!(
        report.usage.tokens(),
        tokens(claude_code.server.reported_usage())
    );
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
    let claude_code = RealClaude::start(script).await;

    let report = claude_code
        .run(&claude(None), Role::Worker, "Add a greeting.")
        .await;

    let error = claude(None)
        .final_message(&report.stdout)
        .expect_err("no answer from a dead API");
    // The CLI retries with backoff; whether it gives up first (an error result naming
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
