//! The simulator's web pages: the `html_url` of an issue opens a page with its title,
//! body and comments (escaped), as the links the demo prints expect.

use tempfile::TempDir;

use crate::support::world::seeded_sim;

#[tokio::test]
async fn an_issue_url_opens_its_page_with_the_conversation_escaped() {
    let dir = TempDir::new().expect("temporary directory");
    let (sim, seed) = seeded_sim(dir.path(), None).await;
    let repo = seed.repo_name();
    let number = sim
        .open_issue(
            &repo,
            "Parse <b>dates</b>",
            "Accept ISO & RFC 3339.",
            &seed.writer,
        )
        .await
        .expect("issue opens");
    sim.comment(&repo, number.0, "On it: <script>x</script>", &seed.reader)
        .await
        .expect("comment posted");

    let url = format!("{}/{repo}/issues/{number}", sim.base_url());
    let response = reqwest::get(&url).await.expect("the page answers");
    assert_eq!(response.status(), 200);
    let html = response.text().await.expect("a body");
    assert!(html.contains("Parse &lt;b&gt;dates&lt;/b&gt;"), "{html}");
    assert!(html.contains("Accept ISO &amp; RFC 3339."), "{html}");
    assert!(
        html.contains("On it: &lt;script&gt;x&lt;/script&gt;"),
        "{html}"
    );
    assert!(html.contains("<span class=\"state\">Open</span>"), "{html}");

    let missing = reqwest::get(format!("{}/{repo}/issues/999", sim.base_url()))
        .await
        .expect("the page answers");
    assert_eq!(missing.status(), 404);
    sim.shutdown().await;
}
