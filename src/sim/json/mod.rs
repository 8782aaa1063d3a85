//! GitHub's JSON shapes for users, repositories, issues, pull requests and reviews
//! (Apps, checks and statuses in `checks`), built in one place so REST answers and
//! webhook payloads agree.

mod checks;

pub use checks::{app, check_run, check_suite, status};

use base64::Engine;
use serde_json::{Value, json};

use crate::types::{Login, Permission};

use super::state::{Comment, Issue, Pull, Repo, Review, ReviewComment, UserKind, World};

/// A GraphQL-style global node id: `PREFIX_` + base64 of `key`.
pub fn node_id(prefix: &str, key: &str) -> String {
    format!(
        "{prefix}_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key)
    )
}

/// The node id of a pull request (decodable back to repository id and number).
pub fn pull_node_id(repo: &Repo, number: u64) -> String {
    node_id("PR", &format!("{}:{number}", repo.id))
}

/// Decodes a pull request node id into (repository id, number).
pub fn decode_pull_node_id(id: &str) -> Option<(u64, u64)> {
    let raw = id.strip_prefix("PR_")?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (repo, number) = text.split_once(':')?;
    Some((repo.parse().ok()?, number.parse().ok()?))
}

/// GitHub's timestamp format.
pub fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A simple user object.
pub fn user(world: &World, login: &Login) -> Value {
    let (id, kind) = world
        .users
        .get(login)
        .map(|u| (u.id, u.kind))
        .unwrap_or((0, UserKind::User));
    let kind = match kind {
        UserKind::User => "User",
        UserKind::Bot => "Bot",
        UserKind::Organization => "Organization",
    };
    let base = &world.base_url;
    // `[` and `]` are not allowed in a URI path: GitHub percent-encodes a bot's login.
    let path = login.0.replace('[', "%5B").replace(']', "%5D");
    let api = format!("{base}/users/{path}");
    // A bot's page is its App's page.
    let html_url = match login.0.strip_suffix("[bot]") {
        Some(slug) if kind == "Bot" => format!("{base}/apps/{slug}"),
        _ => format!("{base}/{path}"),
    };
    let mut value = json!({
        "login": login.0,
        "id": id,
        "node_id": node_id(if kind == "Bot" { "BOT" } else { "U" }, &id.to_string()),
        "avatar_url": format!("{base}/avatars/{path}"),
        "gravatar_id": "",
        "url": api,
        "html_url": html_url,
        "type": kind,
        "user_view_type": "public",
        "site_admin": false,
    });
    for (key, suffix) in [
        ("followers_url", "/followers"),
        ("following_url", "/following{/other_user}"),
        ("gists_url", "/gists{/gist_id}"),
        ("starred_url", "/starred{/owner}{/repo}"),
        ("subscriptions_url", "/subscriptions"),
        ("organizations_url", "/orgs"),
        ("repos_url", "/repos"),
        ("events_url", "/events{/privacy}"),
        ("received_events_url", "/received_events"),
    ] {
        value[key] = Value::String(format!("{api}{suffix}"));
    }
    value
}

