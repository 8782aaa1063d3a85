//! `flotilla demo` as a newcomer runs it: the real binary, the simulator and Flotilla in
//! one process, a scripted agent, and the summary JSON a script would read.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

/// Generous: a demo run takes about a second, but CI machines are busy.
const TIMEOUT: &str = "5m";

/// Runs `flotilla demo` with `args` and `--summary-json`; returns the process's output
/// and the summary's tasks.
async fn demo(args: &[&str]) -> (Output, Vec<Value>) {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_flotilla"));
    for (name, _) in std::env::vars() {
        if name.starts_with("FLOTILLA_") {
            command.env_remove(name);
        }
    }
    let output = command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("demo")
        .args(["--timeout", TIMEOUT, "--summary-json"])
        .arg(&summary)
        .args(args)
        .kill_on_drop(true)
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
    (output, tasks)
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_default_demo_proposes_one_draft_pr_per_task() {
    let (output, tasks) = demo(&[]).await;
    assert_eq!(tasks.len(), 3, "{tasks:?}");
    let mut branches: Vec<&str> = Vec::new();
    let mut prs: Vec<u64> = Vec::new();
    for task in &tasks {
        assert_eq!(task["state"], "proposed", "{task}");
        assert_eq!(task["merged"], false, "{task}");
        assert_eq!(task["attempts"], 1, "{task}");
        assert!(task["id"].as_str().unwrap().starts_with("task-"), "{task}");
        prs.push(task["pr"].as_u64().expect("a PR number"));
        branches.push(task["branch"].as_str().unwrap());
    }
    assert_eq!(
        tasks[0]["title"], "Add a farewell message in `farewell.txt`",
        "tasks come from the issue's task list, in order"
    );
    branches.sort_unstable();
    branches.dedup();
    assert_eq!(branches.len(), 3, "distinct branches: {tasks:?}");
    prs.sort_unstable();
    prs.dedup();
    assert_eq!(prs.len(), 3, "distinct PRs: {tasks:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    for pr in prs {
        assert!(
            stdout.contains(&format!("/acme/widgets/pull/{pr}")),
            "the PR link is shown: {stdout}"
        );
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
    assert_eq!(tasks[0]["state"], "proposed");
    assert!(tasks[0]["pr"].is_u64(), "{tasks:?}");
}
