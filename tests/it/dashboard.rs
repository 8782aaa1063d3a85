//! The dashboard after a run like the demo's: alice (write) and bob (read) log in with
//! GitHub (the simulator's OAuth) and see the run, its tasks with their pull requests,
//! verdicts and timeline, an attempt's prompt and transcript, a verification's lenses,
//! and the queue; alice's Retry queues a failed task again, bob gets no button and a
//! 403; an anonymous visitor is sent to the login page.

use flotilla::store::{NewRun, RunState, StartRun, TaskState};
use flotilla::types::{IssueNumber, Login, RepoName};

use crate::support::login::{Browser, csrf_field};
use crate::support::wait_for;
use crate::support::world::TestWorld;

#[tokio::test]
async fn alice_and_bob_read_a_finished_run_and_only_alice_may_retry_its_failed_task() {
    let world = TestWorld::start_with_dashboard().await;
    let (issue, run, tasks) = world
        .dispatch_until_run_ends(
            "Two small things",
            "- [ ] Add `src/alpha.txt`\n- [ ] Do nothing at all in `src/beta.txt`\n",
        )
        .await;
    assert_eq!(run.state, RunState::Settled);
    let merged = tasks
        .iter()
        .find(|t| t.state == TaskState::Merged)
        .expect("one merged");
    let failed = tasks
        .iter()
        .find(|t| t.state == TaskState::Failed)
        .expect("one failed");
    let base = world.flotilla.url();
    let run_url = format!("{base}/runs/{}", run.id);

    let mut anonymous = Browser::new();
    let bounced = anonymous.get(&run_url).await;
    assert_eq!(bounced.status, 303, "{bounced:?}");
    assert!(
        bounced
            .location
            .as_deref()
            .unwrap_or_default()
            .starts_with("/login?next="),
        "{bounced:?}"
    );
    let anonymous_retry = anonymous
        .post(&format!("{run_url}/tasks/{}/retry", failed.position), &[])
        .await;
    assert_eq!(anonymous_retry.status, 401, "{anonymous_retry:?}");

    let mut alice = Browser::new();
    alice.log_in_as(&base, &world.writer.0).await;
    let runs = alice.get(&format!("{base}/runs")).await;
    assert_eq!(runs.status, 200, "{runs:?}");
    assert!(
        runs.body.contains(&format!("href=\"/runs/{}\"", run.id)),
        "{}",
        runs.body
    );
    assert!(runs.body.contains("1/2"), "merged of total: {}", runs.body);
    let filtered = alice.get(&format!("{base}/runs?state=active")).await;
    assert!(
        filtered.body.contains("id=\"no-runs\""),
        "{}",
        filtered.body
    );

    let page = alice.get(&run_url).await;
    assert_eq!(page.status, 200, "{page:?}");
    let pr = merged.pr.expect("the merged task has a pull request");
    assert!(
        page.body.contains(&format!("/pull/{pr}\">#{pr}</a>")),
        "PR link: {}",
        page.body
    );
    assert!(page.body.contains("data-state=\"merged\""), "{}", page.body);
    assert!(page.body.contains("data-state=\"failed\""), "{}", page.body);
    assert!(
        page.body.contains("the agent made no change"),
        "{}",
        page.body
    );
    for lens in ["correctness", "security", "scope"] {
        assert!(
            page.body.contains(&format!("data-name=\"{lens}\"")),
            "{lens} verdict shown: {}",
            page.body
        );
    }
    assert!(page.body.contains("<svg"), "timeline drawn");
    assert!(page.body.contains("class=\"bar work ok\""), "{}", page.body);
    assert!(
        page.body.contains("class=\"bar review ok\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("class=\"bar land ok\""), "{}", page.body);
    assert!(
        page.body.contains("class=\"bar work failed\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("class=\"retry\""), "alice may retry");

    let attempt = alice
        .get(&format!("{run_url}/tasks/{}/attempts/1", merged.position))
        .await;
    assert_eq!(attempt.status, 200, "{attempt:?}");
    assert!(attempt.body.contains("id=\"prompt\""), "{}", attempt.body);
    assert!(
        attempt.body.contains("Add `src/alpha.txt`"),
        "the task in the prompt: {}",
        attempt.body
    );
    assert!(
        attempt.body.contains("id=\"transcript\""),
        "{}",
        attempt.body
    );
    assert!(attempt.body.contains("succeeded"), "{}", attempt.body);
    let head = merged.head_sha.as_ref().expect("a head");
    let verification = alice
        .get(&format!(
            "{run_url}/tasks/{}/verifications/{head}",
            merged.position
        ))
        .await;
    assert_eq!(verification.status, 200, "{verification:?}");
    assert!(
        verification.body.contains("id=\"lens-security\""),
        "{}",
        verification.body
    );
    assert!(
        verification.body.contains("id=\"gate-build\""),
        "{}",
        verification.body
    );
    assert!(
        verification.body.contains("class=\"transcript\""),
        "{}",
        verification.body
    );

    let queue = alice.get(&format!("{base}/queue")).await;
    assert_eq!(queue.status, 200, "{queue:?}");
    assert!(
        queue.body.contains("data-kind=\"run_task\""),
        "{}",
        queue.body
    );
    assert!(queue.body.contains("id=\"no-locks\""), "{}", queue.body);

    let mut bob = Browser::new();
    bob.log_in_as(&base, &world.reader.0).await;
    let bob_page = bob.get(&run_url).await;
    assert_eq!(bob_page.status, 200, "bob reads the run: {bob_page:?}");
    assert!(
        !bob_page.body.contains("class=\"retry\""),
        "no Retry for bob"
    );
    let bob_retry = bob
        .post(
            &format!("{run_url}/tasks/{}/retry", failed.position),
            &[("csrf", &csrf_field(&bob_page.body))],
        )
        .await;
    assert_eq!(bob_retry.status, 403, "{bob_retry:?}");
    let forged = alice
        .post(
            &format!("{run_url}/tasks/{}/retry", failed.position),
            &[("csrf", "forged")],
        )
        .await;
    assert_eq!(forged.status, 403, "{forged:?}");

    let pressed = alice
        .post(
            &format!("{run_url}/tasks/{}/retry", failed.position),
            &[("csrf", &csrf_field(&page.body))],
        )
        .await;
    assert_eq!(pressed.status, 303, "{pressed:?}");
    let failed_id = failed.id;
    wait_for("the retried task leaves failed", || async {
        let task = world
            .flotilla
            .store
            .task(failed_id)
            .await
            .expect("store")
            .expect("task");
        (task.attempts == 2).then_some(())
    })
    .await;
    let replies = world.bot_comment_with(issue, "pressed Retry on task").await;
    assert!(
        replies.iter().any(|reply| reply.contains(&format!(
            "{} pressed Retry on task {} on the dashboard: 1 task(s) queued again.",
            world.writer, failed.position
        ))),
        "{replies:?}"
    );
    world.teardown().await;
}