/// A repository object.
pub fn repo(world: &World, repo: &Repo) -> Value {
    let base = &world.base_url;
    let (owner, name) = repo.name.split().unwrap_or(("", ""));
    let api = format!("{base}/repos/{}", repo.name.0);
    let open_issues = repo.issues.values().filter(|i| i.open).count();
    let host = base
        .trim_start_matches("http://")
        .trim_start_matches("https://");
    let mut value = json!({
        "id": repo.id,
        "node_id": node_id("R", &repo.id.to_string()),
        "name": name,
        "full_name": repo.name.0,
        "private": false,
        "owner": user(world, &Login(owner.to_owned())),
        "html_url": format!("{base}/{}", repo.name.0),
        "description": null,
        "fork": false,
        "url": format!("{base}/repos/{}", repo.name.0),
        "clone_url": format!("{base}/{}.git", repo.name.0),
        "git_url": format!("{base}/{}.git", repo.name.0),
        "default_branch": repo.default_branch,
        "visibility": "public",
        "archived": false,
        "disabled": false,
        "allow_auto_merge": repo.allow_auto_merge,
        "allow_merge_commit": true,
        "allow_squash_merge": true,
        "allow_rebase_merge": true,
        "delete_branch_on_merge": false,
        "permissions": {"admin": false, "maintain": false, "push": true, "triage": true, "pull": true},
    });
    let more = json!({
        "ssh_url": format!("git@{host}:{}.git", repo.name.0),
        "svn_url": format!("{base}/{}", repo.name.0),
        "homepage": null,
        "mirror_url": null,
        "language": null,
        "license": null,
        "size": 0,
        "forks": 0,
        "forks_count": 0,
        "stargazers_count": 0,
        "watchers": 0,
        "watchers_count": 0,
        "open_issues": open_issues,
        "open_issues_count": open_issues,
        "has_issues": true,
        "has_projects": false,
        "has_downloads": true,
        "has_wiki": false,
        "has_discussions": false,
        "network_count": 0,
        "subscribers_count": 0,
        "has_pages": false,
        "is_template": false,
        "web_commit_signoff_required": false,
        "topics": [],
        "custom_properties": {},
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "pushed_at": "2026-01-01T00:00:00Z",
    });
    if let (Value::Object(a), Value::Object(b)) = (&mut value, more) {
        a.extend(b);
    }
    for (key, suffix) in [
        ("archive_url", "/{archive_format}{/ref}"),
        ("assignees_url", "/assignees{/user}"),
        ("blobs_url", "/git/blobs{/sha}"),
        ("branches_url", "/branches{/branch}"),
        ("collaborators_url", "/collaborators{/collaborator}"),
        ("comments_url", "/comments{/number}"),
        ("commits_url", "/commits{/sha}"),
        ("compare_url", "/compare/{base}...{head}"),
        ("contents_url", "/contents/{+path}"),
        ("contributors_url", "/contributors"),
        ("deployments_url", "/deployments"),
        ("downloads_url", "/downloads"),
        ("events_url", "/events"),
        ("forks_url", "/forks"),
        ("git_commits_url", "/git/commits{/sha}"),
        ("git_refs_url", "/git/refs{/sha}"),
        ("git_tags_url", "/git/tags{/sha}"),
        ("hooks_url", "/hooks"),
        ("issue_comment_url", "/issues/comments{/number}"),
        ("issue_events_url", "/issues/events{/number}"),
        ("issues_url", "/issues{/number}"),
        ("keys_url", "/keys{/key_id}"),
        ("labels_url", "/labels{/name}"),
        ("languages_url", "/languages"),
        ("merges_url", "/merges"),
        ("milestones_url", "/milestones{/number}"),
        (
            "notifications_url",
            "/notifications{?since,all,participating}",
        ),
        ("pulls_url", "/pulls{/number}"),
        ("releases_url", "/releases{/id}"),
        ("stargazers_url", "/stargazers"),
        ("statuses_url", "/statuses/{sha}"),
        ("subscribers_url", "/subscribers"),
        ("subscription_url", "/subscription"),
        ("tags_url", "/tags"),
        ("teams_url", "/teams"),
        ("trees_url", "/git/trees{/sha}"),
    ] {
        value[key] = Value::String(format!("{api}{suffix}"));
    }
    value
}

/// `{id, node_id}` of an installation, as payloads carry it.
pub fn installation_ref(id: u64) -> Value {
    json!({"id": id, "node_id": node_id("MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9u", &id.to_string())})
}

/// A label object.
pub fn label(world: &World, repo: &Repo, name: &str) -> Value {
    let id = name
        .bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
        % 1_000_000_000;
    json!({
        "id": id,
        "node_id": node_id("LA", &id.to_string()),
        "url": format!("{}/repos/{}/labels/{name}", world.base_url, repo.name.0),
        "name": name,
        "color": "ededed",
        "default": false,
        "description": null,
    })
}

/// An issue object (pull requests carry `pull_request`).
pub fn issue(world: &World, repo: &Repo, issue: &Issue) -> Value {
    let base = &world.base_url;
    let api = format!("{base}/repos/{}/issues/{}", repo.name.0, issue.number);
    let comments = repo
        .comments
        .iter()
        .filter(|c| c.issue == issue.number)
        .count();
    let mut value = json!({
        "url": api,
        "repository_url": format!("{base}/repos/{}", repo.name.0),
        "labels_url": format!("{api}/labels{{/name}}"),
        "comments_url": format!("{api}/comments"),
        "events_url": format!("{api}/events"),
        "timeline_url": format!("{api}/timeline"),
        "draft": false,
        "html_url": format!("{base}/{}/{}/{}", repo.name.0, if issue.is_pull { "pull" } else { "issues" }, issue.number),
        "id": issue.id,
        "node_id": node_id(if issue.is_pull { "PR" } else { "I" }, &issue.id.to_string()),
        "number": issue.number,
        "title": issue.title,
        "user": user(world, &issue.user),
        "labels": issue.labels.iter().map(|l| label(world, repo, l)).collect::<Vec<_>>(),
        "state": if issue.open { "open" } else { "closed" },
        "state_reason": issue.state_reason,
        "locked": false,
        "assignee": null,
        "assignees": [],
        "milestone": null,
        "comments": comments,
        "created_at": time(issue.created_at),
        "updated_at": time(issue.updated_at),
        "closed_at": issue.closed_at.map(time),
        "author_association": association(repo, &issue.user),
        "active_lock_reason": null,
        "body": issue.body,
        "reactions": reactions(&format!("{api}/reactions")),
    });
    if issue.is_pull {
        let pulls = format!("{base}/repos/{}/pulls/{}", repo.name.0, issue.number);
        value["pull_request"] = json!({
            "url": pulls,
            "html_url": format!("{base}/{}/pull/{}", repo.name.0, issue.number),
            "diff_url": format!("{base}/{}/pull/{}.diff", repo.name.0, issue.number),
            "patch_url": format!("{base}/{}/pull/{}.patch", repo.name.0, issue.number),
            "merged_at": repo.pulls.get(&issue.number).and_then(|p| p.merged_at).map(time),
        });
        value["draft"] = json!(repo.pulls.get(&issue.number).is_some_and(|p| p.draft));
    }
    value
}

