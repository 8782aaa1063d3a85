//! Git smart HTTP at `/{owner}/{repo}.git/...`, served by `git http-backend` as a CGI,
//! behind basic auth with `x-access-token:<installation token>`. A push that touches
//! `.github/workflows/` is refused unless the App holds `workflows: write`. After a push, the ref
//! changes are handed to `merge::on_push` (pull request heads, check suites, CI).

use std::process::Stdio;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use tokio::io::AsyncWriteExt;

use crate::types::{Login, RepoName};

use super::error::ApiError;
use super::faults::PushFault;
use super::state::Access;
use super::{Sim, auth, git, push};

/// The largest request body (a pack) accepted.
const MAX_BODY: usize = 1 << 30;

/// Fallback handler: git smart HTTP, or GitHub's 404 for anything else.
pub async fn handle(State(sim): State<Sim>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let Some((repo, rest)) = split_git_path(&path) else {
        return ApiError::not_found().into_response();
    };
    let auth = basic_token(request.headers())
        .and_then(|token| auth::installation_for_token(&sim.world(), &token));
    let Some(auth) = auth else {
        return (
            StatusCode::UNAUTHORIZED,
            [("www-authenticate", "Basic realm=\"GitHub\"")],
            "Invalid username or token. Password authentication is not supported for Git operations.\n",
        )
            .into_response();
    };
    let visible = {
        let world = sim.world();
        world.repo(&repo).is_some()
            && world
                .installations
                .get(&auth.installation)
                .is_some_and(|i| repo.split().is_some_and(|(o, _)| o == i.account.0))
    };
    if !visible {
        return (StatusCode::NOT_FOUND, "Repository not found.\n").into_response();
    }
    let may_change_workflows = sim
        .world()
        .apps
        .get(&auth.app_id)
        .is_some_and(|app| app.may("workflows", Access::Write));
    match serve(&sim, &repo, &rest, request, &auth.bot, may_change_workflows).await {
        Ok(response) => response,
        Err(err) => ApiError::internal(format!("{err:#}")).into_response(),
    }
}

/// Splits `/owner/name.git/rest` into the repository and `rest`.
fn split_git_path(path: &str) -> Option<(RepoName, String)> {
    let mut parts = path.trim_start_matches('/').splitn(3, '/');
    let owner = parts.next()?;
    let name = parts.next()?.strip_suffix(".git")?;
    let rest = parts.next().unwrap_or_default();
    if owner.is_empty() || name.is_empty() {
        return None;
    }
    Some((RepoName(format!("{owner}/{name}")), rest.to_owned()))
}

/// The password of a basic `Authorization` header.
fn basic_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (_, password) = text.split_once(':')?;
    Some(password.to_owned())
}

/// Runs `git http-backend` for one request; reports pushes afterwards.
async fn serve(
    sim: &Sim,
    repo: &RepoName,
    rest: &str,
    request: Request,
    pusher: &Login,
    may_change_workflows: bool,
) -> anyhow::Result<Response> {
    let is_push = rest == "git-receive-pack";
    let bare = sim.repo_path(repo);
    let method = request.method().as_str().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let (content_type, encoding, protocol) = {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        (
            header("content-type"),
            header("content-encoding"),
            header("git-protocol"),
        )
    };
    let body = axum::body::to_bytes(request.into_body(), MAX_BODY).await?;
    let _guard = if is_push {
        Some(sim.0.git_lock.lock().await)
    } else {
        None
    };
    let before = if is_push {
        git::branches(&bare).await?
    } else {
        Vec::new()
    };
    if is_push {
        apply_push_fault(sim, repo, &bare, &body).await?;
    }
    let (owner, name) = repo.split().unwrap_or_default();
    let mut child = tokio::process::Command::new("git")
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", &sim.0.repos_dir)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("PATH_INFO", format!("/{owner}/{name}.git/{rest}"))
        .env("QUERY_STRING", query)
        .env("REQUEST_METHOD", method)
        .env("CONTENT_TYPE", content_type)
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", encoding)
        .env("HTTP_GIT_PROTOCOL", protocol)
        .env("REMOTE_USER", &pusher.0)
        .env(
            "SIM_PUSHER_LACKS_WORKFLOWS",
            if may_change_workflows { "0" } else { "1" },
        )
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("GIT_COMMITTER_NAME", &pusher.0)
        .env(
            "GIT_COMMITTER_EMAIL",
            format!("{}@users.noreply.github.com", pusher.0),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        let body = body.clone();
        tokio::spawn(async move {
            let _ = stdin.write_all(&body).await;
        });
    }
    let output = child.wait_with_output().await?;
    let response = cgi_response(&output.stdout)?;
    if is_push {
        let after = git::branches(&bare).await?;
        let updates = diff_refs(&before, &after);
        drop(_guard);
        if !updates.is_empty() {
            push::on_push(sim, repo, updates, pusher).await;
        }
    }
    Ok(response)
}

