//! When a pull request may merge, and merging it: branch protection and rulesets
//! (required checks, app-bound checks, required reviews, up-to-date), conflicts, drafts; real merges in the
//! bare repository (merge commit, squash, rebase); pushes that move pull-request heads;
//! and the auto-merge sweeper that merges as soon as protection is satisfied.

use serde_json::{Map, Value, json};

use crate::types::{CommitSha, Login, Permission, RepoName};

use super::Sim;
use super::closing::closed_issues;
use super::error::{ApiError, ApiResult};
use super::git;
use super::json::{self, PullView};
use super::routes::issues::update_issue;
use super::state::{MergeMethod, Repo, UserKind};
use super::webhooks::announce;

/// GitHub's `mergeStateStatus`, with the reason when blocked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MergeState {
    /// Mergeable and every check passes.
    Clean,
    /// Mergeable, but a check that is not required fails.
    Unstable,
    /// Protection is not satisfied (the reason as REST's 405 message).
    Blocked(String),
    /// The head does not contain the base tip and protection is strict.
    Behind,
    /// The merge conflicts.
    Dirty,
    /// The pull request is a draft.
    Draft,
    /// Closed or merged.
    Unknown,
}

impl MergeState {
    /// GraphQL `MergeStateStatus`.
    pub fn graphql(&self) -> &'static str {
        match self {
            Self::Clean => "CLEAN",
            Self::Unstable => "UNSTABLE",
            Self::Blocked(_) => "BLOCKED",
            Self::Behind => "BEHIND",
            Self::Dirty => "DIRTY",
            Self::Draft => "DRAFT",
            Self::Unknown => "UNKNOWN",
        }
    }

    /// REST `mergeable_state`.
    pub fn rest(&self) -> String {
        self.graphql().to_ascii_lowercase()
    }

    /// Whether a merge may proceed now.
    pub fn can_merge(&self) -> bool {
        matches!(self, Self::Clean | Self::Unstable)
    }
}

/// A pull request's stored facts needed for evaluation.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// Head branch.
    pub head_ref: String,
    /// Head commit.
    pub head_sha: String,
    /// Base branch.
    pub base_ref: String,
    /// Draft?
    pub draft: bool,
    /// Open?
    pub open: bool,
    /// Merged?
    pub merged: bool,
    /// Author.
    pub author: Login,
    /// Title.
    pub title: String,
}

/// Reads a pull request's facts, or 404.
pub fn snapshot(sim: &Sim, repo: &RepoName, number: u64) -> ApiResult<Snapshot> {
    let world = sim.world();
    let repo = world.repo(repo).ok_or_else(ApiError::not_found)?;
    let pull = repo.pulls.get(&number).ok_or_else(ApiError::not_found)?;
    let issue = repo.issues.get(&number).ok_or_else(ApiError::not_found)?;
    Ok(Snapshot {
        head_ref: pull.head_ref.clone(),
        head_sha: pull.head_sha.0.clone(),
        base_ref: pull.base_ref.clone(),
        draft: pull.draft,
        open: issue.open,
        merged: pull.merged,
        author: issue.user.clone(),
        title: issue.title.clone(),
    })
}

/// What protection and checks say about a head (no git needed).
struct Gate {
    blocked: Option<String>,
    failing_optional: bool,
    strict: bool,
}