/// An empty reaction rollup (the simulator has no reactions).
fn reactions(url: &str) -> Value {
    json!({
        "url": url,
        "total_count": 0,
        "+1": 0,
        "-1": 0,
        "laugh": 0,
        "confused": 0,
        "heart": 0,
        "hooray": 0,
        "eyes": 0,
        "rocket": 0,
    })
}

/// The `permissions` object of a repository read by a person with `level`; every
/// simulated repository is public, so anyone may pull.
pub fn permissions(level: Permission) -> Value {
    json!({
        "admin": level >= Permission::Admin,
        "maintain": level >= Permission::Admin,
        "push": level >= Permission::Write,
        "triage": level >= Permission::Write,
        "pull": true,
    })
}

/// `author_association` of `login` on `repo` (a hint only, as on GitHub).
fn association(repo: &Repo, login: &Login) -> &'static str {
    if repo.name.split().is_some_and(|(o, _)| o == login.0) {
        return "OWNER";
    }
    match repo.permission(login) {
        Permission::Admin | Permission::Write => "COLLABORATOR",
        _ => "NONE",
    }
}

/// An issue comment object.
pub fn comment(world: &World, repo: &Repo, comment: &Comment) -> Value {
    let base = &world.base_url;
    json!({
        "id": comment.id,
        "node_id": node_id("IC", &comment.id.to_string()),
        "url": format!("{base}/repos/{}/issues/comments/{}", repo.name.0, comment.id),
        "html_url": format!("{base}/{}/issues/{}#issuecomment-{}", repo.name.0, comment.issue, comment.id),
        "issue_url": format!("{base}/repos/{}/issues/{}", repo.name.0, comment.issue),
        "body": comment.body,
        "user": user(world, &comment.user),
        "created_at": time(comment.created_at),
        "updated_at": time(comment.updated_at),
        "author_association": association(repo, &comment.user),
        "reactions": reactions(&format!("{base}/repos/{}/issues/comments/{}/reactions", repo.name.0, comment.id)),
    })
}

/// What a pull request object needs beyond stored state (computed from git).
#[derive(Clone, Debug, Default)]
pub struct PullView {
    /// Current base tip.
    pub base_sha: String,
    /// `mergeable`: `None` while unknown.
    pub mergeable: Option<bool>,
    /// REST `mergeable_state` (`clean`, `dirty`, `blocked`, `behind`, `unstable`, `draft`).
    pub mergeable_state: String,
    /// Commits in the PR.
    pub commits: usize,
    /// Lines added.
    pub additions: u64,
    /// Lines removed.
    pub deletions: u64,
    /// Files changed.
    pub changed_files: usize,
}

