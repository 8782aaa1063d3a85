//! Control groups for attempts: the kernel-enforced memory and process limits, the
//! record of which limit was hit, and a kill that reaches every process an attempt
//! started, however it detached itself (`setsid`, double fork).
//!
//! Threat: fork bombs and memory hogs, and processes that outlive their attempt. Every
//! attempt gets its own group under `flotilla-<instance>` inside the group Flotilla
//! itself runs in (so the host's own limits on Flotilla still hold), entered by the
//! sandbox's first process before it executes anything. Both the unified hierarchy (v2)
//! and the legacy one (v1, `memory` and `pids` controllers, as on these machines) are
//! supported; where neither is writable, rlimits stand in (see `super::enclose`).

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use super::limits::ResourceLimits;

/// How long a kill waits for a group to empty before giving up (and logging).
const KILL_WAIT: Duration = Duration::from_secs(5);

/// Where this Flotilla instance may create attempt groups.
#[derive(Clone, Debug)]
pub(crate) enum CgroupRoot {
    /// One unified hierarchy with the `memory` and `pids` controllers.
    V2 {
        /// `…/flotilla-<instance>`.
        dir: PathBuf,
    },
    /// The legacy hierarchies, one directory per controller.
    V1 {
        /// `<memory mount>/<own group>/flotilla-<instance>`.
        memory: PathBuf,
        /// `<pids mount>/<own group>/flotilla-<instance>`.
        pids: PathBuf,
    },
}

impl CgroupRoot {
    /// The instance's parent group, created if needed, or `None` where this process
    /// cannot create groups with both controllers. `instance` names this Flotilla (its
    /// data dir), so several processes on one machine never reap each other's agents.
    pub(crate) fn detect(instance: &str) -> Option<Self> {
        let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        let name = format!("flotilla-{instance}");
        let v1 = |controller: &str| -> Option<PathBuf> {
            let line = own.lines().find(|line| {
                line.split(':')
                    .nth(1)
                    .is_some_and(|list| list.split(',').any(|c| c == controller))
            })?;
            let path = line.splitn(3, ':').nth(2)?;
            let mount = Path::new("/sys/fs/cgroup").join(controller);
            let base = mount.join(path.trim_start_matches('/'));
            let base = if base.is_dir() { base } else { mount };
            Some(base.join(&name))
        };
        if let (Some(memory), Some(pids)) = (v1("memory"), v1("pids"))
            && std::fs::create_dir_all(&memory).is_ok()
            && std::fs::create_dir_all(&pids).is_ok()
            && memory.join("memory.limit_in_bytes").exists()
            && pids.join("pids.max").exists()
        {
            return Some(CgroupRoot::V1 { memory, pids });
        }
        let unified = own.lines().find_map(|line| line.strip_prefix("0::"))?;
        let mount = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
            .into_iter()
            .map(Path::new)
            .find(|mount| mount.join("cgroup.controllers").exists())?;
        let base = mount.join(unified.trim_start_matches('/'));
        let controllers = std::fs::read_to_string(base.join("cgroup.controllers")).ok()?;
        let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
        if !has("memory") || !has("pids") {
            return None;
        }
        let dir = base.join(&name);
        std::fs::create_dir_all(&dir).ok()?;
        // Processes may not live in an inner node with controllers enabled: attempts
        // are leaves below `dir`, which only delegates.
        std::fs::write(dir.join("cgroup.subtree_control"), "+memory +pids").ok()?;
        Some(CgroupRoot::V2 { dir })
    }

    /// Creates the group of one attempt with `limits` set.
    pub(crate) fn attempt(&self, name: &str, limits: &ResourceLimits) -> anyhow::Result<Attempt> {
        let attempt = match self {
            CgroupRoot::V2 { dir } => {
                let dir = dir.join(name);
                create(&dir)?;
                write(&dir, "memory.max", &limits.memory.to_string())?;
                // Swap would let a hog dodge the limit; not every kernel offers the knob.
                let _ = write(&dir, "memory.swap.max", "0");
                write(&dir, "pids.max", &limits.processes.to_string())?;
                Attempt {
                    dirs: vec![dir],
                    v2: true,
                }
            }
            CgroupRoot::V1 { memory, pids } => {
                let memory = memory.join(name);
                let pids = pids.join(name);
                create(&memory)?;
                create(&pids)?;
                let attempt = Attempt {
                    dirs: vec![memory.clone(), pids.clone()],
                    v2: false,
                };
                write(&memory, "memory.limit_in_bytes", &limits.memory.to_string())?;
                if memory.join("memory.memsw.limit_in_bytes").exists() {
                    write(
                        &memory,
                        "memory.memsw.limit_in_bytes",
                        &limits.memory.to_string(),
                    )?;
                }
                write(&pids, "pids.max", &limits.processes.to_string())?;
                attempt
            }
        };
        Ok(attempt)
    }