/// Branches whose tip changed: (branch, before, after).
fn diff_refs(
    before: &[(String, String)],
    after: &[(String, String)],
) -> Vec<(String, Option<String>, Option<String>)> {
    let find = |list: &[(String, String)], name: &str| {
        list.iter().find(|(n, _)| n == name).map(|(_, s)| s.clone())
    };
    let mut names: Vec<&String> = before.iter().chain(after.iter()).map(|(n, _)| n).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter_map(|n| {
            let (b, a) = (find(before, n), find(after, n));
            (b != a).then(|| (n.clone(), b, a))
        })
        .collect()
}

/// Applies an armed push fault before `git receive-pack` sees the push.
async fn apply_push_fault(
    sim: &Sim,
    repo: &RepoName,
    bare: &std::path::Path,
    body: &[u8],
) -> anyhow::Result<()> {
    let fault = sim.world().faults.push.remove(repo);
    match fault {
        None => {}
        Some(PushFault::Reject { message }) => {
            tokio::fs::write(bare.join("sim-reject-next-push"), format!("{message}\n")).await?;
        }
        Some(PushFault::Conflict) => {
            for refname in pushed_refs(body) {
                let Some(branch) = refname.strip_prefix("refs/heads/") else {
                    continue;
                };
                let Some(tip) = git::branch_sha(bare, branch).await else {
                    continue;
                };
                let file = format!("concurrent-{}.txt", uuid::Uuid::new_v4().simple());
                let commit = git::commit_files(
                    bare,
                    Some(&tip),
                    &[(file, "someone else pushed first\n".to_owned())],
                    "Concurrent change",
                    ("Someone Else", "someone@example.com"),
                )
                .await?;
                git::update_ref(bare, &refname, &commit, Some(&tip)).await?;
            }
        }
    }
    Ok(())
}

/// The ref names in a receive-pack request's command pkt-lines.
fn pushed_refs(body: &[u8]) -> Vec<String> {
    let mut refs = Vec::new();
    let mut pos = 0;
    while pos + 4 <= body.len() {
        let Some(len) = std::str::from_utf8(&body[pos..pos + 4])
            .ok()
            .and_then(|h| usize::from_str_radix(h, 16).ok())
        else {
            break;
        };
        if len == 0 || len < 4 || pos + len > body.len() {
            break;
        }
        let line = String::from_utf8_lossy(&body[pos + 4..pos + len]);
        let command = line.split('\0').next().unwrap_or_default().trim_end();
        if let Some(name) = command.split(' ').nth(2) {
            refs.push(name.to_owned());
        }
        pos += len;
    }
    refs
}

/// Turns CGI output (headers, blank line, body) into a response.
fn cgi_response(stdout: &[u8]) -> anyhow::Result<Response> {
    let split = stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| (p, p + 4))
        .or_else(|| {
            stdout
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|p| (p, p + 2))
        })
        .ok_or_else(|| anyhow::anyhow!("git http-backend wrote no headers"))?;
    let head = String::from_utf8_lossy(&stdout[..split.0]);
    let mut status = StatusCode::OK;
    let mut builder = Response::builder();
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value
                .split_whitespace()
                .next()
                .and_then(|c| c.parse::<u16>().ok())
                .unwrap_or(200);
            status = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
        } else if let Ok(v) = HeaderValue::from_str(value) {
            builder = builder.header(name, v);
        }
    }
    Ok(builder
        .status(status)
        .body(Body::from(stdout[split.1..].to_vec()))?)
}
