//! The sandbox every process that runs code Flotilla did not write goes through:
//! workers, planners, reviewer lenses, `verify.commands`, and whatever they start.
//!
//! Threat: a prompt-injected agent is a hostile local program. Without this module it
//! runs as Flotilla's own user and can read Flotilla's environment through `/proc`, the
//! App's private key, the database and every other task's tree, reach GitHub with
//! stolen tokens, and leave processes running. With it (bubblewrap, the default), an
//! attempt sees the system read-only, its own tree, a private `HOME` and `TMPDIR`; runs
//! unprivileged with no capabilities in its own user, PID, network, IPC and UTS
//! namespaces; reaches the network only through [`egress`] to the hosts its
//! `network.allow` lists (never GitHub); is held to memory, process and disk limits
//! ([`ResourceLimits`]); and dies whole when its attempt ends. What it does not stop:
//! the kernel is shared, so a kernel exploit escapes any namespace sandbox.
//!
//! Without a usable bubblewrap Flotilla refuses to start agents unless the operator
//! chose `--sandbox none`, which is logged as a warning on every attempt.

mod bwrap;
mod cgroup;
pub mod egress;
mod enclosure;
pub mod forward;
mod limits;
pub mod separate;

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::Digest;
use tokio::process::Command;

use crate::agent::Outcome;

pub use enclosure::{Enclosure, Finished};
pub use limits::{LimitBreach, ResourceLimits, human};

/// The loopback address the in-sandbox forwarder listens on for the agent's proxy.
const PROXY_LISTEN: &str = "127.0.0.1:3128";

/// Which engine confines agents (`flotilla serve --sandbox`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// bubblewrap: namespaces, an empty root, dropped capabilities. The default.
    Bwrap,
    /// No sandbox: agents run as Flotilla's own user and can read what it holds.
    /// Only for machines where nothing else can run; every attempt logs a warning.
    None,
}

/// The operator's sandbox settings, the same for every attempt.
#[derive(Clone, Debug)]
pub struct SandboxSettings {
    /// The engine.
    pub engine: Engine,
    /// Host paths every agent sees read-only besides the system (agent CLIs installed
    /// outside `/usr`, toolchains).
    pub read_only: Vec<PathBuf>,
    /// Host paths every agent may write (shared caches): anything one agent leaves
    /// there, the next one reads.
    pub writable: Vec<PathBuf>,
    /// Paths no agent may ever see: the data dir, the App's private keys, the
    /// database. Hidden even when an exposed path above contains them.
    pub never: Vec<PathBuf>,
    /// Flotilla's own binary, which forwards egress inside the sandbox; without one,
    /// an agent with a `network.allow` cannot start.
    pub forwarder: Option<PathBuf>,
    /// GitHub's REST root: its host is never reachable from a sandbox.
    pub github_api_url: String,
    /// Names this Flotilla's control groups (one per data dir), so several processes
    /// on one machine never reap each other's agents.
    pub instance: String,
}

impl SandboxSettings {
    /// Settings for the data dir `data_dir`, with nothing exposed beyond the system.
    pub fn new(engine: Engine, data_dir: &Path, github_api_url: &str) -> Self {
        let canonical = data_dir
            .canonicalize()
            .or_else(|_| std::path::absolute(data_dir))
            .unwrap_or_else(|_| data_dir.to_owned());
        let digest = sha2::Sha256::digest(canonical.as_os_str().as_encoded_bytes());
        Self {
            engine,
            read_only: Vec::new(),
            writable: Vec::new(),
            never: vec![canonical],
            forwarder: None,
            github_api_url: github_api_url.to_owned(),
            instance: hex::encode(&digest[..6]),
        }
    }
}

