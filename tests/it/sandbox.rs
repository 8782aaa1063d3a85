//! Hostile agents against the sandbox (`fixtures/agents/hostile.sh`): each attack runs
//! as a worker, a reviewer lens or a `verify.commands` entry, and each test fails if
//! the attack works — reading what Flotilla holds, regaining privileges, reaching the
//! network, exhausting the machine, or outliving its attempt.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use flotilla::agent::{AgentCommand, AgentReport, HostEnv, Outcome};
use flotilla::sandbox::{Engine, LimitBreach, ResourceLimits, SandboxSettings};
use flotilla::store::{RunState, Store};
use tempfile::TempDir;

use crate::support::proc_scan::{Needle, ProcScanner, running_with};
use crate::support::serve::{dispatch_on, healthy, kill, serve, serve_healthy, sim_for_serve};
use crate::support::{SECRET, agent_run, fixture_path, test_sandbox, wait_for};

/// The shell command that runs one attack of the hostile agent.
fn hostile(args: &str) -> String {
    format!(
        "exec sh {} {args}",
        fixture_path("agents/hostile.sh").display()
    )
}

/// The body of the test App's private key: what an agent that found the key would hold.
fn key_body() -> String {
    let pem = std::fs::read_to_string(fixture_path("keys/test-app.pem")).expect("test key");
    pem.lines().nth(1).expect("a key line").to_owned()
}

/// Runs `line` (with `sh -c`) as a worker in a fresh tree of the tests' sandbox, whose
/// GitHub API is `github_api_url`, shaped by `confine`.
async fn confined(
    line: String,
    github_api_url: &str,
    confine: impl FnOnce(&mut flotilla::agent::AgentRun),
) -> AgentReport {
    let tree = TempDir::new().expect("tree");
    let data_dir = TempDir::new().expect("data dir");
    let mut run = agent_run(AgentCommand::Shell(line), tree.path());
    confine(&mut run);
    let sandbox = test_sandbox(data_dir.path(), github_api_url, &[], &[]).await;
    run.run(&HostEnv::current(), &sandbox)
        .await
        .expect("the run is prepared")
}

#[tokio::test]
async fn an_agent_cannot_regain_privileges_inside_its_sandbox() {
    let report = confined(hostile("escalate"), "http://127.0.0.1:1", |_| {}).await;

    assert_eq!(report.outcome, Outcome::Exited, "{}", report.transcript);
    let attempts: Vec<&str> = report
        .stdout
        .lines()
        .filter(|line| line.ends_with(" ok") || line.ends_with(" refused"))
        .collect();
    assert_eq!(attempts.len(), 14, "{}", report.stdout);
    for attempt in attempts {
        assert!(
            attempt.ends_with(" refused"),
            "{attempt} inside the sandbox"
        );
    }
    assert!(
        report.stdout.contains("CapEff:\t0000000000000000"),
        "{}",
        report.stdout
    );
    assert!(
        report.stdout.contains("NoNewPrivs:\t1"),
        "{}",
        report.stdout
    );

    let reviewer = confined(
        "touch verdict.json && echo wrote || echo refused".to_owned(),
        "http://127.0.0.1:1",
        |run| run.confinement.tree_writable = false,
    )
    .await;
    assert_eq!(
        reviewer.stdout.trim(),
        "refused",
        "a reviewer's tree is a read-only bind: {}",
        reviewer.transcript
    );
}