#[tokio::test]
async fn a_run_of_a_repository_the_viewer_cannot_read_is_not_found() {
    let world = TestWorld::start_with_dashboard().await;
    let base = world.flotilla.url();
    let hidden = NewRun {
        repo: RepoName::from("other/private"),
        issue: IssueNumber(7),
        installation: world.installation_id(),
        clone_url: "https://github.com/other/private.git".to_owned(),
        default_branch: "main".to_owned(),
        title: "Secret work".to_owned(),
        body: "- [ ] Something private\n".to_owned(),
        force_single: false,
        config: String::new(),
        requested_by: Login::from("someone"),
        max_parallel: 1,
    };
    let StartRun::Started(id) = world
        .flotilla
        .store
        .start_run(&hidden)
        .await
        .expect("stored")
    else {
        panic!("the run starts");
    };
    let mut alice = Browser::new();
    alice.log_in_as(&base, &world.writer.0).await;
    let page = alice.get(&format!("{base}/runs/{id}")).await;
    assert_eq!(page.status, 404, "{page:?}");
    assert!(!page.body.contains("Secret work"), "{page:?}");
    let runs = alice.get(&format!("{base}/runs")).await;
    assert!(!runs.body.contains("Secret work"), "{}", runs.body);
    let events = alice.get(&format!("{base}/runs/{id}/events")).await;
    assert_eq!(events.status, 404, "{events:?}");
    let attempt = alice
        .get(&format!("{base}/runs/{id}/tasks/1/attempts/1"))
        .await;
    assert_eq!(attempt.status, 404, "{attempt:?}");
    world.teardown().await;
}

#[tokio::test]
async fn a_live_run_page_hears_of_each_change_and_the_stream_ends_with_the_run() {
    let world = TestWorld::start_with_dashboard().await;
    let base = world.flotilla.url();
    let mut alice = Browser::new();
    alice.log_in_as(&base, &world.writer.0).await;
    let issue = world
        .dispatch("Slow work", "- [ ] Write `src/alpha.txt` slowly\n")
        .await;
    let run = wait_for("the run is stored", || world.latest_run(issue)).await;
    let mut stream = alice
        .open_stream(&format!("{base}/runs/{}/events", run.id))
        .await;
    assert_eq!(stream.status(), 200);
    assert_eq!(
        stream.headers()["content-type"].to_str().expect("ASCII"),
        "text/event-stream"
    );
    let mut heard = String::new();
    let ended = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(chunk) = stream.chunk().await.expect("the stream reads") {
            heard.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the stream ends once the run is over: {heard}"
    );
    assert!(
        heard.matches("event: changed").count() >= 2,
        "changes announced while the run went on: {heard}"
    );
    let (run, _) = world.run_ends(issue).await;
    assert_eq!(run.state, RunState::Settled);
    world.teardown().await;
}
