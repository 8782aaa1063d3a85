//! `flotilla demo` as a newcomer runs it: the real binary, the simulator and Flotilla in
//! one process, a scripted agent and reviewer (or the real Claude Code CLI against the
//! scripted model server), and the summary JSON a script would read.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::support::world::{GATES, LENSES};

/// Generous: a demo run takes about a second, but CI machines are busy.
const TIMEOUT: &str = "5m";

/// Runs `flotilla demo` with `args` and `--summary-json`; returns the process's output
/// and the summary's tasks.
async fn demo(args: &[&str]) -> (Output, Vec<Value>) {
    let (output, tasks, _) = demo_with_summary(args).await;
    (output, tasks)
}

/// Like [`demo`], with the whole summary document as well.
async fn demo_with_summary(args: &[&str]) -> (Output, Vec<Value>, Value) {
    demo_in_env(args, &[]).await
}

/// `flotilla demo` as a newcomer starts it from the repository: none of Flotilla's own
/// `FLOTILLA_*` settings, and `env` on top of the test's environment.
fn demo_command(env: &[(&str, String)]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_flotilla"));
    for (name, _) in std::env::vars() {
        if name.starts_with("FLOTILLA_") {
            command.env_remove(name);
        }
    }
    command
        .envs(env.iter().map(|(name, value)| (name, value)))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("demo")
        .kill_on_drop(true);
    command
}

/// Like [`demo_with_summary`], with `env` set for the demo.
async fn demo_in_env(args: &[&str], env: &[(&str, String)]) -> (Output, Vec<Value>, Value) {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    let output = demo_command(env)
        .args(["--timeout", TIMEOUT, "--summary-json"])
        .arg(&summary)
        .args(args)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "demo failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    let tasks = json["tasks"].as_array().expect("a tasks array").clone();
    (output, tasks, json)
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// A reviewer that drains its prompt and answers with `verdict` whatever the change.
fn fixed_reviewer(dir: &Path, name: &str, verdict: &str) -> String {
    let script = write(
        dir,
        name,
        &format!(
            "cat >/dev/null\n\
             printf '{{\"verdict\": \"{verdict}\", \"summary\": \"It always says {verdict}.\", \"findings\": []}}\\n'\n"
        ),
    );
    format!("sh '{script}'")
}

/// The task whose title is `title`.
fn task<'a>(tasks: &'a [Value], title: &str) -> &'a Value {
    tasks
        .iter()
        .find(|t| t["title"] == title)
        .unwrap_or_else(|| panic!("no task {title:?}: {tasks:?}"))
}

const USAGE_TASK: &str = "Document the command-line usage in `USAGE.md`";