#[tokio::test]
async fn a_fork_bomb_a_memory_hog_and_a_disk_filler_are_stopped_while_a_neighbour_finishes() {
    let small = ResourceLimits {
        memory: 64 << 20,
        processes: 64,
        disk: 16 << 20,
        tmp: 1 << 20,
    };
    let limited = |run: &mut flotilla::agent::AgentRun| {
        run.confinement.limits = small;
        run.time_limit = Duration::from_secs(60);
    };
    let (bomb, hog, filler, neighbour) = tokio::join!(
        confined(hostile("fork-bomb"), "http://127.0.0.1:1", limited),
        confined(hostile("memory-hog"), "http://127.0.0.1:1", limited),
        confined(hostile("disk-filler"), "http://127.0.0.1:1", limited),
        confined(
            "echo fine > fine.txt && echo neighbour done".to_owned(),
            "http://127.0.0.1:1",
            limited
        ),
    );

    for (report, breach, reason) in [
        (
            &bomb,
            LimitBreach::Processes { limit: 64 },
            "limit of 64 processes",
        ),
        (
            &hog,
            LimitBreach::Memory { limit: 64 << 20 },
            "memory limit of 64 MiB",
        ),
        (
            &filler,
            LimitBreach::Disk { limit: 16 << 20 },
            "disk limit of 16 MiB",
        ),
    ] {
        assert_eq!(
            report.outcome,
            Outcome::LimitExceeded { breach },
            "{}",
            report.transcript
        );
        assert!(
            report.outcome.reason().contains(reason),
            "{:?}",
            report.outcome
        );
    }
    assert_eq!(
        neighbour.outcome,
        Outcome::Exited,
        "{}",
        neighbour.transcript
    );
    assert!(neighbour.stdout.contains("neighbour done"));
    for attack in ["fork-bomb", "memory-hog", "disk-filler"] {
        assert!(
            running_with(attack).is_empty(),
            "processes of the {attack} survived its attempt"
        );
    }
}

#[tokio::test]
async fn nothing_an_agent_starts_outlives_its_attempt() {
    let hanging = confined(hostile("linger 600.31"), "http://127.0.0.1:1", |run| {
        run.time_limit = Duration::from_secs(2);
    })
    .await;
    let leaving = confined(
        "setsid sleep 600.32 </dev/null >/dev/null 2>&1 & (sleep 600.33 </dev/null >/dev/null 2>&1 &) & echo left"
            .to_owned(),
        "http://127.0.0.1:1",
        |_| {},
    )
    .await;

    assert_eq!(
        hanging.outcome,
        Outcome::TimedOut {
            limit: Duration::from_secs(2)
        }
    );
    assert!(hanging.stdout.contains("lingering"));
    assert_eq!(leaving.outcome, Outcome::Exited, "{}", leaving.transcript);
    for marker in ["600.31", "600.32", "600.33"] {
        let survivors = running_with(marker);
        assert!(
            survivors.is_empty(),
            "`sleep {marker}` survived its attempt: {survivors:?}"
        );
    }
}

/// A loopback HTTP server answering `body` on `/`; returns its port.
async fn http_server(body: &'static str) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let port = listener.local_addr().expect("its address").port();
    let app = Router::new().route("/", get(move || async move { body }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

#[tokio::test]
async fn the_network_is_off_and_only_allowed_hosts_are_reached_through_the_proxy() {
    let model = http_server("model says hi").await;
    let elsewhere = http_server("a service the agent must not reach").await;
    let github = http_server("the GitHub API").await;
    let github_url = format!("http://127.0.0.1:{github}");
    let probes = [
        hostile(&format!("connect 127.0.0.1 {model}")),
        hostile(&format!("fetch http://127.0.0.1:{model}/")),
        hostile(&format!("fetch http://127.0.0.1:{elsewhere}/")),
        hostile(&format!("fetch http://127.0.0.1:{github}/")),
        hostile(&format!("connect 127.0.0.1 {elsewhere}")),
    ]
    .map(|probe| probe.replacen("exec ", "", 1))
    .join("; ");

    let offline = confined(probes.clone(), &github_url, |_| {}).await;
    let allowed = confined(probes.clone(), &github_url, |run| {
        run.confinement.network_allow =
            vec![format!("127.0.0.1:{model}"), format!("127.0.0.1:{github}")];
    })
    .await;

    let lines = |report: &AgentReport| -> Vec<String> {
        report.stdout.lines().map(str::to_owned).collect()
    };
    assert_eq!(
        lines(&offline),
        ["refused"; 5],
        "without network.allow nothing is reachable: {}",
        offline.transcript
    );
    assert_eq!(
        lines(&allowed),
        ["refused", "model says hi", "refused", "refused", "refused"],
        "only the allowed model host, only through the proxy, and never GitHub: {}",
        allowed.transcript
    );
    assert!(
        allowed.transcript.contains(&format!(
            "refused a connection outside network.allow: 127.0.0.1:{elsewhere}"
        )),
        "{}",
        allowed.transcript
    );
    assert!(
        allowed
            .transcript
            .contains(&format!("127.0.0.1:{github}: never allowed")),
        "{}",
        allowed.transcript
    );
}

/// Files under `dir` whose name starts with `prefix`, with their contents.
fn loot_of(dir: &Path, prefix: &str) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(prefix))
        .map(|name| {
            let text = std::fs::read_to_string(dir.join(&name)).unwrap_or_default();
            (name, text)
        })
        .collect();
    found.sort();
    found
}

/// The part of a loot file between `== <section>` and the next `==` line.
fn section<'a>(loot: &'a str, name: &str) -> &'a str {
    let start = loot
        .find(&format!("== {name}\n"))
        .unwrap_or_else(|| panic!("no `{name}` section in\n{loot}"));
    let rest = &loot[start + name.len() + 4..];
    &rest[..rest.find("\n== ").unwrap_or(rest.len())]
}