/// A pull request object.
pub fn pull(world: &World, repo: &Repo, pull: &Pull, view: &PullView) -> Value {
    let base = &world.base_url;
    let Some(issue) = repo.issues.get(&pull.number) else {
        return Value::Null;
    };
    let owner = Login(
        repo.name
            .split()
            .map(|(o, _)| o)
            .unwrap_or_default()
            .to_owned(),
    );
    let api = format!("{base}/repos/{}/pulls/{}", repo.name.0, pull.number);
    let repo_json = self::repo(world, repo);
    let side = |r: &str, sha: &str| {
        json!({
            "label": format!("{}:{r}", owner.0),
            "ref": r,
            "sha": sha,
            "user": user(world, &owner),
            "repo": repo_json,
        })
    };
    let mut value = json!({
        "url": api,
        "id": pull.id,
        "node_id": pull_node_id(repo, pull.number),
        "html_url": format!("{base}/{}/pull/{}", repo.name.0, pull.number),
        "diff_url": format!("{base}/{}/pull/{}.diff", repo.name.0, pull.number),
        "patch_url": format!("{base}/{}/pull/{}.patch", repo.name.0, pull.number),
        "issue_url": format!("{base}/repos/{}/issues/{}", repo.name.0, pull.number),
        "commits_url": format!("{api}/commits"),
        "review_comments_url": format!("{api}/comments"),
        "review_comment_url": format!("{base}/repos/{}/pulls/comments{{/number}}", repo.name.0),
        "comments_url": format!("{base}/repos/{}/issues/{}/comments", repo.name.0, pull.number),
        "statuses_url": format!("{base}/repos/{}/statuses/{}", repo.name.0, pull.head_sha.0),
        "number": pull.number,
        "state": if issue.open { "open" } else { "closed" },
        "locked": false,
        "title": issue.title,
        "user": user(world, &issue.user),
        "body": issue.body,
        "labels": issue.labels.iter().map(|l| label(world, repo, l)).collect::<Vec<_>>(),
        "milestone": null,
        "active_lock_reason": null,
        "created_at": time(issue.created_at),
        "updated_at": time(issue.updated_at),
        "closed_at": issue.closed_at.map(time),
        "merged_at": pull.merged_at.map(time),
        "merge_commit_sha": pull.merge_commit_sha.as_ref().map(|s| s.0.clone()),
    });
    let more = json!({
        "assignee": null,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "head": side(&pull.head_ref, &pull.head_sha.0),
        "base": side(&pull.base_ref, &view.base_sha),
        "_links": {
            "self": {"href": api},
            "html": {"href": format!("{base}/{}/pull/{}", repo.name.0, pull.number)},
            "issue": {"href": format!("{base}/repos/{}/issues/{}", repo.name.0, pull.number)},
            "comments": {"href": format!("{base}/repos/{}/issues/{}/comments", repo.name.0, pull.number)},
            "review_comments": {"href": format!("{api}/comments")},
            "review_comment": {"href": format!("{base}/repos/{}/pulls/comments{{/number}}", repo.name.0)},
            "commits": {"href": format!("{api}/commits")},
            "statuses": {"href": format!("{base}/repos/{}/statuses/{}", repo.name.0, pull.head_sha.0)},
        },
        "author_association": association(repo, &issue.user),
        "auto_merge": pull.auto_merge.as_ref().map(|a| json!({
            "enabled_by": user(world, &a.enabled_by),
            "merge_method": a.method.as_str(),
            "commit_title": issue.title,
            "commit_message": "",
        })),
        "draft": pull.draft,
        "merged": pull.merged,
        "mergeable": view.mergeable,
        "rebaseable": view.mergeable,
        "mergeable_state": view.mergeable_state,
        "merged_by": pull.merged_by.as_ref().map(|l| user(world, l)),
        "comments": repo.comments.iter().filter(|c| c.issue == pull.number).count(),
        "review_comments": repo.review_comments.iter().filter(|c| c.pull == pull.number).count(),
        "maintainer_can_modify": false,
        "commits": view.commits,
        "additions": view.additions,
        "deletions": view.deletions,
        "changed_files": view.changed_files,
    });
    if let (Value::Object(a), Value::Object(b)) = (&mut value, more) {
        a.extend(b);
    }
    value
}

/// A review object.
pub fn review(world: &World, repo: &Repo, review: &Review) -> Value {
    let base = &world.base_url;
    json!({
        "id": review.id,
        "node_id": node_id("PRR", &review.id.to_string()),
        "user": user(world, &review.user),
        "body": review.body,
        "state": review.state,
        "html_url": format!("{base}/{}/pull/{}#pullrequestreview-{}", repo.name.0, review.pull, review.id),
        "pull_request_url": format!("{base}/repos/{}/pulls/{}", repo.name.0, review.pull),
        "commit_id": review.commit_id.0,
        "submitted_at": time(review.submitted_at),
        "author_association": association(repo, &review.user),
        "_links": {
            "html": {"href": format!("{base}/{}/pull/{}#pullrequestreview-{}", repo.name.0, review.pull, review.id)},
            "pull_request": {"href": format!("{base}/repos/{}/pulls/{}", repo.name.0, review.pull)},
        },
    })
}

/// An inline review comment object.
pub fn review_comment(world: &World, repo: &Repo, c: &ReviewComment) -> Value {
    let base = &world.base_url;
    json!({
        "id": c.id,
        "node_id": node_id("PRRC", &c.id.to_string()),
        "pull_request_review_id": c.review_id,
        "url": format!("{base}/repos/{}/pulls/comments/{}", repo.name.0, c.id),
        "html_url": format!("{base}/{}/pull/{}#discussion_r{}", repo.name.0, c.pull, c.id),
        "pull_request_url": format!("{base}/repos/{}/pulls/{}", repo.name.0, c.pull),
        "path": c.path,
        "line": c.line,
        "side": c.side,
        "body": c.body,
        "commit_id": c.commit_id.0,
        "original_commit_id": c.commit_id.0,
        "user": user(world, &c.user),
    })
}