    /// Kills and removes every attempt group left under this instance: after a crash
    /// (`kill -9` of Flotilla), nothing an earlier process started keeps running.
    /// Returns how many groups held live processes.
    pub(crate) async fn reap(&self) -> usize {
        let parents: Vec<&PathBuf> = match self {
            CgroupRoot::V2 { dir } => vec![dir],
            CgroupRoot::V1 { memory, pids } => vec![memory, pids],
        };
        let mut leftovers = 0;
        let mut seen = Vec::new();
        for parent in parents {
            let Ok(entries) = std::fs::read_dir(parent) else {
                continue;
            };
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    let dir = entry.path();
                    if !pids_of(&dir).is_empty() {
                        leftovers += 1;
                    }
                    seen.push(dir);
                }
            }
        }
        let v2 = matches!(self, CgroupRoot::V2 { .. });
        Attempt { dirs: seen, v2 }.kill_and_remove().await;
        leftovers
    }
}

impl CgroupRoot {
    /// Removes the instance's parent groups when no attempt group is left in them (a
    /// group with children stays; the next start reaps and reuses it).
    pub(crate) fn remove_if_empty(&self) {
        let dirs: Vec<&PathBuf> = match self {
            CgroupRoot::V2 { dir } => vec![dir],
            CgroupRoot::V1 { memory, pids } => vec![memory, pids],
        };
        for dir in dirs {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// One attempt's group (one directory per hierarchy in v1).
#[derive(Debug)]
pub(crate) struct Attempt {
    dirs: Vec<PathBuf>,
    v2: bool,
}

impl Attempt {
    /// Opens the files through which the first process of the sandbox moves itself in
    /// (before `exec`, see [`Entry::enter`]).
    pub(crate) fn entry(&self) -> anyhow::Result<Entry> {
        let files = self
            .dirs
            .iter()
            .map(|dir| {
                let path = dir.join("cgroup.procs");
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .with_context(|| format!("opening {}", path.display()))
            })
            .collect::<anyhow::Result<Vec<File>>>()?;
        Ok(Entry { files })
    }

    /// Which limit the kernel enforced during the run, if any.
    pub(crate) fn breach(&self, limits: &ResourceLimits) -> Option<super::LimitBreach> {
        let counter = |file: &str, key: &str| -> u64 {
            self.dirs
                .iter()
                .filter_map(|dir| std::fs::read_to_string(dir.join(file)).ok())
                .flat_map(|text| {
                    text.lines()
                        .filter_map(|line| line.strip_prefix(key))
                        .filter_map(|rest| rest.trim().parse::<u64>().ok())
                        .collect::<Vec<_>>()
                })
                .sum()
        };
        let events = if self.v2 {
            "memory.events"
        } else {
            "memory.oom_control"
        };
        let oom = counter(events, "oom_kill ");
        if oom > 0 {
            return Some(super::LimitBreach::Memory {
                limit: limits.memory,
            });
        }
        if counter("pids.events", "max ") > 0 {
            return Some(super::LimitBreach::Processes {
                limit: limits.processes,
            });
        }
        None
    }

    /// Kills every process in the group, waits for it to empty and removes it.
    pub(crate) async fn kill_and_remove(self) {
        if self.v2 {
            for dir in &self.dirs {
                let _ = std::fs::write(dir.join("cgroup.kill"), "1");
            }
        }
        let deadline = tokio::time::Instant::now() + KILL_WAIT;
        loop {
            let mut alive = false;
            for dir in &self.dirs {
                for pid in pids_of(dir) {
                    alive = true;
                    // SAFETY: kill only sends a signal; the pid was read from the
                    // attempt's own group, which holds nothing but its processes.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
            if !alive {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::error!(groups = ?self.dirs, "attempt processes survived SIGKILL");
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for dir in &self.dirs {
            // Emptied groups can be removed; a kernel still tearing processes down
            // answers EBUSY for a moment.
            for _ in 0..50 {
                match std::fs::remove_dir(dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
        }
    }
}

impl Drop for Attempt {
    /// An attempt abandoned without [`Attempt::kill_and_remove`] (its run was
    /// cancelled) still leaves nothing running; a group the kernel is still emptying is
    /// removed by the next start-up's reap.
    fn drop(&mut self) {
        for dir in &self.dirs {
            for pid in pids_of(dir) {
                // SAFETY: kill only sends a signal to a process of this attempt's group.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// The open `cgroup.procs` files of an attempt, written by the sandbox's first process
/// itself so that nothing it starts can run outside the group, not even briefly.
#[derive(Debug)]
pub(crate) struct Entry {
    files: Vec<File>,
}

impl Entry {
    /// The raw descriptors, for the child side of `fork`.
    pub(crate) fn fds(&self) -> Vec<RawFd> {
        self.files.iter().map(AsRawFd::as_raw_fd).collect()
    }

    /// Moves the calling process into the groups. Runs between `fork` and `exec`, so
    /// only async-signal-safe calls: `write` of "0" (the caller itself).
    pub(crate) fn enter(fds: &[RawFd]) -> std::io::Result<()> {
        for &fd in fds {
            // SAFETY: write(2) on a descriptor opened by the parent; async-signal-safe.
            let written = unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) };
            if written != 1 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

fn create(dir: &Path) -> anyhow::Result<()> {
    match std::fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating control group {}", dir.display())),
    }
}

fn write(dir: &Path, file: &str, value: &str) -> anyhow::Result<()> {
    let path = dir.join(file);
    let mut handle = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    handle
        .write_all(value.as_bytes())
        .with_context(|| format!("writing {value} to {}", path.display()))
}

fn pids_of(dir: &Path) -> Vec<libc::pid_t> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.trim().parse().ok())
        .filter(|&pid: &libc::pid_t| pid > 1)
        .collect()
}
