//! Scenario controls: what a person does on GitHub (open an issue, label, comment,
//! approve, push, change protection), faults to arm and the simulated clock (the readers
//! of GitHub's state for assertions are in `inspect`). Tests call these on the `SimHandle` (which derefs to
//! `Sim`); the admin HTTP API calls the same methods.

use std::time::Duration;

use anyhow::{Context, anyhow};

use crate::types::{
    AppId, CommitSha, InstallationId, IssueNumber, Login, Permission, PrNumber, RepoName,
};

use super::error::ApiError;
use super::faults::{Chaos, Fault, PushFault};
use super::routes::{checks, comments, issues, protection, pulls, reviews};
use super::state::{Access, MergeMethod, Protection, Ruleset};
use super::{Sim, SimHandle, auth, git, push};

impl std::ops::Deref for SimHandle {
    type Target = Sim;

    fn deref(&self) -> &Sim {
        &self.sim
    }
}

pub(super) fn api(err: ApiError) -> anyhow::Error {
    anyhow!("{} {}", err.status, err.message)
}

impl Sim {
    /// Mints an installation token directly (as if the App had asked with its JWT).
    pub fn installation_token(&self, installation: InstallationId) -> String {
        let ttl = self.0.token_ttl;
        auth::mint_token(&mut self.world(), installation, ttl).0
    }

    /// Moves the simulated clock forward (tokens and JWTs age; nothing sleeps).
    pub fn advance_clock(&self, by: Duration) {
        let mut world = self.world();
        world.clock_offset += chrono::Duration::from_std(by).unwrap_or_default();
    }

    /// Points an App's webhook at `url` (the App's server started after the simulator,
    /// or restarted elsewhere). Deliveries already sent are not repeated.
    pub fn set_webhook_url(&self, app: AppId, url: &str) -> anyhow::Result<()> {
        let mut world = self.world();
        let app = world.apps.get_mut(&app).context("no such App")?;
        let target = app.webhook.as_mut().context("the App has no webhook")?;
        target.url = url.to_owned();
        Ok(())
    }

    /// Registers another App (no webhook) with `public_key_pem` and installs it as
    /// `installation` on the account that owns `repo` — a second App, such as a
    /// separate reviewer, acting on the same repositories.
    pub fn install_app(
        &self,
        app: AppId,
        slug: &str,
        public_key_pem: &str,
        installation: InstallationId,
        repo: &RepoName,
    ) -> anyhow::Result<()> {
        use super::state::{App, Installation, UserKind};
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(public_key_pem.as_bytes())
            .context("parsing the App's public key PEM")?;
        let owner = Login(repo.0.split('/').next().unwrap_or_default().to_owned());
        let bot = Login(format!("{slug}[bot]"));
        let mut world = self.world();
        world.add_user(&bot, UserKind::Bot);
        world.apps.insert(
            app,
            App {
                id: app,
                slug: slug.to_owned(),
                name: slug.to_owned(),
                owner: owner.clone(),
                public_key: Some(key),
                webhook: None,
                bot,
                permissions: super::state::manifest_permissions(),
                callback_urls: Vec::new(),
            },
        );
        world.installations.insert(
            installation,
            Installation {
                id: installation,
                app_id: app,
                account: owner,
            },
        );
        Ok(())
    }

    /// Gives `user` a role on `repo` (`read`, `write`, `admin`, anything else: none).
    pub fn set_permission(&self, repo: &RepoName, user: &Login, role: &str) -> anyhow::Result<()> {
        let mut world = self.world();
        world.user(user);
        let r = world.repos.get_mut(repo).context("no such repository")?;
        let permission = match role {
            "admin" => Permission::Admin,
            "write" | "maintain" => Permission::Write,
            "read" | "triage" => Permission::Read,
            _ => Permission::None,
        };
        r.collaborators.insert(user.clone(), permission);
        Ok(())
    }

    /// `by` opens an issue.
    pub async fn open_issue(
        &self,
        repo: &RepoName,
        title: &str,
        body: &str,
        by: &Login,
    ) -> anyhow::Result<IssueNumber> {
        let number = issues::open_issue(self, repo, title, Some(body.to_owned()), Vec::new(), by)
            .await
            .map_err(api)?;
        Ok(IssueNumber(number))
    }

    /// `by` adds a label to an issue or pull request.
    pub async fn label_issue(
        &self,
        repo: &RepoName,
        issue: u64,
        label: &str,
        by: &Login,
    ) -> anyhow::Result<()> {
        issues::add_labels(self, repo, issue, vec![label.to_owned()], by)
            .await
            .map_err(api)
            .map(|_| ())
    }

    /// `by` removes a label.
    pub async fn unlabel_issue(
        &self,
        repo: &RepoName,
        issue: u64,
        label: &str,
        by: &Login,
    ) -> anyhow::Result<()> {
        issues::remove_label(self, repo, issue, label, by)
            .await
            .map_err(api)
            .map(|_| ())
    }