#[tokio::test]
async fn the_default_demo_reviews_retries_the_wrong_task_and_merges_every_task() {
    let (output, tasks, summary) = demo_with_summary(&[]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(tasks.len(), 3, "{tasks:?}");
    assert_eq!(
        tasks[0]["title"], "Add a farewell message in `farewell.txt`",
        "tasks come from the issue's task list, in order"
    );
    let mut branches: Vec<&str> = Vec::new();
    let mut prs: Vec<u64> = Vec::new();
    for task in &tasks {
        assert_eq!(task["state"], "merged", "{task}");
        assert_eq!(task["merged"], true, "{task}");
        assert!(task["id"].as_str().unwrap().starts_with("task-"), "{task}");
        let expected_attempts = if task["title"] == USAGE_TASK { 2 } else { 1 };
        assert_eq!(task["attempts"], expected_attempts, "{task}");
        for lens in LENSES {
            assert_eq!(
                task["verdicts"][lens], "upheld",
                "{lens} on the final head: {task}"
            );
        }
        for gate in GATES {
            assert_eq!(task["verdicts"]["gates"][gate], "passed", "{gate}: {task}");
        }
        assert!(
            task["verdicts"].get("checks").is_none(),
            "no check failed: {task}"
        );
        let pr = task["pr"].as_u64().expect("a PR number");
        assert!(
            stdout.contains(&format!("#{pr} (merged) http")),
            "the simulator shows PR #{pr} merged: {stdout}"
        );
        prs.push(pr);
        branches.push(task["branch"].as_str().unwrap());
    }
    branches.sort_unstable();
    branches.dedup();
    assert_eq!(branches.len(), 3, "distinct branches: {tasks:?}");
    prs.sort_unstable();
    prs.dedup();
    assert_eq!(prs.len(), 3, "distinct PRs: {tasks:?}");

    let usage = task(&tasks, USAGE_TASK);
    let id = usage["id"].as_str().unwrap();
    let refuted = stdout
        .lines()
        .position(|line| line.starts_with(id) && line.contains(" refuted "))
        .unwrap_or_else(|| panic!("{id}'s first head is shown refuted: {stdout}"));
    assert!(
        stdout
            .lines()
            .nth(refuted)
            .unwrap()
            .contains("correctness refuted"),
        "{stdout}"
    );
    assert!(
        stdout.lines().nth(refuted + 1).unwrap().contains(
            "USAGE.md:7 The example says `sh greet.sh Ada` prints \"Hello Ada\", but it prints \"Hello, Ada!\"."
        ),
        "the reviewer's finding cites the file and line: {stdout}"
    );
    assert!(
        stdout.lines().skip(refuted).any(|line| line.starts_with(id)
            && line.contains("working")
            && line.contains("attempt 2 of 2")),
        "the retry is shown after the refutation: {stdout}"
    );

    let main = &summary["default_branch"];
    assert_eq!(main["name"], "main", "{summary}");
    let usage_md = main["files"]["USAGE.md"]
        .as_str()
        .expect("USAGE.md on main");
    assert!(
        usage_md.contains("    sh greet.sh Ada     # Hello, Ada!\n"),
        "{usage_md}"
    );
    assert!(
        !usage_md.contains("# Hello Ada\n"),
        "the wrong line did not land: {usage_md}"
    );
    assert!(main["files"]["farewell.txt"].is_string(), "{summary}");
    assert!(main["files"]["CHANGELOG.md"].is_string(), "{summary}");
    assert!(
        stdout.contains("ruleset           main requires ci, flotilla/verify"),
        "{stdout}"
    );
    assert!(
        stdout.contains("3 of 3 task(s) merged into main"),
        "{stdout}"
    );
}

#[tokio::test]
async fn the_ci_is_required_a_failing_ci_merges_nothing() {
    let (_, tasks) = demo(&["--ci", "echo the tests fail; exit 1"]).await;
    assert_eq!(tasks.len(), 3, "{tasks:?}");
    for task in &tasks {
        assert_eq!(task["state"], "needs_human", "{task}");
        assert_eq!(task["merged"], false, "{task}");
        assert_eq!(task["attempts"], 2, "{task}");
        assert_eq!(task["verdicts"]["checks"]["ci"], "failed", "{task}");
    }
}

#[tokio::test]
async fn an_agent_that_weakens_the_tests_while_breaking_the_code_merges_nothing() {
    let agent = "cat >/dev/null; printf '#!/bin/sh\\nexit 0\\n' > tests/run.sh; \
                 printf 'echo broken\\n' > greet.sh; echo 'Made the tests pass'";
    let (_, tasks) = demo(&["--agent", agent]).await;
    assert_eq!(tasks.len(), 3, "{tasks:?}");
    for task in &tasks {
        assert_eq!(task["state"], "needs_human", "{task}");
        assert_eq!(task["merged"], false, "{task}");
        assert_eq!(
            task["verdicts"]["gates"]["protected_paths"], "needs_human",
            "the tests are protected: {task}"
        );
    }
}

#[tokio::test]
async fn a_reviewer_that_always_refutes_merges_nothing_and_hands_every_task_to_a_person() {
    let dir = tempfile::tempdir().unwrap();
    let reviewer = fixed_reviewer(dir.path(), "no.sh", "refuted");
    let (output, tasks) = demo(&[
        "--sandbox-ro",
        &dir.path().display().to_string(),
        "--reviewer",
        &reviewer,
    ])
    .await;
    assert_eq!(tasks.len(), 3, "{tasks:?}");
    for task in &tasks {
        assert_eq!(task["state"], "needs_human", "{task}");
        assert_eq!(task["merged"], false, "{task}");
        assert_eq!(task["attempts"], 2, "{task}");
        for lens in LENSES {
            assert_eq!(task["verdicts"][lens], "refuted", "{lens}: {task}");
        }
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!(
            "reviewer          {reviewer} (correctness, runs, security)"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("0 of 3 task(s) merged into main"),
        "{stdout}"
    );
}

#[tokio::test]
async fn a_lens_flag_changes_only_that_lens_and_can_add_one() {
    let dir = tempfile::tempdir().unwrap();
    let strict = fixed_reviewer(dir.path(), "strict.sh", "refuted");
    let style = fixed_reviewer(dir.path(), "style.sh", "upheld");
    let (output, tasks) = demo(&[
        "--sandbox-ro",
        &dir.path().display().to_string(),
        "--reviewer",
        &format!("security={strict}"),
        "--reviewer",
        &format!("style={style}"),
    ])
    .await;
    assert_eq!(tasks.len(), 3, "{tasks:?}");
    for task in &tasks {
        assert_eq!(task["state"], "needs_human", "{task}");
        assert_eq!(task["merged"], false, "{task}");
        assert_eq!(task["verdicts"]["security"], "refuted", "{task}");
        assert_eq!(task["verdicts"]["style"], "upheld", "{task}");
        assert_eq!(task["verdicts"]["runs"], "upheld", "{task}");
    }
    let farewell = task(&tasks, "Add a farewell message in `farewell.txt`");
    assert_eq!(
        farewell["verdicts"]["correctness"], "upheld",
        "the default reviewer still reviews correctness: {farewell}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!("reviewer          {strict} (security)")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("reviewer          {style} (style)")),
        "{stdout}"
    );
    assert!(
        stdout.contains("reviewer.sh' (correctness, runs)"),
        "{stdout}"
    );
}

#[test]
fn a_reviewer_flag_names_a_lens_only_before_a_lens_name() {
    use flotilla::demo::ReviewerFlag;
    assert_eq!(
        "security=sh review.sh --mode=strict".parse::<ReviewerFlag>(),
        Ok(ReviewerFlag::Lens {
            lens: "security".into(),
            command: "sh review.sh --mode=strict".into()
        })
    );
    assert_eq!(
        "my_lens-2=a=b".parse::<ReviewerFlag>(),
        Ok(ReviewerFlag::Lens {
            lens: "my_lens-2".into(),
            command: "a=b".into()
        })
    );
    for command in ["sh -c 'x=1'", "FOO=1 sh review.sh", "sh review.sh", "=x"] {
        assert_eq!(
            command.parse::<ReviewerFlag>(),
            Ok(ReviewerFlag::All(command.into())),
            "{command}"
        );
    }
    for empty in ["", "  ", "security="] {
        assert!(empty.parse::<ReviewerFlag>().is_err(), "{empty:?}");
    }
}

#[tokio::test]
async fn an_agent_that_fails_leaves_every_task_failed_without_a_pr() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "flotilla.yml", "max_attempts: 1\n");
    let (_, tasks) = demo(&["--agent", "exit 3", "--config", &config]).await;
    assert_eq!(tasks.len(), 3, "{tasks:?}");
    for task in &tasks {
        assert_eq!(task["state"], "failed", "{task}");
        assert_eq!(task["pr"], Value::Null, "{task}");
        assert_eq!(task["merged"], false, "{task}");
        assert_eq!(task["attempts"], 1, "{task}");
    }
}

