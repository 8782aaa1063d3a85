//! The dashboard in a real browser (headless Chromium): an anonymous visitor gets the
//! login page, and alice logs in through (simulated) GitHub and sees her dashboard; after
//! a run, alice reads its tasks, verdicts and an attempt's transcript and retries its
//! failed task, while bob sees the run but gets no button and a 403.
//! Each step is kept as a screenshot under `$CARGO_TARGET_DIR/screenshots/`.

use fantoccini::Locator;
use flotilla::store::TaskState;

use crate::support::browser::{Chrome, click, login_as, screenshot};
use crate::support::login::DashboardServer;
use crate::support::wait_for;
use crate::support::world::TestWorld;

#[tokio::test]
async fn an_anonymous_visitor_gets_the_login_page() {
    let Some(chrome) = Chrome::start().await else {
        return;
    };
    let dashboard = DashboardServer::start().await;

    chrome
        .client
        .goto(&format!("{}/", dashboard.base))
        .await
        .expect("/ opens");

    let url = chrome.client.current_url().await.expect("a URL");
    assert_eq!(url.path(), "/login", "{url}");
    let link = chrome
        .client
        .find(Locator::Id("login"))
        .await
        .expect("a login link");
    assert_eq!(link.text().await.expect("its text"), "Log in with GitHub");
    let shot = screenshot(&chrome.client, "login-page").await;
    assert!(shot.is_file());
    chrome.close().await;
    dashboard.stop().await;
}

#[tokio::test]
async fn alice_logs_in_with_github_and_sees_her_dashboard() {
    let Some(chrome) = Chrome::start().await else {
        return;
    };
    let dashboard = DashboardServer::start().await;

    login_as(&chrome.client, &dashboard.base, "alice").await;

    let url = chrome.client.current_url().await.expect("a URL");
    assert_eq!(url.path(), "/", "back on the dashboard: {url}");
    let viewer = chrome
        .client
        .find(Locator::Id("viewer"))
        .await
        .expect("who is logged in");
    assert_eq!(viewer.text().await.expect("a login"), "alice");
    let shot = screenshot(&chrome.client, "dashboard-home-alice").await;
    assert!(shot.is_file());

    click(&chrome.client, Locator::Id("logout"), "a logout button").await;
    wait_for("the logged-out browser to be on the login page", || async {
        let url = chrome.client.current_url().await.ok()?;
        (url.path() == "/login").then_some(())
    })
    .await;
    chrome.close().await;
    dashboard.stop().await;
}

/// The elements matching `css` on the page shown now.
async fn count(chrome: &Chrome, css: &str) -> usize {
    chrome
        .client
        .find_all(Locator::Css(css))
        .await
        .expect("the page can be searched")
        .len()
}

#[tokio::test]
async fn alice_reads_a_run_and_retries_its_failed_task_while_bob_may_only_look() {
    let Some(chrome) = Chrome::start().await else {
        return;
    };
    let world = TestWorld::start_with_dashboard().await;
    let base = world.flotilla.url();
    let (issue, run, tasks) = world
        .dispatch_until_run_ends(
            "Two small things",
            "- [ ] Add `src/alpha.txt`\n- [ ] Do nothing at all in `src/beta.txt`\n",
        )
        .await;
    let merged = tasks
        .iter()
        .find(|t| t.state == TaskState::Merged)
        .expect("one task merged");
    let failed = tasks
        .iter()
        .find(|t| t.state == TaskState::Failed)
        .expect("one task failed");
    let run_url = format!("{base}/runs/{}", run.id);

    login_as(&chrome.client, &base, &world.writer.0).await;
    chrome.client.goto(&run_url).await.expect("the run opens");
    let pr = merged.pr.expect("a pull request");
    let link = chrome
        .client
        .find(Locator::Css(&format!("#task-{} a.pr", merged.position)))
        .await
        .expect("the merged task's pull request link");
    assert_eq!(link.text().await.expect("its text"), format!("#{pr}"));
    assert!(
        count(&chrome, &format!("#task-{} li.verdict", merged.position)).await >= 3,
        "the lenses' and gates' verdicts are listed"
    );
    assert!(
        count(&chrome, "#timeline svg rect.bar").await >= 5,
        "the timeline's bars"
    );
    screenshot(&chrome.client, "run-page-alice").await;

    click(
        &chrome.client,
        Locator::Css(&format!("#task-{} a.attempt", merged.position)),
        "an attempt link",
    )
    .await;
    let transcript = chrome
        .client
        .find(Locator::Id("transcript"))
        .await
        .expect("the attempt's transcript");
    assert!(
        !transcript.text().await.expect("its text").trim().is_empty(),
        "the transcript is shown"
    );
    let prompt = chrome
        .client
        .find(Locator::Id("prompt"))
        .await
        .expect("the prompt");
    assert!(
        prompt
            .text()
            .await
            .expect("its text")
            .contains("src/alpha.txt")
    );
    screenshot(&chrome.client, "attempt-page-alice").await;

    chrome.client.goto(&run_url).await.expect("the run opens");
    click(
        &chrome.client,
        Locator::Css(&format!("#task-{} button.retry", failed.position)),
        "a Retry button for alice",
    )
    .await;
    let failed_id = failed.id;
    wait_for("the retried task to start its second attempt", || async {
        let task = world.flotilla.store.task(failed_id).await.ok()??;
        (task.attempts == 2).then_some(())
    })
    .await;
    wait_for("the page to show the second attempt", || async {
        chrome.client.refresh().await.ok()?;
        let links = count(&chrome, &format!("#task-{} a.attempt", failed.position)).await;
        (links == 2).then_some(())
    })
    .await;
    screenshot(&chrome.client, "run-page-after-retry").await;

    click(&chrome.client, Locator::Id("logout"), "a logout button").await;
    login_as(&chrome.client, &base, &world.reader.0).await;
    chrome
        .client
        .goto(&run_url)
        .await
        .expect("the run opens for bob");
    assert_eq!(
        count(&chrome, "#tasks tr[id^=task-]").await,
        2,
        "bob sees both tasks"
    );
    assert_eq!(count(&chrome, "button.retry").await, 0, "no Retry for bob");
    assert_eq!(
        count(&chrome, "button.reverify").await,
        0,
        "no Re-verify for bob"
    );
    let retry_url = format!("{run_url}/tasks/{}/retry", failed.position);
    let status = chrome
        .client
        .execute_async(
            "const [url, done] = arguments; \
             const csrf = document.querySelector('input[name=csrf]').value; \
             fetch(url, {method: 'POST', body: new URLSearchParams({csrf}), \
             credentials: 'same-origin'}).then(r => done(r.status));",
            vec![serde_json::json!(retry_url)],
        )
        .await
        .expect("the POST is answered");
    assert_eq!(status, serde_json::json!(403), "bob may not retry");
    screenshot(&chrome.client, "run-page-bob").await;
    let replies = world.bot_comment_with(issue, "pressed Retry").await;
    assert!(
        replies.iter().any(|r| r.contains(&format!(
            "{} pressed Retry on task {}",
            world.writer, failed.position
        ))),
        "the issue says who retried: {replies:?}"
    );
    chrome.close().await;
    world.teardown().await;
}