/// Why the sandbox cannot run an attempt. The first two stop Flotilla from starting.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// bubblewrap is not installed.
    #[error(
        "bubblewrap (`bwrap`) is not installed, so agents cannot be sandboxed: install it (Debian/Ubuntu: apt-get install bubblewrap) or start with `--sandbox none` (FLOTILLA_SANDBOX=none) to run agents unconfined"
    )]
    Missing,
    /// bubblewrap is there but cannot create namespaces here.
    #[error(
        "bubblewrap cannot create a sandbox on this machine ({0}); allow unprivileged user namespaces, or start with `--sandbox none` (FLOTILLA_SANDBOX=none) to run agents unconfined"
    )]
    Unusable(String),
    /// The attempt needs Flotilla's own binary inside (the egress forwarder, a
    /// reviewer's `flotilla-run`) but it is unknown.
    #[error(
        "the agent's `network.allow` (its egress forwarder) or a reviewer's `flotilla-run` needs Flotilla's own binary, and it could not be found"
    )]
    NoForwarder,
    /// A `network.allow` entry is not `host:port`.
    #[error("`network.allow` entry {0}")]
    Allow(String),
    /// Setting the attempt's sandbox up failed (control group, egress socket).
    #[error("could not set up the agent's sandbox: {0:#}")]
    Setup(#[from] anyhow::Error),
}

/// The sandbox of a Flotilla process: settings plus what it learnt of the host.
#[derive(Clone, Debug)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    settings: SandboxSettings,
    bwrap: Option<PathBuf>,
    system: bwrap::SystemView,
    cgroups: Option<cgroup::CgroupRoot>,
}

/// The program an attempt starts, as the agent sees it.
#[derive(Clone, Debug)]
pub struct Launch {
    /// The program, looked up on the agent's `PATH`.
    pub program: OsString,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Its whole environment (the sandbox adds `HOME`, `TMPDIR` and proxy variables).
    pub env: BTreeMap<OsString, OsString>,
}

/// A host path one attempt sees (or is kept from) besides its tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum View {
    /// Visible read-only, at the same path.
    ReadOnly(PathBuf),
    /// An empty directory in its place (it lies under an earlier view).
    Hidden(PathBuf),
}

impl Drop for Inner {
    /// The last handle on this sandbox is gone (Flotilla stops): its control groups go
    /// with it, so machines that start Flotilla often (tests, demos) do not collect
    /// empty groups.
    fn drop(&mut self) {
        if let Some(root) = &self.cgroups {
            root.remove_if_empty();
        }
    }
}

/// What one attempt may see and use, besides its tree.
#[derive(Clone, Debug, Default)]
pub struct Confinement {
    /// Whether the tree is writable (reviewers get a read-only one).
    pub tree_writable: bool,
    /// Host paths this attempt sees besides its tree (the git data the tree refers
    /// to), applied in order.
    pub views: Vec<View>,
    /// `host:port` targets reachable through the egress proxy.
    pub network_allow: Vec<String>,
    /// Memory, processes, disk.
    pub limits: ResourceLimits,
    /// For a reviewer: the host directory of the socket on which Flotilla runs
    /// commands apart from it ([`separate`]); the sandbox adds the `flotilla-run`
    /// launcher there and puts it first on `PATH`.
    pub separate_runs: Option<PathBuf>,
}

impl Sandbox {
    /// Checks that the engine works here (bubblewrap runs a trivial sandbox) and reads
    /// the host once. Fails with the line an operator needs when it does not.
    pub async fn new(settings: SandboxSettings) -> Result<Self, SandboxError> {
        let cgroups = cgroup::CgroupRoot::detect(&settings.instance);
        let (bwrap, system) = match settings.engine {
            Engine::None => {
                tracing::warn!(
                    "--sandbox none: agents run unconfined, as Flotilla's own user, and can read everything Flotilla holds"
                );
                (None, bwrap::SystemView::default())
            }
            Engine::Bwrap => {
                let path = find_on_path("bwrap").ok_or(SandboxError::Missing)?;
                let system = tokio::task::spawn_blocking(bwrap::SystemView::scan)
                    .await
                    .map_err(|e| SandboxError::Setup(e.into()))?;
                (Some(path), system)
            }
        };
        let sandbox = Self {
            inner: Arc::new(Inner {
                settings,
                bwrap,
                system,
                cgroups,
            }),
        };
        if sandbox.inner.bwrap.is_some() {
            sandbox.probe().await?;
        }
        match &sandbox.inner.cgroups {
            Some(root) => tracing::info!(?root, engine = ?sandbox.engine(), "agent sandbox ready"),
            None => tracing::info!(
                engine = ?sandbox.engine(),
                "agent sandbox ready; no writable control groups here, so memory and process limits are rlimits"
            ),
        }
        Ok(sandbox)
    }