    /// `by` comments on an issue or pull request; returns the comment id.
    pub async fn comment(
        &self,
        repo: &RepoName,
        issue: u64,
        body: &str,
        by: &Login,
    ) -> anyhow::Result<u64> {
        comments::add_comment(self, repo, issue, body, by)
            .await
            .map_err(api)
    }

    /// `by` approves a pull request (a human review).
    pub async fn approve_pr(
        &self,
        repo: &RepoName,
        pr: PrNumber,
        by: &Login,
    ) -> anyhow::Result<u64> {
        let review = reviews::NewReview {
            event: Some("APPROVE".to_owned()),
            ..Default::default()
        };
        self.review_as(repo, pr, by, review).await
    }

    /// `by` approves a pull request as it was at `commit` (a review of an older head,
    /// as a person whose page was not reloaded submits it).
    pub async fn approve_commit(
        &self,
        repo: &RepoName,
        pr: PrNumber,
        commit: &CommitSha,
        by: &Login,
    ) -> anyhow::Result<u64> {
        let review = reviews::NewReview {
            commit_id: Some(commit.0.clone()),
            event: Some("APPROVE".to_owned()),
            ..Default::default()
        };
        self.review_as(repo, pr, by, review).await
    }

    /// `by` submits `review` on a pull request, as a person does on its page.
    async fn review_as(
        &self,
        repo: &RepoName,
        pr: PrNumber,
        by: &Login,
        review: reviews::NewReview,
    ) -> anyhow::Result<u64> {
        reviews::submit_review(self, repo, pr.0, by, review)
            .await
            .map_err(api)
    }

    /// `by` requests changes on a pull request.
    pub async fn request_changes(
        &self,
        repo: &RepoName,
        pr: PrNumber,
        body: &str,
        by: &Login,
    ) -> anyhow::Result<u64> {
        let review = reviews::NewReview {
            event: Some("REQUEST_CHANGES".to_owned()),
            body: Some(body.to_owned()),
            ..Default::default()
        };
        self.review_as(repo, pr, by, review).await
    }

    /// `by` opens a pull request from an existing branch.
    pub async fn open_pr(
        &self,
        repo: &RepoName,
        head: &str,
        base: &str,
        title: &str,
        draft: bool,
        by: &Login,
    ) -> anyhow::Result<PrNumber> {
        let new = pulls::NewPull {
            title: title.to_owned(),
            head: head.to_owned(),
            base: base.to_owned(),
            body: None,
            draft,
        };
        pulls::create_pull(self, repo, new, by)
            .await
            .map_err(api)
            .map(PrNumber)
    }

    /// `by` merges a pull request from the web UI.
    pub async fn merge_pr(
        &self,
        repo: &RepoName,
        pr: PrNumber,
        method: MergeMethod,
        by: &Login,
    ) -> anyhow::Result<CommitSha> {
        let request = pulls::MergeRequest {
            sha: None,
            method,
            title: None,
            message: None,
        };
        pulls::merge_pull(self, repo, pr.0, request, by)
            .await
            .map_err(api)
            .map(CommitSha)
    }

    /// `by` pushes one commit writing `files` (path, content) to `branch` (created from
    /// the default branch when missing), as a person would with `git push`.
    pub async fn push_commit(
        &self,
        repo: &RepoName,
        branch: &str,
        files: &[(&str, &str)],
        message: &str,
        by: &Login,
    ) -> anyhow::Result<CommitSha> {
        let bare = self.repo_path(repo);
        let default = self
            .world()
            .repo(repo)
            .map(|r| r.default_branch.clone())
            .context("no such repository")?;
        let commit = {
            let _guard = self.0.git_lock.lock().await;
            let old = git::branch_sha(&bare, branch).await;
            let parent = match &old {
                Some(sha) => Some(sha.clone()),
                None => git::branch_sha(&bare, &default).await,
            };
            let files: Vec<(String, String)> = files
                .iter()
                .map(|(p, c)| ((*p).to_owned(), (*c).to_owned()))
                .collect();
            let email = format!("{}@users.noreply.github.com", by.0);
            let commit =
                git::commit_files(&bare, parent.as_deref(), &files, message, (&by.0, &email))
                    .await?;
            git::update_ref(
                &bare,
                &format!("refs/heads/{branch}"),
                &commit,
                old.as_deref(),
            )
            .await?;
            (commit, old)
        };
        push::on_push(
            self,
            repo,
            vec![(branch.to_owned(), commit.1, Some(commit.0.clone()))],
            by,
        )
        .await;
        Ok(CommitSha(commit.0))
    }

