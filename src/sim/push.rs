//! What follows a push (over git or by a person): pull request heads move
//! (`synchronize`), check suites are requested, CI starts; and the auto-merge sweeper
//! that merges pull requests as soon as protection is satisfied.

use serde_json::{Map, json};

use crate::types::{CommitSha, Login, RepoName};

use super::Sim;
use super::json;
use super::merge::{announce_pull, evaluate, perform_merge};
use super::state::MergeMethod;
use super::webhooks::announce;

/// Handles ref updates from a push (git or a person's commit): moves pull request
/// heads (`synchronize`), requests check suites, starts CI, wakes auto-merge.
///
/// Only the webhooks depend on a configured hook (`announce` drops them otherwise):
/// heads, check suites and CI follow every push, with or without `webhook_url`.
pub async fn on_push(
    sim: &Sim,
    repo_name: &RepoName,
    updates: Vec<(String, Option<String>, Option<String>)>,
    pusher: &Login,
) {
    for (branch, before, after) in updates {
        let Some(after) = after else { continue };
        let pull = {
            let mut world = sim.world();
            let app_id = world.installation_for(repo_name).map(|i| i.app_id);
            let id = world.id();
            let now = world.now();
            let Some(repo) = world.repos.get_mut(repo_name) else {
                continue;
            };
            if let Some(app_id) = app_id {
                repo.check_suites.push(super::state::CheckSuite {
                    id,
                    app_id,
                    head_sha: CommitSha(after.clone()),
                    head_branch: Some(branch.clone()),
                    completed_announced: false,
                });
            }
            let pull = repo.open_pull_for_head(&branch);
            if let Some(number) = pull {
                if let Some(p) = repo.pulls.get_mut(&number) {
                    p.head_sha = CommitSha(after.clone());
                }
                if let Some(issue) = repo.issues.get_mut(&number) {
                    issue.updated_at = now;
                }
            }
            let repo = &world.repos[repo_name];
            if let Some(suite) = repo.check_suites.iter().find(|s| s.id == id) {
                let mut fields = Map::new();
                fields.insert("check_suite".into(), json::check_suite(&world, repo, suite));
                announce(
                    &world,
                    sim.outbox(),
                    repo,
                    "check_suite",
                    Some("requested"),
                    fields,
                    pusher,
                );
            }
            pull
        };
        if let Some(number) = pull {
            let mut extra = Map::new();
            extra.insert("before".into(), json!(before));
            extra.insert("after".into(), json!(after));
            if let Err(err) =
                announce_pull(sim, repo_name, number, "synchronize", pusher, extra).await
            {
                tracing::warn!(message = %err.message, "announcing synchronize");
            }
            super::ci::trigger(sim, repo_name, &after, &branch);
        }
    }
    sim.kick_auto_merge();
}

/// Merges pull requests with auto-merge enabled as soon as they may merge.
pub async fn auto_merge_forever(sim: Sim) {
    loop {
        sim.0.auto_merge.notified().await;
        let candidates: Vec<(RepoName, u64, Login, MergeMethod)> = {
            let world = sim.world();
            world
                .repos
                .values()
                .flat_map(|r| {
                    r.pulls.values().filter_map(|p| {
                        let a = p.auto_merge.as_ref()?;
                        (!p.merged)
                            .then(|| (r.name.clone(), p.number, a.enabled_by.clone(), a.method))
                    })
                })
                .collect()
        };
        for (repo, number, by, method) in candidates {
            match evaluate(&sim, &repo, number).await {
                Ok((_, _, state)) if state.can_merge() => {
                    if let Err(err) =
                        perform_merge(&sim, &repo, number, method, None, None, &by).await
                    {
                        tracing::debug!(message = %err.message, "auto-merge not yet possible");
                    }
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(message = %err.message, "auto-merge evaluation failed"),
            }
        }
    }
}