/// A `.github/flotilla.yml` whose worker, lens and build command all run `agent`.
fn everyone_runs(agent: &str) -> String {
    format!(
        "worker:\n  adapter: command\n  command: {agent}\n  time_limit: 60s\n\
         max_attempts: 1\n\
         reviewers:\n  correctness:\n    adapter: command\n    command: {agent}\n    time_limit: 60s\n\
         verify:\n  commands:\n    - {agent}\n  time_limit: 60s\n"
    )
}

#[tokio::test]
async fn a_hostile_worker_reviewer_and_build_command_find_nothing_of_flotilla() {
    let dir = TempDir::new().expect("scratch");
    let loot = dir.path().join("loot");
    std::fs::create_dir_all(&loot).expect("loot dir");
    let data_dir = dir.path().join("data");
    let key = fixture_path("keys/test-app.pem");
    let agent = hostile(&format!(
        "snoop {} {} {}",
        loot.display(),
        data_dir.display(),
        key.display()
    ));
    let (sim, seed, port) = sim_for_serve(dir.path(), &everyone_runs(&agent)).await;
    let repo = seed.repo_name();
    let flotilla_bin = env!("CARGO_BIN_EXE_flotilla");
    let scanner = ProcScanner::start(
        vec![
            Needle::new("a ghs_ token", "ghs_", false),
            Needle::new("an Authorization header", "Authorization", false),
            Needle::new("the webhook secret", SECRET, false),
            Needle::new("the private key", &key_body(), true),
        ],
        vec![dir.path().to_owned()],
        vec![format!("{flotilla_bin}\0serve")],
    );
    let mut flotilla = serve(
        dir.path(),
        &sim.api_url(),
        port,
        &[("FLOTILLA_SANDBOX_RW", OsString::from(&loot))],
    );
    healthy(port).await;
    let issue = dispatch_on(
        &sim,
        &seed,
        "Look around",
        "- [ ] look around in `one.txt`\n- [ ] look around in `two.txt`",
    )
    .await;
    let store = Store::connect(&Store::default_url(&data_dir))
        .await
        .expect("store");
    wait_for("the hostile run to settle", || async {
        let run = store.latest_run(&repo, issue).await.ok()??;
        (run.state == RunState::Settled).then_some(())
    })
    .await;
    kill(&mut flotilla).await;
    let scan = scanner.stop();

    let workers = loot_of(&loot, "worker-");
    let lenses = loot_of(&loot, "reviewer-correctness-");
    let builds = loot_of(&loot, "reviewer-build-");
    assert_eq!(workers.len(), 2, "both workers ran: {workers:?}");
    assert_eq!(lenses.len(), 2, "the lens ran on both changes");
    assert_eq!(builds.len(), 2, "the build command ran on both changes");
    let secrets = [
        ("the webhook secret", SECRET.to_owned()),
        ("the private key", key_body()),
        ("the database", "SQLite format 3".to_owned()),
    ];
    for (name, text) in workers.iter().chain(&lenses).chain(&builds) {
        assert!(text.contains("== end"), "{name} ran to its end:\n{text}");
        let tree = section(text, "tree");
        assert!(
            tree.contains("worktrees/task-") || tree.contains("verifications/task-"),
            "{name} saw its own tree (a worker's repository, or a checkout):\n{text}"
        );
        for (what, secret) in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "{name} found {what}:\n{text}"
            );
        }
        let own = name
            .rsplit('-')
            .next()
            .unwrap_or_default()
            .trim_end_matches(".txt");
        let other = if own == "1" { "task-2" } else { "task-1" };
        let data = section(text, "data dir");
        // The other task's places (a file it merged may show in this tree: that is
        // the repository, not the other task).
        let others = [
            format!("worktrees/{other}"),
            format!("staging/{other}"),
            format!("{other}-verify"),
        ];
        assert!(
            !others.iter().any(|place| data.contains(place.as_str()))
                && !data.contains("flotilla.db")
                && !data.contains("mirrors")
                && !data.contains("verify/"),
            "{name} saw the database, a mirror, the verification store or the other task's places:\n{text}"
        );
        let key_path = fixture_path("keys/test-app.pem");
        assert!(
            !section(text, "mounts").contains(&*key_path.to_string_lossy()),
            "{name} learnt where the key is from its mounts:\n{text}"
        );
        let processes = section(text, "processes");
        assert!(
            !processes.contains(flotilla_bin),
            "{name} saw Flotilla's process:\n{text}"
        );
        assert!(
            !processes.contains("--ro-bind") && !processes.contains("--tmpfs"),
            "{name} read the sandbox's own options (host paths, hidden keys) in /proc:\n{text}"
        );
    }
    scan.assert_clean_while_git_worked();
    for marker in ["600.7", "600.8"] {
        assert!(
            running_with(marker).is_empty(),
            "a `sleep {marker}` left by a hostile agent survived"
        );
    }
    store.close().await;
    sim.shutdown().await;
}

