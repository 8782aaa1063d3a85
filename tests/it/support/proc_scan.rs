//! A watcher that reads every process's `/proc/<pid>/cmdline` and `/proc/<pid>/environ`
//! in a tight loop on its own thread, as a local attacker would, and records which
//! process showed a secret. Processes that vanish mid-read, or whose environment
//! belongs to another user, are skipped.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;

/// Live (not zombie) processes on the host whose command line holds `marker`. An agent's
/// pids are those of its own PID namespace, so tests find its processes by a marker in
/// their arguments instead.
pub fn running_with(marker: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let zombie = stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            (!zombie && contains(&cmdline, marker.as_bytes())).then_some(pid)
        })
        .collect()
}

/// Something no process may show, and where to look for it.
pub struct Needle {
    /// How a finding names it (never the secret itself).
    pub label: &'static str,
    /// The bytes to look for.
    pub bytes: Vec<u8>,
    /// Look in every process on the machine (a value unique to this test), or only in
    /// the scenario's own processes (a string other tests may legitimately pass around).
    pub everywhere: bool,
}

impl Needle {
    /// A needle labelled `label`, looked for everywhere or only in the scenario.
    pub fn new(label: &'static str, text: &str, everywhere: bool) -> Self {
        Self {
            label,
            bytes: text.as_bytes().to_vec(),
            everywhere,
        }
    }
}

/// What the watcher saw.
#[derive(Debug, Default)]
pub struct ScanReport {
    /// One line per sighting (each once): pid, file, needle, and the process's program.
    pub leaks: BTreeSet<String>,
    /// Passes over `/proc`.
    pub passes: usize,
    /// Distinct git fetch (or clone) processes of the scenario seen alive.
    pub fetches: usize,
    /// Distinct git push processes of the scenario seen alive.
    pub pushes: usize,
}

impl ScanReport {
    /// Asserts no needle was readable in `/proc`, and that the watcher did catch git
    /// fetching and pushing: a scan that never saw git at work proves nothing.
    pub fn assert_clean_while_git_worked(&self) {
        assert!(
            self.leaks.is_empty(),
            "a secret was readable in /proc: {:#?}",
            self.leaks
        );
        assert!(
            self.fetches > 0 && self.pushes > 0,
            "the watcher never caught git fetching and pushing: {self:?}"
        );
    }
}

/// A running watcher; [`ProcScanner::stop`] ends it and returns its report.
pub struct ProcScanner {
    stop: Arc<AtomicBool>,
    pushes: Arc<AtomicUsize>,
    fetches: Arc<AtomicUsize>,
    thread: JoinHandle<ScanReport>,
}

impl ProcScanner {
    /// Starts watching for `needles`. A process belongs to the scenario when its
    /// working directory is under one of `scenario_dirs`, or its environment names one
    /// (as `git http-backend`'s `GIT_PROJECT_ROOT` does). Processes whose command line
    /// starts with one of `trusted` (Flotilla itself, which holds its own settings) are
    /// not looked at.
    pub fn start(needles: Vec<Needle>, scenario_dirs: Vec<PathBuf>, trusted: Vec<String>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let pushes = Arc::new(AtomicUsize::new(0));
        let fetches = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (stop, pushes, fetches) = (stop.clone(), pushes.clone(), fetches.clone());
            std::thread::spawn(move || {
                let mut report = ScanReport::default();
                let mut seen_push = HashSet::new();
                let mut seen_fetch = HashSet::new();
                while !stop.load(Ordering::Relaxed) {
                    scan_once(
                        &needles,
                        &scenario_dirs,
                        &trusted,
                        &mut report,
                        |pid, kind| {
                            let set = match kind {
                                GitKind::Push => &mut seen_push,
                                GitKind::Fetch => &mut seen_fetch,
                            };
                            set.insert(pid);
                        },
                    );
                    report.passes += 1;
                    pushes.store(seen_push.len(), Ordering::Relaxed);
                    fetches.store(seen_fetch.len(), Ordering::Relaxed);
                }
                report.pushes = seen_push.len();
                report.fetches = seen_fetch.len();
                report
            })
        };
        Self {
            stop,
            pushes,
            fetches,
            thread,
        }
    }

    /// Whether the watcher has caught at least one git fetch and one git push alive.
    pub fn saw_fetch_and_push(&self) -> bool {
        self.fetches.load(Ordering::Relaxed) > 0 && self.pushes.load(Ordering::Relaxed) > 0
    }

    /// Stops the watcher and returns what it saw.
    pub fn stop(self) -> ScanReport {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .expect("the /proc watcher does not panic")
    }
}

/// Which authenticated git command a process is running.
enum GitKind {
    Fetch,
    Push,
}

/// One pass over `/proc`.
fn scan_once(
    needles: &[Needle],
    scenario_dirs: &[PathBuf],
    trusted: &[String],
    report: &mut ScanReport,
    mut saw_git: impl FnMut(u32, GitKind),
) {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let dir = entry.path();
        // Either file may be gone (the process exited) or unreadable (another user's
        // environment): whatever could be read is checked.
        let cmdline = std::fs::read(dir.join("cmdline")).unwrap_or_default();
        if trusted.iter().any(|t| cmdline.starts_with(t.as_bytes())) {
            continue;
        }
        let environ = std::fs::read(dir.join("environ")).unwrap_or_default();
        let in_scenario = std::fs::read_link(dir.join("cwd"))
            .is_ok_and(|cwd| scenario_dirs.iter().any(|d| cwd.starts_with(d)))
            || scenario_dirs
                .iter()
                .any(|d| contains(&environ, d.as_os_str().as_encoded_bytes()));
        for needle in needles.iter().filter(|n| n.everywhere || in_scenario) {
            for (file, bytes) in [("cmdline", &cmdline), ("environ", &environ)] {
                if contains(bytes, &needle.bytes) {
                    report.leaks.insert(format!(
                        "pid {pid} ({}): {} in its {file}",
                        program(&cmdline),
                        needle.label
                    ));
                }
            }
        }
        if in_scenario && let Some(kind) = git_kind(&cmdline) {
            saw_git(pid, kind);
        }
    }
}

/// The authenticated git command `cmdline` runs, if it is `git … fetch|clone|push …`.
fn git_kind(cmdline: &[u8]) -> Option<GitKind> {
    let mut args = cmdline.split(|&b| b == 0).filter(|a| !a.is_empty());
    let program = args.next()?;
    if Path::new(std::str::from_utf8(program).ok()?).file_name()? != "git" {
        return None;
    }
    args.find_map(|arg| match arg {
        b"push" => Some(GitKind::Push),
        b"fetch" | b"clone" => Some(GitKind::Fetch),
        _ => None,
    })
}

/// The program a cmdline runs, for a finding's message.
fn program(cmdline: &[u8]) -> String {
    let first = cmdline.split(|&b| b == 0).next().unwrap_or_default();
    String::from_utf8_lossy(first).into_owned()
}

/// Whether `haystack` contains `needle`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
