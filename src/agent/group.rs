//! The process group an agent runs in, and how it is stopped as a whole.
//!
//! Every agent is started as the leader of its own process group, so whatever it spawns
//! (test runners, language servers, `sleep 1000 &`) can be signalled with it. This module
//! owns signalling that group and confirming it is empty; it must never signal a group
//! it did not create (nor pid 0 or 1, which would mean Flotilla's own group or init).

use std::time::Duration;

use tokio::time::Instant;

/// How often the group is polled while waiting for it to empty.
const POLL: Duration = Duration::from_millis(20);
/// How long to wait for the kernel to finish off a group after `SIGKILL`.
const AFTER_KILL: Duration = Duration::from_secs(5);

/// A process group created for one agent, identified by its leader's pid.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ProcessGroup {
    pgid: libc::pid_t,
}

impl ProcessGroup {
    /// The group led by `pid`, or `None` for a pid that cannot lead an agent's group.
    pub(crate) fn led_by(pid: u32) -> Option<Self> {
        libc::pid_t::try_from(pid)
            .ok()
            .filter(|&pgid| pgid > 1)
            .map(|pgid| Self { pgid })
    }

    /// Sends `signal` to every process in the group.
    pub(crate) fn signal(self, signal: libc::c_int) {
        // SAFETY: killpg only sends a signal; `pgid > 1` is checked at construction, so
        // this never targets Flotilla's own group (0) or init.
        let rc = unsafe { libc::killpg(self.pgid, signal) };
        if rc != 0 {
            let error = std::io::Error::last_os_error();
            if error.raw_os_error() != Some(libc::ESRCH) {
                tracing::warn!(pgid = self.pgid, signal, %error, "could not signal agent group");
            }
        }
    }

    /// Whether any live (not zombie) process remains in the group. Zombies are dead:
    /// they only wait for their parent (or init) to collect their status.
    pub(crate) fn is_alive(self) -> bool {
        // SAFETY: signal 0 only checks for existence and permission.
        if unsafe { libc::killpg(self.pgid, 0) } != 0 {
            return std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH);
        }
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return true;
        };
        entries.flatten().any(|entry| {
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            live_member(&stat, self.pgid)
        })
    }

    /// Stops the whole group: `SIGTERM`, up to `grace` for it to exit, then `SIGKILL`.
    /// Returns whether `SIGKILL` was needed.
    pub(crate) async fn shut_down(self, grace: Duration) -> bool {
        if !self.is_alive() {
            return false;
        }
        self.signal(libc::SIGTERM);
        if self.wait_empty(grace).await {
            return false;
        }
        self.signal(libc::SIGKILL);
        if !self.wait_empty(AFTER_KILL).await {
            tracing::error!(pgid = self.pgid, "agent group still alive after SIGKILL");
        }
        true
    }

    async fn wait_empty(self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if !self.is_alive() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// Whether a `/proc/<pid>/stat` line describes a live process of group `pgid`.
fn live_member(stat: &str, pgid: libc::pid_t) -> bool {
    // "pid (comm) state ppid pgrp ..."; comm may hold spaces and parentheses.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return false;
    };
    let mut fields = rest.split_whitespace();
    let state = fields.next();
    let pgrp = fields.nth(1).and_then(|f| f.parse::<libc::pid_t>().ok());
    pgrp == Some(pgid) && state != Some("Z") && state != Some("X")
}

/// Kills the group with `SIGKILL` if dropped while armed, so an agent whose run was
/// abandoned (the task was cancelled, Flotilla is shutting down) leaves nothing behind.
pub(crate) struct KillOnDrop {
    group: Option<ProcessGroup>,
}

impl KillOnDrop {
    /// Arms the guard for `group`.
    pub(crate) fn new(group: Option<ProcessGroup>) -> Self {
        Self { group }
    }

    /// The group has been shut down in order; nothing to do on drop.
    pub(crate) fn disarm(mut self) {
        self.group = None;
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(group) = self.group.take() {
            group.signal(libc::SIGKILL);
        }
    }
}
