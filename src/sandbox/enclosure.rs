//! One attempt's enclosure while it runs: the command that starts it, the control
//! group and egress proxy that hold it, the watch on its limits, and the teardown that
//! leaves nothing of it behind.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

use super::{LimitBreach, ResourceLimits, cgroup, egress, limits};

/// How often a running attempt's limits are looked at.
const WATCH_EVERY: Duration = Duration::from_millis(250);
/// How often the tree's size is measured (a walk of the whole tree).
const MEASURE_TREE_EVERY: Duration = Duration::from_secs(2);

/// One attempt's sandbox while it runs: the command to spawn, and what is torn down
/// when it ends.
#[derive(Debug)]
pub struct Enclosure {
    pub(super) command: Command,
    /// bubblewrap's options, which its process reads at start; kept open until then.
    pub(super) options: Option<OwnedFd>,
    pub(super) cgroup: Option<cgroup::Attempt>,
    pub(super) entry: Option<cgroup::Entry>,
    pub(super) proxy: Option<egress::EgressProxy>,
    pub(super) tree: PathBuf,
    pub(super) tree_base: u64,
    pub(super) limits: ResourceLimits,
    pub(super) confined: bool,
}

/// What an attempt's sandbox saw by the time it was torn down.
#[derive(Debug, Default)]
pub struct Finished {
    /// The limit the kernel enforced, if one was hit.
    pub breach: Option<LimitBreach>,
    /// Connections the egress proxy refused (`target: reason`).
    pub refused: Vec<String>,
}

impl Enclosure {
    pub(super) fn bare(command: Command, tree: &Path, limits: ResourceLimits) -> Self {
        Self {
            command,
            options: None,
            cgroup: None,
            entry: None,
            proxy: None,
            tree: tree.to_owned(),
            tree_base: 0,
            limits,
            confined: false,
        }
    }

    /// The command that starts the attempt; the caller sets stdio, then calls
    /// [`Enclosure::spawn`].
    pub fn command(&mut self) -> &mut Command {
        &mut self.command
    }

    /// Starts the attempt, then closes Flotilla's copy of bubblewrap's options (the
    /// child has its own, and reads it at once).
    pub fn spawn(&mut self) -> std::io::Result<tokio::process::Child> {
        let child = self.command.spawn();
        drop(self.options.take());
        child
    }

    /// Resolves when the attempt breaks a limit: the kernel refused a fork or killed
    /// a process for memory, or the tree grew past the disk limit. Never resolves for
    /// an unconfined attempt.
    pub async fn watch(&self) -> LimitBreach {
        if !self.confined {
            return std::future::pending().await;
        }
        let mut since_measure = Duration::ZERO;
        loop {
            tokio::time::sleep(WATCH_EVERY).await;
            if let Some(breach) = self.cgroup.as_ref().and_then(|c| c.breach(&self.limits)) {
                return breach;
            }
            since_measure += WATCH_EVERY;
            if since_measure >= MEASURE_TREE_EVERY {
                since_measure = Duration::ZERO;
                let tree = self.tree.clone();
                let bytes = tokio::task::spawn_blocking(move || limits::tree_bytes(&tree))
                    .await
                    .unwrap_or(0);
                if bytes.saturating_sub(self.tree_base) > self.limits.disk {
                    return LimitBreach::Disk {
                        limit: self.limits.disk,
                    };
                }
            }
        }
    }

    /// Kills whatever is left of the attempt, removes its control group and stops its
    /// egress proxy; reports what the kernel and the proxy saw.
    pub async fn finish(mut self) -> Finished {
        drop(self.entry.take());
        let breach = self.cgroup.as_ref().and_then(|c| c.breach(&self.limits));
        if let Some(cgroup) = self.cgroup.take() {
            cgroup.kill_and_remove().await;
        }
        let refused = self
            .proxy
            .take()
            .map(|proxy| {
                proxy
                    .refused()
                    .into_iter()
                    .map(|r| format!("{}: {}", r.target, r.reason))
                    .collect()
            })
            .unwrap_or_default();
        Finished { breach, refused }
    }
}
