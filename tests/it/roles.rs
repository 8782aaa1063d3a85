//! `flotilla serve --role`: a `web` process and a `worker` process, each with its own
//! data directory, share one database and together take an issue from label to merge.

use std::ffi::OsString;

use flotilla::store::{Store, TaskState};
use tempfile::TempDir;

use crate::support::serve::{
    dispatch_on, free_port, healthy, run_settles, scripted_serve_config, serve, sim_for_serve,
};

#[tokio::test]
async fn a_web_process_and_a_worker_process_share_one_database_from_label_to_merge() {
    let dir = TempDir::new().unwrap();
    let yaml = scripted_serve_config("");
    let (sim, seed, web_port) = sim_for_serve(dir.path(), &yaml).await;
    let repo = seed.repo_name();
    let shared = dir.path().join("shared");
    let (web_dir, worker_dir) = (dir.path().join("web"), dir.path().join("worker"));
    for made in [&shared, &web_dir, &worker_dir] {
        std::fs::create_dir_all(made).unwrap();
    }
    let database = Store::default_url(&shared);
    let env = |role: &str| {
        [
            ("FLOTILLA_ROLE", OsString::from(role)),
            ("FLOTILLA_DATABASE_URL", OsString::from(&database)),
        ]
    };
    let _web = serve(&web_dir, &sim.api_url(), web_port, &env("web"));
    healthy(web_port).await;
    let worker_port = free_port();
    let _worker = serve(&worker_dir, &sim.api_url(), worker_port, &env("worker"));
    healthy(worker_port).await;

    let refused = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{worker_port}/webhook"))
        .header("X-GitHub-Event", "ping")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        reqwest::StatusCode::NOT_FOUND,
        "a worker does not take webhooks"
    );

    let issue = dispatch_on(
        &sim,
        &seed,
        "Two things",
        "- [ ] add `a.txt`\n- [ ] add `b.txt`",
    )
    .await;
    let store = Store::connect(&database).await.unwrap();
    let tasks = run_settles(&store, &repo, issue).await;
    assert!(
        tasks.iter().all(|t| t.state == TaskState::Merged),
        "{tasks:?}"
    );
    assert_eq!(sim.pulls(&repo).len(), 2, "one pull request per task");
    assert!(
        worker_dir.join("data").join("mirrors").exists(),
        "the worker built its own mirror"
    );
    assert!(
        !web_dir.join("data").join("mirrors").exists(),
        "the web process ran no job, so it made no mirror"
    );
}