    /// The engine in use.
    pub fn engine(&self) -> Engine {
        self.inner.settings.engine
    }

    /// Kills whatever an earlier Flotilla process on this data dir left running (after
    /// `kill -9`, say) and removes its control groups. Returns how many attempts had
    /// live processes.
    pub async fn reap(&self) -> usize {
        match &self.inner.cgroups {
            Some(root) => root.reap().await,
            None => 0,
        }
    }

    /// How the attempt really ended, from how its first process ended, what it printed
    /// first, and what the sandbox saw: bubblewrap reports a command killed by signal
    /// `n` as exit status `128 + n` (as a shell does) and a program it could not start
    /// as status 1 with `bwrap: execvp …`; a kernel-enforced limit explains a failure,
    /// and `SIGXFSZ` is the largest-file limit.
    pub fn exit_outcome(
        &self,
        outcome: Outcome,
        transcript: &str,
        finished: &Finished,
        limits: &ResourceLimits,
    ) -> Outcome {
        let outcome = match (self.engine(), outcome) {
            (Engine::Bwrap, Outcome::Failed { code }) if (129..=192).contains(&code) => {
                Outcome::Killed { signal: code - 128 }
            }
            (Engine::Bwrap, Outcome::Failed { code: 1 }) => {
                match transcript
                    .lines()
                    .next()
                    .and_then(|l| l.strip_prefix("bwrap: execvp "))
                {
                    Some(error) => Outcome::SpawnFailed {
                        error: error.to_owned(),
                    },
                    None => Outcome::Failed { code: 1 },
                }
            }
            (_, outcome) => outcome,
        };
        match (outcome, finished.breach) {
            (outcome, _) if outcome.is_success() => outcome,
            (Outcome::SpawnFailed { error }, _) => Outcome::SpawnFailed { error },
            (_, Some(breach)) => Outcome::LimitExceeded { breach },
            (Outcome::Killed { signal }, None) if signal == libc::SIGXFSZ => {
                Outcome::LimitExceeded {
                    breach: LimitBreach::Disk { limit: limits.disk },
                }
            }
            (outcome, None) => outcome,
        }
    }

    /// Where the attempt's private directory `host` is seen by the agent.
    pub fn private_view(&self, host: &Path) -> PathBuf {
        match self.engine() {
            Engine::Bwrap => PathBuf::from(bwrap::PRIVATE_INSIDE),
            Engine::None => host.to_owned(),
        }
    }

