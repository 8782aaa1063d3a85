//! Carrying lens verdicts over a base-only update: after a sibling merged, a pull
//! request is brought up to the new base, and its new head carries the very change the
//! lenses already judged. Running every lens again on it would pay twice for the same
//! judgement (N tasks, up to N(N−1)/2 extra verifications).
//!
//! A lens's verdict is carried over only when the verification store shows that the
//! new head is exactly a clean merge of a commit of the base branch into an earlier
//! head (`VerifyStore::base_merged_into`), and the change the lens judged on that
//! earlier head has the patch-id of the new head's change. Upheld and refuted verdicts
//! alike: an unrelated base does not change the judgement of an unchanged change
//! either way, and running a lens again on a change it refuted would give that change
//! a second throw of the dice merely because the base moved. A lens with
//! `rerun_on_base_change` always runs again; so does every lens on a head that already
//! has lens verdicts of its own (a person asked to verify it again). The gates and CI
//! always run on the new head; nothing here decides them.

use std::collections::HashMap;

use crate::config::RepoConfig;
use crate::review::Verdict;
use crate::store::{PatchId, Store, TaskId, VerdictSource};
use crate::types::CommitSha;

/// Per lens name, the verdict carried over and the head the lens was run on.
pub(super) type Carried = HashMap<String, (Verdict, CommitSha)>;

/// The lens verdicts `head` of a task inherits from `earlier`, the head it merged a
/// newer base into (none when it is not such a merge), for the change `patch`.
pub(super) async fn carried_over(
    store: &Store,
    task: TaskId,
    config: &RepoConfig,
    head: &CommitSha,
    earlier: Option<&CommitSha>,
    patch: Option<&PatchId>,
) -> anyhow::Result<Carried> {
    let (Some(earlier), Some(patch)) = (earlier, patch) else {
        return Ok(Carried::new());
    };
    if store
        .verdicts(task, head)
        .await?
        .iter()
        .any(|v| v.kind == VerdictSource::Lens)
    {
        tracing::info!(%head, "this head was verified before; every lens runs again");
        return Ok(Carried::new());
    }
    let judged = store.verdicts(task, earlier).await?;
    let mut carried = Carried::new();
    for lens in &config.reviewers {
        if lens.agent.rerun_on_base_change {
            continue;
        }
        let Some(record) = judged
            .iter()
            .find(|v| v.kind == VerdictSource::Lens && v.name == lens.name && v.judged(patch))
        else {
            continue;
        };
        match serde_json::from_str::<Verdict>(&record.detail) {
            Ok(verdict) => {
                let from = record.carried_from().unwrap_or_else(|| earlier.clone());
                carried.insert(lens.name.clone(), (verdict, from));
            }
            Err(error) => {
                tracing::warn!(lens = %lens.name, %error, "a stored verdict is unreadable; the lens runs again");
            }
        }
    }
    Ok(carried)
}
