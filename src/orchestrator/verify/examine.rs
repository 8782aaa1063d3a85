//! Examining one head: fetched by sha into the verification store, its change taken
//! from there, the build and static gates run, and every lens not carried over asked at
//! once on a read-only checkout.

use std::collections::HashMap;

use futures_util::future::join_all;
use tracing::Instrument;

use crate::agent::Role;
use crate::config::{Lens, ScopeMode};
use crate::orchestrator::FleetHandlers;
use crate::orchestrator::budget::{Allowance, Spender};
use crate::orchestrator::carry::{Carried, carried_over};
use crate::orchestrator::context::TaskContext;
use crate::review::Given;
use crate::review::diff::Diff;
use crate::review::gates::{GateSettings, static_gates};
use crate::review::prompt::{ReviewBrief, reviewer_prompt};
use crate::review::verify_files::{self, VerifyFile};
use crate::types::CommitSha;
use crate::workspace::{GitAuth, VerifyStore};

use super::lens::{LensAnswer, LensJob};
use super::separate::SeparateRuns;
use super::{Change, Findings, LensFinding, StoppedByBudget};

/// How many rounds of base files are read to resolve what `verify.commands` run (each
/// round follows one more file: a makefile whose recipe runs `npm test`, …).
const VERIFY_FILE_ROUNDS: usize = 4;

impl FleetHandlers {
    /// Runs the gates and the lenses on `head`, fetched by sha into the verification
    /// store; a lens whose verdict on the same change can be carried over is not run.
    pub(super) async fn examine(
        &self,
        cx: &TaskContext<'_>,
        head: &CommitSha,
    ) -> anyhow::Result<Findings> {
        let run = cx.run;
        let auth = GitAuth::new(cx.client.token().await?);
        let store = VerifyStore::open(&self.fleet.config.data_dir, &run.spec.repo)?;
        let lock = self.fleet.mirror_lock(&run.spec.repo);
        let (change, earlier) = {
            let _git = lock.lock().await;
            store
                .fetch(&run.spec.clone_url, &auth, head, &run.spec.default_branch)
                .await?;
            let base = store.merge_base(&run.spec.default_branch, head).await?;
            let diff_text = store.diff(&base, head).await?;
            let diff_stat = store.diff_stat(&base, head).await?;
            let patch_id = store.patch_id(&diff_text).await?;
            let earlier = store
                .base_merged_into(head, &run.spec.default_branch)
                .await?;
            let change = Change {
                head: head.clone(),
                base,
                diff_text,
                diff_stat,
                patch_id,
            };
            (change, earlier)
        };
        let carried = carried_over(
            &self.store,
            cx.task.id,
            cx.config,
            head,
            earlier.as_ref(),
            change.patch_id.as_ref(),
        )
        .await?;
        self.examine_in(cx, &store, &change, carried).await
    }