    /// Prepares one attempt: its control group, its egress proxy, and the command that
    /// starts `launch` in `tree` inside the sandbox. `label` names the attempt in logs
    /// and control groups.
    pub async fn enclose(
        &self,
        label: &str,
        confinement: &Confinement,
        tree: &Path,
        private_dir: &Path,
        launch: Launch,
    ) -> Result<Enclosure, SandboxError> {
        let Launch {
            program,
            args,
            mut env,
        } = launch;
        if let Some(dir) = &confinement.separate_runs {
            self.offer_separate_runs(dir, &mut env)?;
        }
        let Some(bwrap) = &self.inner.bwrap else {
            tracing::warn!(
                attempt = label,
                "--sandbox none: this agent runs unconfined and can read Flotilla's secrets"
            );
            let mut command = Command::new(program);
            command.args(args).current_dir(tree).env_clear().envs(env);
            return Ok(Enclosure::bare(command, tree, confinement.limits));
        };
        let settings = &self.inner.settings;
        for (name, value) in [
            ("HOME", bwrap::HOME_INSIDE),
            ("TMPDIR", bwrap::TMP_INSIDE),
            ("USER", "agent"),
            ("LOGNAME", "agent"),
        ] {
            env.insert(name.into(), value.into());
        }
        let proxy = if confinement.network_allow.is_empty() {
            None
        } else {
            if settings.forwarder.is_none() {
                return Err(SandboxError::NoForwarder);
            }
            let policy = egress::EgressPolicy::from_config(
                &confinement.network_allow,
                &settings.github_api_url,
            )
            .map_err(SandboxError::Allow)?;
            let socket = private_dir.join(egress::SOCKET_NAME);
            let proxy = egress::EgressProxy::start(&socket, policy).map_err(|e| {
                SandboxError::Setup(anyhow::Error::new(e).context("starting the egress proxy"))
            })?;
            let url = OsString::from(format!("http://{PROXY_LISTEN}"));
            for name in [
                "HTTPS_PROXY",
                "HTTP_PROXY",
                "ALL_PROXY",
                "https_proxy",
                "http_proxy",
                "all_proxy",
            ] {
                env.insert(name.into(), url.clone());
            }
            env.remove(OsString::from("NO_PROXY").as_os_str());
            env.remove(OsString::from("no_proxy").as_os_str());
            Some(proxy)
        };
        let layout = bwrap::Layout {
            system: &self.inner.system,
            read_only: &settings.read_only,
            writable: &settings.writable,
            views: &confinement.views,
            tree,
            tree_writable: confinement.tree_writable,
            private_dir,
            forwarder: (proxy.is_some() || confinement.separate_runs.is_some())
                .then_some(settings.forwarder.as_deref())
                .flatten(),
            separate_runs: confinement.separate_runs.as_deref(),
            never: &settings.never,
            tmp_bytes: confinement.limits.tmp,
        };
        // bubblewrap's options name host paths (the data dir's checkouts, hidden keys,
        // Flotilla's binary); on its command line they would be readable inside, in
        // the sandbox's own `/proc/1/cmdline`. It reads them from a descriptor instead
        // (and closes it before the agent starts).
        let options = bwrap::argv(&layout)
            .iter()
            .flat_map(|arg| [arg.as_encoded_bytes(), b"\0"])
            .flatten()
            .copied()
            .collect::<Vec<u8>>();
        let options =
            crate::inherit::memory_file(c"flotilla-bwrap-args", &options).map_err(|e| {
                SandboxError::Setup(anyhow::Error::new(e).context("passing bubblewrap its options"))
            })?;
        let mut command = Command::new(bwrap);
        crate::inherit::inherit_in_child(&mut command, &options);
        command
            .arg("--args")
            .arg(options.as_raw_fd().to_string())
            .arg("--");
        if proxy.is_some() {
            command
                .arg(bwrap::FORWARDER_INSIDE)
                .args(["sandbox-forward", "--listen", PROXY_LISTEN, "--socket"])
                .arg(Path::new(bwrap::PRIVATE_INSIDE).join(egress::SOCKET_NAME))
                .arg("--");
        }
        command
            .arg(program)
            .args(args)
            .current_dir(tree)
            .env_clear()
            .envs(env);

        tracing::debug!(argv = ?command.as_std().get_args().collect::<Vec<_>>(), "sandbox command line");
        let cgroup = match &self.inner.cgroups {
            Some(root) => Some(root.attempt(
                &format!("{label}-{}", uuid::Uuid::new_v4().simple()),
                &confinement.limits,
            )?),
            None => None,
        };
        let entry = cgroup.as_ref().map(cgroup::Attempt::entry).transpose()?;
        let limits = confinement.limits;
        let measured = tree.to_owned();
        let tree_base = tokio::task::spawn_blocking(move || limits::tree_bytes(&measured))
            .await
            .unwrap_or(0);
        let fds = entry.as_ref().map(cgroup::Entry::fds).unwrap_or_default();
        let rlimits_only = cgroup.is_none();
        // SAFETY: the closure runs between fork and exec and only makes
        // async-signal-safe calls (write, setrlimit).
        unsafe {
            command.pre_exec(move || {
                cgroup::Entry::enter(&fds)?;
                apply_rlimits(&limits, rlimits_only)
            });
        }
        Ok(Enclosure {
            command,
            options: Some(options),
            cgroup,
            entry,
            proxy,
            tree: tree.to_owned(),
            tree_base,
            limits,
            confined: true,
        })
    }