#[tokio::test]
async fn an_issue_without_a_task_list_is_one_task() {
    let dir = tempfile::tempdir().unwrap();
    let issue = write(
        dir.path(),
        "issue.md",
        "# Say goodbye politely\n\nThe greeter should also know how to say goodbye.\n",
    );
    let (_, tasks) = demo(&["--issue-file", &issue]).await;
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(tasks[0]["title"], "Say goodbye politely");
    assert_eq!(tasks[0]["state"], "merged", "{tasks:?}");
    assert_eq!(tasks[0]["merged"], true, "{tasks:?}");
    assert!(tasks[0]["pr"].is_u64(), "{tasks:?}");
}

/// `PATH` with the pinned agent CLIs first (installed first when missing), as a
/// newcomer has it after `bash tests/agent-clis/install.sh` and adding them to it.
fn path_with_agent_clis() -> String {
    let bin = crate::support::real_cli::agent_clis_bin();
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[tokio::test]
async fn the_demo_with_claude_code_merges_every_task_after_one_retry_and_spends_what_the_model_server_reported()
 {
    let (output, tasks, summary) = demo_in_env(
        &["--agent-cli", "claude"],
        &[("PATH", path_with_agent_clis())],
    )
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);

    assert!(stdout.contains("  worker            claude\n"), "{stdout}");
    assert!(
        stdout.contains("  reviewer          claude (correctness, runs, security)\n"),
        "{stdout}"
    );
    assert_eq!(tasks.len(), 3, "{tasks:?}");
    for task in &tasks {
        assert_eq!(task["state"], "merged", "{task}\n{stdout}");
        assert_eq!(task["merged"], true, "{task}");
        let expected_attempts = if task["title"] == USAGE_TASK { 2 } else { 1 };
        assert_eq!(task["attempts"], expected_attempts, "{task}\n{stdout}");
        for lens in LENSES {
            assert_eq!(task["verdicts"][lens], "upheld", "{lens}: {task}");
        }
        assert!(
            task["spend"]["tokens"]["input"].as_u64() > Some(0)
                && task["spend"]["usd"].as_f64() > Some(0.0),
            "every task's worker and lenses spent something: {task}"
        );
    }
    assert!(
        stdout.contains(
            "USAGE.md:7 The example says `sh greet.sh Ada` prints \"Hello Ada\", but it prints \"Hello, Ada!\"."
        ),
        "Claude's reviewer refuted the wrong example, citing the line: {stdout}"
    );
    let main = &summary["default_branch"]["files"];
    assert!(
        main["USAGE.md"]
            .as_str()
            .is_some_and(|text| text.contains("    sh greet.sh Ada     # Hello, Ada!\n")),
        "the retry corrected the line through Claude's shell tool: {summary}"
    );
    assert_eq!(
        main["farewell.txt"], "Goodbye, and thanks for trying the greeter!\n",
        "{summary}"
    );

    let server = &summary["model_server"];
    let spent = &summary["spend"];
    assert!(server["requests"].as_u64() > Some(0), "{summary}");
    assert_eq!(
        spent["tokens"], server["tokens"],
        "the run's recorded tokens are exactly what the model server reported"
    );
    assert_eq!(spent["unpriced_runs"], 0, "{summary}");
    let usd = spent["usd"].as_f64().unwrap_or_default();
    assert!(usd > 0.0, "{summary}");
    let total: u64 = ["input", "output", "cache_read", "cache_write"]
        .iter()
        .map(|kind| server["tokens"][kind].as_u64().unwrap_or_default())
        .sum();
    assert!(total > 0, "{summary}");
    let total = flotilla::cost::thousands(total);
    assert!(
        stdout.contains(&format!(
            "the run's agents spent ${usd:.2} ({total} tokens)"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "the scripted model server answered {} request(s) and reported {total} tokens",
            server["requests"]
        )),
        "{stdout}"
    );
}

#[tokio::test]
async fn the_demo_without_claude_code_installed_says_in_one_line_how_to_install_it() {
    let empty = tempfile::tempdir().unwrap();
    let output = demo_command(&[
        ("PATH", "/usr/bin:/bin".to_owned()),
        ("FLOTILLA_AGENT_CLIS", empty.path().display().to_string()),
    ])
    .args(["--agent-cli", "claude"])
    .output()
    .await
    .unwrap();

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("`claude`") && stderr.contains("bash tests/agent-clis/install.sh"),
        "{stderr}"
    );
}