/// Attempt control groups of the Flotilla whose data dir is `data_dir`, wherever the
/// host keeps them.
fn attempt_groups(data_dir: &Path) -> Vec<PathBuf> {
    let instance = SandboxSettings::new(Engine::Bwrap, data_dir, "").instance;
    let parent = format!("flotilla-{instance}");
    let mut found = Vec::new();
    let mut pending = vec![(PathBuf::from("/sys/fs/cgroup"), 0)];
    while let Some((dir, depth)) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if entry.file_name() == parent.as_str() {
                found.extend(
                    std::fs::read_dir(entry.path())
                        .into_iter()
                        .flatten()
                        .flatten()
                        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                        .map(|e| e.path()),
                );
            } else if depth < 4 {
                pending.push((entry.path(), depth + 1));
            }
        }
    }
    found
}

#[tokio::test]
async fn nothing_survives_kill_9_of_flotilla_and_the_restart_reaps_what_is_left() {
    let dir = TempDir::new().expect("scratch");
    let data_dir = dir.path().join("data");
    let yaml = format!(
        "worker:\n  adapter: command\n  command: {}\n  time_limit: 10m\n",
        hostile("linger 600.91")
    );
    let (sim, seed, port) = sim_for_serve(dir.path(), &yaml).await;
    let mut first = serve_healthy(dir.path(), &sim, port).await;
    dispatch_on(&sim, &seed, "Linger", "- [ ] linger in `one.txt`").await;
    wait_for("the agent and what it left behind to run", || async {
        (running_with("600.91").len() >= 3).then_some(())
    })
    .await;
    let groups = attempt_groups(&data_dir);

    kill(&mut first).await;
    wait_for(
        "every process of the attempt to die with Flotilla",
        || async { running_with("600.91").is_empty().then_some(()) },
    )
    .await;
    let mut second = serve_healthy(dir.path(), &sim, port).await;

    for group in &groups {
        assert!(!group.exists(), "{} was not reaped", group.display());
    }
    kill(&mut second).await;
    wait_for(
        "the retried attempt to die with the second Flotilla",
        || async { running_with("600.91").is_empty().then_some(()) },
    )
    .await;
    sim.shutdown().await;
}
