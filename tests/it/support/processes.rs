//! Looking at the host's processes from outside every sandbox: which of them are still
//! running, and what their command lines and environments hold.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// Live (not zombie) processes on the host whose command line holds `marker`. An agent's
/// pids are those of its own PID namespace, so tests find its processes by a marker in
/// their arguments instead.
pub fn running_with(marker: &str) -> Vec<String> {
    processes()
        .filter(|pid| {
            let stat = std::fs::read_to_string(pid.join("stat")).unwrap_or_default();
            let zombie = stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
            !zombie && read_lossy(&pid.join("cmdline")).contains(marker)
        })
        .filter_map(|pid| pid.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect()
}

/// A thread that reads every process's `cmdline` and `environ` in a loop until stopped,
/// looking for strings no process but Flotilla itself may hold: tokens, `Authorization`
/// headers, the webhook secret.
pub struct ProcScanner {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Scan>,
}

/// What a [`ProcScanner`] saw.
#[derive(Debug, Default)]
pub struct Scan {
    /// `(command line, needle)` for every process that held a needle (the command
    /// line cut to 120 characters).
    pub hits: BTreeSet<(String, String)>,
    /// Command lines seen (first word and subcommand), to show the scan saw the work.
    pub seen: BTreeSet<String>,
    /// How many passes over `/proc` it made.
    pub passes: usize,
}

impl ProcScanner {
    /// Starts scanning for `needles`, skipping the processes whose command line starts
    /// with one of `trusted` (Flotilla itself holds its own settings) and this test
    /// process.
    pub fn start(needles: Vec<String>, trusted: Vec<String>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let own = std::process::id().to_string();
        let thread = std::thread::spawn(move || {
            let mut scan = Scan::default();
            while !stopping.load(Ordering::Relaxed) {
                for pid in processes() {
                    if pid.file_name().is_some_and(|n| n == own.as_str()) {
                        continue;
                    }
                    let cmdline = read_lossy(&pid.join("cmdline"));
                    if cmdline.is_empty() || trusted.iter().any(|t| cmdline.starts_with(t)) {
                        continue;
                    }
                    let words: Vec<&str> = cmdline.split('\0').take(2).collect();
                    scan.seen.insert(words.join(" "));
                    let environ = read_lossy(&pid.join("environ"));
                    for needle in &needles {
                        if cmdline.contains(needle.as_str()) || environ.contains(needle.as_str()) {
                            let shown: String =
                                cmdline.replace('\0', " ").chars().take(120).collect();
                            scan.hits.insert((shown, needle.clone()));
                        }
                    }
                }
                scan.passes += 1;
            }
            scan
        });
        Self { stop, thread }
    }

    /// Stops the scan and returns what it saw.
    pub fn finish(self) -> Scan {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the scanner thread finishes")
    }
}

fn processes() -> impl Iterator<Item = std::path::PathBuf> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().parse::<u32>().is_ok())
        .map(|entry| entry.path())
}

fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}