    /// `by` merges the default branch into `branch` by hand and pushes the merge, as a
    /// person resolving a conflict does: the merge's parents are the branch and the
    /// default branch, its tree the default branch's with `files` written over it (the
    /// branch's own changes, conflicts resolved).
    pub async fn push_merge(
        &self,
        repo: &RepoName,
        branch: &str,
        files: &[(&str, &str)],
        by: &Login,
    ) -> anyhow::Result<CommitSha> {
        let bare = self.repo_path(repo);
        let default = self
            .world()
            .repo(repo)
            .map(|r| r.default_branch.clone())
            .context("no such repository")?;
        let (merge, old) = {
            let _guard = self.0.git_lock.lock().await;
            let old = git::branch_sha(&bare, branch)
                .await
                .context("no such branch")?;
            let base = git::branch_sha(&bare, &default)
                .await
                .context("no default branch")?;
            let files: Vec<(String, String)> = files
                .iter()
                .map(|(p, c)| ((*p).to_owned(), (*c).to_owned()))
                .collect();
            let email = format!("{}@users.noreply.github.com", by.0);
            let message = format!("Merge branch '{default}' into {branch}");
            let resolved =
                git::commit_files(&bare, Some(&base), &files, &message, (&by.0, &email)).await?;
            let tree = git::commit_info(&bare, &resolved)
                .await
                .context("the resolved commit")?
                .tree;
            let merge = git::commit_tree(
                &bare,
                &tree,
                &[&old, &base],
                &message,
                (&by.0, &email),
                (&by.0, &email),
            )
            .await?;
            git::update_ref(&bare, &format!("refs/heads/{branch}"), &merge, Some(&old)).await?;
            (merge, old)
        };
        push::on_push(
            self,
            repo,
            vec![(branch.to_owned(), Some(old), Some(merge.clone()))],
            by,
        )
        .await;
        Ok(CommitSha(merge))
    }

    /// An admin changes the protection of `branch` (`None` removes it).
    pub fn set_protection(
        &self,
        repo: &RepoName,
        branch: &str,
        rules: Option<Protection>,
    ) -> anyhow::Result<()> {
        protection::set_protection(self, repo, branch, rules).map_err(api)
    }

    /// An admin adds a repository ruleset (its `id` is assigned here and returned).
    pub fn add_ruleset(&self, repo: &RepoName, mut ruleset: Ruleset) -> anyhow::Result<u64> {
        let id = {
            let mut world = self.world();
            let id = world.id();
            let r = world.repos.get_mut(repo).context("no such repository")?;
            ruleset.id = id;
            r.rulesets.push(ruleset);
            id
        };
        self.kick_auto_merge();
        Ok(id)
    }

    /// The App's owner grants (`Some`) or withdraws (`None`) one permission, and the
    /// installations accept it: e.g. `administration` for classic branch protection, or
    /// `workflows` for pushes that touch `.github/workflows/`.
    pub fn set_app_permission(
        &self,
        app: AppId,
        permission: &str,
        access: Option<Access>,
    ) -> anyhow::Result<()> {
        let mut world = self.world();
        let app = world.apps.get_mut(&app).context("no such App")?;
        match access {
            Some(access) => app.permissions.insert(permission.to_owned(), access),
            None => app.permissions.remove(permission),
        };
        Ok(())
    }

    /// Arms an API fault.
    pub fn inject_fault(&self, fault: Fault) {
        self.world().faults.armed.push(fault);
    }

    /// Makes every later API call fail at random as `chaos` says (armed faults still
    /// come first); `None` ends it.
    pub fn set_chaos(&self, chaos: Option<Chaos>) {
        self.world().faults.set_chaos(chaos);
    }

    /// The most content-creating API calls (REST methods but GET and HEAD, GraphQL
    /// mutations) that arrived within any `window`: what GitHub's per-minute secondary
    /// limit is measured on.
    pub fn most_writes_within(&self, window: chrono::Duration) -> usize {
        self.world().faults.most_writes_within(window, |_| true)
    }

    /// The most content-creating API calls one installation's tokens made within any
    /// `window`: what Flotilla's per-installation write budget holds.
    pub fn most_installation_writes_within(
        &self,
        installation: InstallationId,
        window: chrono::Duration,
    ) -> usize {
        self.world()
            .faults
            .most_writes_within(window, |call| call.installation == Some(installation))
    }

    /// Arms a fault for the next push to `repo`.
    pub fn inject_push_fault(&self, repo: &RepoName, fault: PushFault) {
        self.world().faults.push.insert(repo.clone(), fault);
    }

    /// `by` clicks "Re-run" on a check run.
    pub fn rerequest_check_run(&self, repo: &RepoName, id: u64, by: &Login) -> anyhow::Result<()> {
        checks::rerequest_run(self, repo, id, by).map_err(api)
    }

    /// `by` clicks the action button `identifier` on a check run.
    pub fn request_check_run_action(
        &self,
        repo: &RepoName,
        id: u64,
        identifier: &str,
        by: &Login,
    ) -> anyhow::Result<()> {
        checks::request_action(self, repo, id, identifier, by).map_err(api)
    }
}