    /// The gates and lenses: the build on a checkout of its own, the static gates on
    /// the diff, the lenses not `carried` over on another checkout.
    async fn examine_in(
        &self,
        cx: &TaskContext<'_>,
        store: &VerifyStore,
        change: &Change,
        mut carried: Carried,
    ) -> anyhow::Result<Findings> {
        let TaskContext {
            run, task, config, ..
        } = *cx;
        let Change {
            head,
            base,
            diff_text,
            diff_stat,
            patch_id,
        } = change;
        let diff = Diff::parse(diff_text);
        let checkout_name = format!("{}-verify-{}", task.id, head.abbreviated(12));
        let verify_files = files_run_by(store, base, &config.verify.commands).await?;
        let settings = GateSettings {
            protected_paths: config.verify.protected_paths.clone(),
            declared_paths: task.paths.clone(),
            scope_fails: config.verify.scope == ScopeMode::Fail,
            max_changed_lines: config.verify.max_changed_lines,
            verify_files,
        };
        let build = store
            .checkout(&format!("{checkout_name}-build"), head, base)
            .await?;
        let built = self.build_gate(task, head, config, build.dir()).await;
        build.remove().await?;
        let mut gates = vec![built?];
        gates.extend(static_gates(&diff, &settings));
        let brief = ReviewBrief {
            lens: "",
            task_title: &task.title,
            task_instructions: &task.instructions,
            declared_paths: &task.paths,
            head_sha: &head.0,
            base_sha: &base.0,
            diff_stat,
            gates: &gates,
        };
        let to_run: Vec<&Lens> = config
            .reviewers
            .iter()
            .filter(|lens| !carried.contains_key(&lens.name))
            .collect();
        if to_run.len() < config.reviewers.len() {
            tracing::info!(
                carried = config.reviewers.len() - to_run.len(),
                "lens verdicts carried over: this head only merged a newer base into a change \
                 they judged"
            );
        }
        let spender = Spender {
            run,
            task: Some(task.id),
            role: Role::Reviewer,
            lens: None,
            attempt: None,
            head: Some(head),
        };
        let cap = if to_run.is_empty() {
            None
        } else {
            let lens_count = u64::try_from(to_run.len()).unwrap_or(u64::MAX);
            match self.allowance(&spender, lens_count).await? {
                Allowance::Granted(cap) => cap,
                Allowance::Refused(reason) => return Err(StoppedByBudget(reason).into()),
            }
        };
        let review = if to_run.is_empty() {
            None
        } else {
            Some(
                store
                    .checkout(&format!("{checkout_name}-review"), head, base)
                    .await?,
            )
        };
        let reviews = to_run
            .iter()
            .zip(review.iter().cycle())
            .map(|(lens, review)| {
                let brief = ReviewBrief {
                    lens: &lens.name,
                    ..brief
                };
                let span = tracing::info_span!("lens", lens = %lens.name, repo = %run.spec.repo);
                let job = LensJob {
                    lens,
                    tree: review.dir(),
                    limits: config.sandbox,
                    prompt: reviewer_prompt(&brief),
                    cap: cap.clone(),
                    spender: Spender {
                        lens: Some(&lens.name),
                        ..spender
                    },
                    runs: SeparateRuns {
                        store,
                        head,
                        base,
                        time_limit: config.verify.time_limit,
                        limits: config.sandbox,
                    },
                };
                self.review_with(task, job).instrument(span)
            });
        let mut answers: HashMap<String, anyhow::Result<LensAnswer>> = to_run
            .iter()
            .map(|lens| lens.name.clone())
            .zip(join_all(reviews).await)
            .collect();
        if let Some(review) = review {
            review.remove().await?;
        }
        let mut lenses = Vec::new();
        let mut stopped = None;
        for lens in &config.reviewers {
            let finding = match (carried.remove(&lens.name), answers.remove(&lens.name)) {
                (Some((verdict, from)), _) => LensFinding {
                    lens: lens.clone(),
                    verdict,
                    given: Given::CarriedFrom(from),
                    transcript: String::new(),
                },
                (None, Some(answer)) => match answer? {
                    LensAnswer::Verdict(verdict, transcript) => LensFinding {
                        lens: lens.clone(),
                        verdict,
                        given: Given::Here,
                        transcript,
                    },
                    LensAnswer::StoppedByBudget(reason) => {
                        stopped = Some(reason);
                        continue;
                    }
                },
                (None, None) => {
                    anyhow::bail!("the {} lens neither ran nor was carried over", lens.name)
                }
            };
            lenses.push(finding);
        }
        if let Some(reason) = stopped {
            return Err(StoppedByBudget(reason).into());
        }
        Ok(Findings {
            gates,
            lenses,
            diff,
            patch_id: patch_id.clone(),
        })
    }
}

/// The files `commands` run, as the **base** commit defines them: the change under
/// verification cannot redefine what its build commands run (a `package.json` script
/// the worker rewrote is read as it was before).
async fn files_run_by(
    store: &VerifyStore,
    base: &CommitSha,
    commands: &[String],
) -> anyhow::Result<Vec<VerifyFile>> {
    let mut known = HashMap::new();
    for _ in 0..VERIFY_FILE_ROUNDS {
        let wanted = verify_files::wanted(commands, &known);
        if wanted.is_empty() {
            break;
        }
        for path in wanted {
            let text = store.file_at(base, &path).await?;
            known.insert(path, text);
        }
    }
    Ok(verify_files::resolve(commands, |path| {
        known.get(path).cloned().flatten()
    }))
}