/// Evaluates branch protection of `base_ref` for `head_sha`.
fn gate(
    repo: &Repo,
    users: &std::collections::BTreeMap<Login, super::state::User>,
    snap: &Snapshot,
    number: u64,
) -> Gate {
    let protection = repo
        .protection
        .get(&snap.base_ref)
        .cloned()
        .unwrap_or_default();
    let ok = |c: &str| matches!(c, "success" | "neutral" | "skipped");
    let mut blocked = None;
    let (ruleset_checks, ruleset_strict) = repo.ruleset_checks(&snap.base_ref);
    let mut required = protection.required_checks.clone().unwrap_or_default();
    for check in ruleset_checks {
        if !required.contains(&check) {
            required.push(check);
        }
    }
    for check in &required {
        let run = repo
            .check_runs
            .iter()
            .filter(|r| r.head_sha.0 == snap.head_sha && r.name == check.context)
            .filter(|r| check.app_id.is_none_or(|a| r.app_id == a))
            .max_by_key(|r| r.id);
        let status = if check.app_id.is_none() {
            repo.statuses
                .iter()
                .filter(|s| s.sha.0 == snap.head_sha && s.context == check.context)
                .max_by_key(|s| s.id)
        } else {
            None
        };
        let verdict = match (run, status) {
            (Some(r), _) if r.status == "completed" && r.conclusion.as_deref().is_some_and(ok) => {
                None
            }
            (_, Some(s)) if s.state == "success" => None,
            (Some(r), _) if r.status == "completed" => Some("failing"),
            (_, Some(s)) if s.state == "failure" || s.state == "error" => Some("failing"),
            _ => Some("expected"),
        };
        if let Some(v) = verdict {
            blocked.get_or_insert(format!(
                "Required status check \"{}\" is {v}.",
                check.context
            ));
        }
    }
    if blocked.is_none()
        && let Some(needed) = protection.required_approvals
    {
        let mut latest: std::collections::BTreeMap<&Login, &str> = Default::default();
        for review in repo
            .reviews
            .iter()
            .filter(|r| r.pull == number && r.state != "COMMENTED")
        {
            latest.insert(&review.user, &review.state);
        }
        let counts = |login: &Login| {
            login != &snap.author
                && repo.permission(login) >= Permission::Write
                && users.get(login).is_none_or(|u| u.kind == UserKind::User)
        };
        let approvals = latest
            .iter()
            .filter(|(l, s)| **s == "APPROVED" && counts(l))
            .count();
        if latest
            .iter()
            .any(|(l, s)| *s == "CHANGES_REQUESTED" && counts(l))
        {
            blocked = Some("Changes were requested by a reviewer with write access.".to_owned());
        } else if approvals < needed as usize {
            blocked = Some(format!(
                "At least {needed} approving review{} is required by reviewers with write access.",
                if needed == 1 { "" } else { "s" }
            ));
        }
    }
    let required_names: Vec<&str> = required.iter().map(|c| c.context.as_str()).collect();
    let failing_optional = repo.check_runs.iter().any(|r| {
        r.head_sha.0 == snap.head_sha
            && !required_names.contains(&r.name.as_str())
            && r.status == "completed"
            && !r.conclusion.as_deref().is_some_and(ok)
    });
    Gate {
        blocked,
        failing_optional,
        strict: (protection.strict && protection.required_checks.is_some()) || ruleset_strict,
    }
}

/// Computes the pull request's merge state and the git-derived fields of its JSON.
pub async fn evaluate(
    sim: &Sim,
    repo_name: &RepoName,
    number: u64,
) -> ApiResult<(Snapshot, PullView, MergeState)> {
    let snap = snapshot(sim, repo_name, number)?;
    let gate = {
        let world = sim.world();
        let repo = world.repo(repo_name).ok_or_else(ApiError::not_found)?;
        gate(repo, &world.users, &snap, number)
    };
    let path = sim.repo_path(repo_name);
    let base_sha = git::branch_sha(&path, &snap.base_ref)
        .await
        .unwrap_or_default();
    let files = git::diff(&path, &base_sha, &snap.head_sha)
        .await
        .unwrap_or_default();
    let commits = git::commits_between(&path, &base_sha, &snap.head_sha)
        .await
        .map(|c| c.len())
        .unwrap_or(0);
    let mut view = PullView {
        base_sha: base_sha.clone(),
        mergeable: None,
        mergeable_state: "unknown".to_owned(),
        commits,
        additions: files.iter().map(|f| f.additions).sum(),
        deletions: files.iter().map(|f| f.deletions).sum(),
        changed_files: files.len(),
    };
    let state = if !snap.open || snap.merged {
        MergeState::Unknown
    } else {
        let clean_merge = git::merge_tree(&path, &base_sha, &snap.head_sha, None)
            .await?
            .is_some();
        view.mergeable = Some(clean_merge);
        if !clean_merge {
            MergeState::Dirty
        } else if snap.draft {
            MergeState::Draft
        } else if let Some(reason) = gate.blocked {
            MergeState::Blocked(reason)
        } else if gate.strict && !git::is_ancestor(&path, &base_sha, &snap.head_sha).await {
            MergeState::Behind
        } else if gate.failing_optional {
            MergeState::Unstable
        } else {
            MergeState::Clean
        }
    };
    view.mergeable_state = state.rest();
    Ok((snap, view, state))
}

/// The pull request's JSON with its computed fields.
pub async fn pull_json(sim: &Sim, repo_name: &RepoName, number: u64) -> ApiResult<Value> {
    let (_, view, _) = evaluate(sim, repo_name, number).await?;
    let world = sim.world();
    let repo = world.repo(repo_name).ok_or_else(ApiError::not_found)?;
    let pull = repo.pulls.get(&number).ok_or_else(ApiError::not_found)?;
    Ok(json::pull(&world, repo, pull, &view))
}

/// Announces a `pull_request` event with the current pull request object.
pub async fn announce_pull(
    sim: &Sim,
    repo_name: &RepoName,
    number: u64,
    action: &str,
    sender: &Login,
    mut extra: Map<String, Value>,
) -> ApiResult<()> {
    let pull = pull_json(sim, repo_name, number).await?;
    let world = sim.world();
    let repo = world.repo(repo_name).ok_or_else(ApiError::not_found)?;
    extra.insert("number".into(), json!(number));
    extra.insert("pull_request".into(), pull);
    announce(
        &world,
        sim.outbox(),
        repo,
        "pull_request",
        Some(action),
        extra,
        sender,
    );
    Ok(())
}

