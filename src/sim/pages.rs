//! The web pages behind the `html_url`s the simulator hands out, so the links Flotilla
//! and the demo print open something: an issue (title, body, comments) and a pull
//! request (also its reviews with their inline comments, the check runs on its head
//! with their summaries, and its merge state). Plain HTML; anyone may look.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::types::RepoName;

use super::Sim;
use super::state::Repo;

/// The issue and pull request pages.
pub fn router() -> Router<Sim> {
    Router::new()
        .route("/{owner}/{repo}/issues/{number}", get(issue_page))
        .route("/{owner}/{repo}/pull/{number}", get(pull_page))
}

/// Escapes text for HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Html("<h1>404</h1><p>Not Found</p>")).into_response()
}

fn page(title: &str, body: &str) -> Response {
    Html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} · GitHub</title>\
         <style>body{{font-family:sans-serif;max-width:60rem;margin:auto}}pre{{white-space:pre-wrap;background:#f6f8fa;padding:.5rem}}\
         section{{border:1px solid #d0d7de;margin:.5rem 0;padding:.5rem}}</style></head>\n<body><main>{body}</main></body></html>\n",
        escape(title)
    ))
    .into_response()
}

/// The issue's header, body and conversation (shared by both pages).
fn conversation(repo: &Repo, number: u64) -> Option<(String, String)> {
    let issue = repo.issues.get(&number)?;
    let state = if issue.open { "Open" } else { "Closed" };
    let labels: Vec<String> = issue
        .labels
        .iter()
        .map(|l| format!("<span class=\"label\">{}</span> ", escape(l)))
        .collect();
    let comments: Vec<String> = repo
        .comments
        .iter()
        .filter(|c| c.issue == number)
        .map(|c| {
            format!(
                "<section class=\"comment\" id=\"issuecomment-{}\"><strong>{}</strong> commented {}<pre>{}</pre></section>",
                c.id,
                escape(&c.user.0),
                c.created_at.to_rfc3339(),
                escape(&c.body)
            )
        })
        .collect();
    let html = format!(
        "<p><a href=\"/{name}\">{name}</a></p><h1><span class=\"title\">{title}</span> #{number}</h1>\
         <p><span class=\"state\">{state}</span> opened by <strong>{user}</strong> {labels}</p>\
         <section class=\"body\"><pre>{body}</pre></section>{comments}",
        name = escape(&repo.name.0),
        title = escape(&issue.title),
        user = escape(&issue.user.0),
        labels = labels.concat(),
        body = escape(issue.body.as_deref().unwrap_or("No description provided.")),
        comments = comments.concat(),
    );
    Some((issue.title.clone(), html))
}

/// The page `write` makes of `number` in the repository `owner/repo` names; 404 when
/// there is no such repository.
fn repo_page(
    sim: &Sim,
    (owner, repo, number): (String, String, u64),
    write: impl FnOnce(&Repo, u64) -> Response,
) -> Response {
    let world = sim.world();
    match world.repo(&RepoName(format!("{owner}/{repo}"))) {
        Some(repo) => write(repo, number),
        None => not_found(),
    }
}

/// `GET /{owner}/{repo}/issues/{number}`.
async fn issue_page(State(sim): State<Sim>, Path(path): Path<(String, String, u64)>) -> Response {
    repo_page(&sim, path, |repo, number| {
        if repo.pulls.contains_key(&number) {
            let pull = format!("/{}/pull/{number}", repo.name);
            return axum::response::Redirect::to(&pull).into_response();
        }
        match conversation(repo, number) {
            Some((title, html)) => page(&title, &html),
            None => not_found(),
        }
    })
}

/// `GET /{owner}/{repo}/pull/{number}`.
async fn pull_page(State(sim): State<Sim>, Path(path): Path<(String, String, u64)>) -> Response {
    repo_page(&sim, path, pull_html)
}

/// A pull request's page: its conversation, branches, merge state, reviews and checks.
fn pull_html(repo: &Repo, number: u64) -> Response {
    let (Some(pull), Some((title, header))) = (repo.pulls.get(&number), conversation(repo, number))
    else {
        return not_found();
    };
    let merge_state = if pull.merged {
        format!(
            "Merged by {} as {}",
            escape(pull.merged_by.as_ref().map_or("", |l| l.0.as_str())),
            pull.merge_commit_sha.as_ref().map_or("", |s| s.0.as_str())
        )
    } else if pull.draft {
        "Draft".to_owned()
    } else if pull.auto_merge.is_some() {
        "Auto-merge enabled".to_owned()
    } else {
        "Ready for review".to_owned()
    };
    let reviews: Vec<String> = repo
        .reviews
        .iter()
        .filter(|r| r.pull == number)
        .map(|r| {
            let inline: Vec<String> = repo
                .review_comments
                .iter()
                .filter(|c| c.review_id == r.id)
                .map(|c| {
                    format!(
                        "<li><code>{}:{}</code><pre>{}</pre></li>",
                        escape(&c.path),
                        c.line,
                        escape(&c.body)
                    )
                })
                .collect();
            format!(
                "<section class=\"review\" id=\"pullrequestreview-{}\"><strong>{}</strong> <span class=\"review-state\">{}</span><pre>{}</pre><ul>{}</ul></section>",
                r.id,
                escape(&r.user.0),
                escape(&r.state),
                escape(&r.body),
                inline.concat()
            )
        })
        .collect();
    let checks: Vec<String> = repo
        .check_runs
        .iter()
        .filter(|c| c.head_sha == pull.head_sha)
        .map(|c| {
            let details = c.details_url.as_deref().map_or_else(String::new, |url| {
                format!(" <a class=\"details\" href=\"{}\">Details</a>", escape(url))
            });
            format!(
                "<section class=\"check-run\" id=\"check-run-{}\"><strong>{}</strong> {} {}{details}<h4>{}</h4><pre>{}</pre></section>",
                c.id,
                escape(&c.name),
                escape(&c.status),
                escape(c.conclusion.as_deref().unwrap_or("")),
                escape(c.title.as_deref().unwrap_or("")),
                escape(c.summary.as_deref().unwrap_or(""))
            )
        })
        .collect();
    let html = format!(
        "{header}<p><code>{base}</code> ← <code>{head}</code> at <code>{sha}</code></p>\
         <p class=\"merge-state\">{merge_state}</p><h2>Reviews</h2>{reviews}<h2>Checks</h2>{checks}",
        base = escape(&pull.base_ref),
        head = escape(&pull.head_ref),
        sha = pull.head_sha.0,
        reviews = reviews.concat(),
        checks = checks.concat(),
    );
    page(&title, &html)
}