    /// Writes the `flotilla-run` launcher into `dir` and names it in `env`
    /// (`FLOTILLA_RUN`, and first on `PATH`), with the paths the agent will see.
    fn offer_separate_runs(
        &self,
        dir: &Path,
        env: &mut BTreeMap<OsString, OsString>,
    ) -> Result<(), SandboxError> {
        let binary = self
            .inner
            .settings
            .forwarder
            .as_deref()
            .ok_or(SandboxError::NoForwarder)?;
        let (binary, seen) = match self.engine() {
            Engine::Bwrap => (
                Path::new(bwrap::FORWARDER_INSIDE),
                PathBuf::from(separate::DIR_INSIDE),
            ),
            Engine::None => (binary, dir.to_owned()),
        };
        let launcher = dir.join(separate::LAUNCHER_NAME);
        let write = || -> std::io::Result<()> {
            use std::os::unix::fs::PermissionsExt;
            std::fs::write(&launcher, separate::launcher_script(binary, &seen))?;
            std::fs::set_permissions(&launcher, std::fs::Permissions::from_mode(0o755))
        };
        write().map_err(|e| {
            SandboxError::Setup(anyhow::Error::new(e).context("writing the flotilla-run launcher"))
        })?;
        let path = env.get(OsStr::new("PATH")).cloned().unwrap_or_default();
        let mut dirs = vec![seen.clone()];
        dirs.extend(std::env::split_paths(&path));
        let path = std::env::join_paths(dirs).map_err(|e| SandboxError::Setup(e.into()))?;
        env.insert("PATH".into(), path);
        env.insert(
            "FLOTILLA_RUN".into(),
            seen.join(separate::LAUNCHER_NAME).into(),
        );
        Ok(())
    }

    /// Runs a trivial command in a sandbox built like an attempt's.
    async fn probe(&self) -> Result<(), SandboxError> {
        let tree = tempfile::tempdir().map_err(|e| SandboxError::Setup(e.into()))?;
        let private = tempfile::tempdir().map_err(|e| SandboxError::Setup(e.into()))?;
        let env = BTreeMap::from([(OsString::from("PATH"), OsString::from("/usr/bin:/bin"))]);
        let mut enclosure = self
            .enclose(
                "probe",
                &Confinement {
                    tree_writable: true,
                    ..Confinement::default()
                },
                tree.path(),
                private.path(),
                Launch {
                    program: "true".into(),
                    args: Vec::new(),
                    env,
                },
            )
            .await?;
        enclosure
            .command()
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let output = match enclosure.spawn() {
            Ok(child) => child.wait_with_output().await,
            Err(error) => Err(error),
        };
        enclosure.finish().await;
        match output {
            Ok(output) if output.status.success() => Ok(()),
            Ok(output) => Err(SandboxError::Unusable(format!(
                "bwrap {}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ))),
            Err(error) => Err(SandboxError::Unusable(error.to_string())),
        }
    }
}

/// The limits the kernel can hold a process to on its own: the largest file (disk),
/// no core dumps, and — where no control group holds them — memory and processes.
fn apply_rlimits(limits: &ResourceLimits, memory_and_processes: bool) -> std::io::Result<()> {
    let set = |resource, value: u64| {
        let limit = libc::rlimit {
            rlim_cur: value,
            rlim_max: value,
        };
        // SAFETY: setrlimit is async-signal-safe and only affects this process.
        if unsafe { libc::setrlimit(resource, &limit) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    };
    set(libc::RLIMIT_FSIZE, limits.disk)?;
    set(libc::RLIMIT_CORE, 0)?;
    if memory_and_processes {
        set(libc::RLIMIT_DATA, limits.memory)?;
        set(libc::RLIMIT_NPROC, u64::from(limits.processes))?;
    }
    Ok(())
}

/// Visits every entry under `dir` (not following symlinks) with its metadata; a
/// directory is entered when `visit` returns true. Unreadable entries are skipped.
fn walk(dir: &Path, mut visit: impl FnMut(&Path, &std::fs::Metadata) -> bool) {
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if visit(&path, &meta) && meta.is_dir() {
                pending.push(path);
            }
        }
    }
}

/// The first `name` on `PATH` that is a file.
fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}