/// Why a REST merge was refused.
pub fn refusal(state: &MergeState) -> ApiError {
    use axum::http::StatusCode;
    let message = match state {
        MergeState::Draft => "Pull Request is still a draft".to_owned(),
        MergeState::Dirty => "Pull Request is not mergeable".to_owned(),
        MergeState::Blocked(reason) => reason.clone(),
        MergeState::Behind => {
            "Head branch is out of date. Review and try the merge again.".to_owned()
        }
        _ => "Pull Request is not mergeable".to_owned(),
    };
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, message)
}

/// Merges a pull request that may merge; returns the new base tip.
pub async fn perform_merge(
    sim: &Sim,
    repo_name: &RepoName,
    number: u64,
    method: MergeMethod,
    title: Option<String>,
    message: Option<String>,
    merged_by: &Login,
) -> ApiResult<String> {
    let _guard = sim.0.git_lock.lock().await;
    let (snap, _, state) = evaluate(sim, repo_name, number).await?;
    if !state.can_merge() {
        return Err(refusal(&state));
    }
    let path = sim.repo_path(repo_name);
    let base = git::branch_sha(&path, &snap.base_ref)
        .await
        .ok_or_else(ApiError::not_found)?;
    let head = snap.head_sha.clone();
    let email = format!("{}@users.noreply.github.com", merged_by.0);
    let author = (merged_by.0.as_str(), email.as_str());
    let tree = git::merge_tree(&path, &base, &head, None)
        .await?
        .ok_or_else(|| refusal(&MergeState::Dirty))?;
    let new_tip = match method {
        MergeMethod::Merge => {
            let owner = repo_name.split().map(|(o, _)| o).unwrap_or_default();
            let subject = title.unwrap_or_else(|| {
                format!(
                    "Merge pull request #{number} from {owner}/{}",
                    snap.head_ref
                )
            });
            let body = message.unwrap_or_else(|| snap.title.clone());
            git::commit_tree(
                &path,
                &tree,
                &[&base, &head],
                &format!("{subject}\n\n{body}"),
                author,
                git::GITHUB_COMMITTER,
            )
            .await?
        }
        MergeMethod::Squash => {
            let subject = title.unwrap_or_else(|| format!("{} (#{number})", snap.title));
            let full = match message {
                Some(body) if !body.is_empty() => format!("{subject}\n\n{body}"),
                _ => subject,
            };
            git::commit_tree(&path, &tree, &[&base], &full, author, git::GITHUB_COMMITTER).await?
        }
        MergeMethod::Rebase => {
            let mut tip = base.clone();
            for commit in git::commits_between(&path, &base, &head).await? {
                let info = git::commit_info(&path, &commit)
                    .await
                    .ok_or_else(|| ApiError::internal("commit vanished"))?;
                let parent = info.parents.first().cloned().unwrap_or_default();
                let tree = git::merge_tree(&path, &tip, &commit, Some(&parent))
                    .await?
                    .ok_or_else(|| {
                        ApiError::new(
                            axum::http::StatusCode::METHOD_NOT_ALLOWED,
                            "This branch can't be rebased",
                        )
                    })?;
                tip = git::commit_tree(
                    &path,
                    &tree,
                    &[&tip],
                    &info.message,
                    (&info.author.0, &info.author.1),
                    git::GITHUB_COMMITTER,
                )
                .await?;
            }
            tip
        }
    };
    git::update_ref(
        &path,
        &format!("refs/heads/{}", snap.base_ref),
        &new_tip,
        Some(&base),
    )
    .await?;
    let closes = {
        let mut world = sim.world();
        let now = world.now();
        let repo = world
            .repos
            .get_mut(repo_name)
            .ok_or_else(ApiError::not_found)?;
        let closes: Vec<u64> = if snap.base_ref == repo.default_branch {
            let body = repo.issues.get(&number).and_then(|i| i.body.clone());
            closed_issues(body.as_deref().unwrap_or(""), repo_name)
                .into_iter()
                .filter(|n| {
                    !repo.pulls.contains_key(n) && repo.issues.get(n).is_some_and(|i| i.open)
                })
                .collect()
        } else {
            Vec::new()
        };
        if let Some(pull) = repo.pulls.get_mut(&number) {
            pull.merged = true;
            pull.merged_at = Some(now);
            pull.merged_by = Some(merged_by.clone());
            pull.merge_commit_sha = Some(CommitSha(new_tip.clone()));
            pull.auto_merge = None;
        }
        if let Some(issue) = repo.issues.get_mut(&number) {
            issue.open = false;
            issue.closed_at = Some(now);
            issue.updated_at = now;
        }
        closes
    };
    announce_pull(sim, repo_name, number, "closed", merged_by, Map::new()).await?;
    for issue in closes {
        update_issue(sim, repo_name, issue, json!({"state": "closed"}), merged_by).await?;
    }
    sim.kick_auto_merge();
    Ok(new_tip)
}
