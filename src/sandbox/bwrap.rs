//! The bubblewrap command line of one attempt, built as a list of arguments (never a
//! shell string), and the read of the host system it starts from.
//!
//! Threat: an agent that reads what Flotilla holds (its environment through `/proc`,
//! the App's private key, the database, other tasks' trees) or regains privileges to
//! undo its confinement. The sandbox starts from an empty root and sees only what is
//! listed here: the system read-only (minus files the host keeps from other users),
//! its own tree, a private `HOME` and `TMPDIR`, a fresh `/proc` of its own PID
//! namespace and a minimal `/dev`. It runs as an unprivileged uid in its own user
//! namespace with every capability dropped, `no_new_privs`, no further user namespaces,
//! no network but loopback, its own session, and dies with its parent.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The uid and gid an agent has inside its sandbox.
pub(crate) const INSIDE_UID: u32 = 1000;
/// The private `HOME` inside the sandbox (a size-limited tmpfs).
pub(crate) const HOME_INSIDE: &str = "/home/agent";
/// The private `TMPDIR` inside the sandbox (a size-limited tmpfs).
pub(crate) const TMP_INSIDE: &str = "/tmp";
/// Where the attempt's private directory (prompt, result, egress socket) appears.
pub(crate) const PRIVATE_INSIDE: &str = "/run/flotilla";
/// Where Flotilla's own binary appears, when the agent may reach the network (it is
/// the egress forwarder) or is a reviewer (it is the `flotilla-run` client).
pub(crate) const FORWARDER_INSIDE: &str = "/run/flotilla-forward";

/// Top-level system paths an agent sees read-only (or as the symlinks they are).
const SYSTEM_PATHS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc",
];

/// One mount (or symlink) in the sandbox, in the order bubblewrap applies them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Mount {
    /// A host path, read-only, at the same path.
    ReadOnly(PathBuf),
    /// A host path, writable, at the same path.
    Writable(PathBuf),
    /// A host path, writable, elsewhere.
    WritableAt(PathBuf, PathBuf),
    /// A host file, read-only, elsewhere.
    ReadOnlyAt(PathBuf, PathBuf),
    /// A symlink (target, path), as the host has it (`/bin -> usr/bin`).
    Symlink(PathBuf, PathBuf),
    /// An empty read-only directory over a host directory.
    HideDir(PathBuf),
    /// `/dev/null` over a host file.
    HideFile(PathBuf),
    /// A fresh tmpfs of this many bytes with these permission bits, owned by the agent.
    Tmpfs(PathBuf, u64, &'static str),
}

/// What of the host system every sandbox sees, read once when Flotilla starts.
#[derive(Clone, Debug, Default)]
pub(crate) struct SystemView {
    mounts: Vec<Mount>,
}

impl SystemView {
    /// Reads the host: the system directories that exist, and under `/etc` every file
    /// or directory other users may not read (`shadow`, SSH host keys, `ssl/private`,
    /// an operator's `0600` secrets), which stays hidden.
    pub(crate) fn scan() -> Self {
        let mut mounts = Vec::new();
        for path in SYSTEM_PATHS.iter().map(PathBuf::from) {
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.file_type().is_symlink() {
                if let Ok(target) = std::fs::read_link(&path) {
                    mounts.push(Mount::Symlink(target, path));
                }
            } else if meta.is_dir() {
                mounts.push(Mount::ReadOnly(path.clone()));
                if path == Path::new("/etc") {
                    mounts.extend(private_entries(&path));
                }
            }
        }
        Self { mounts }
    }
}

/// Entries under `dir` that other users may not read, as mounts that hide them.
fn private_entries(dir: &Path) -> Vec<Mount> {
    let mut hidden = Vec::new();
    super::walk(dir, |path, meta| {
        let world_readable = meta.permissions().mode() & 0o004 != 0;
        if meta.is_dir() && !world_readable {
            hidden.push(Mount::HideDir(path.to_owned()));
        } else if meta.is_file() && !world_readable {
            hidden.push(Mount::HideFile(path.to_owned()));
        }
        world_readable
    });
    hidden
}

/// Everything that shapes one sandbox's view; [`argv`] turns it into arguments.
#[derive(Debug)]
pub(crate) struct Layout<'a> {
    /// The host system, read once.
    pub(crate) system: &'a SystemView,
    /// Paths the operator exposes read-only to every agent (agent CLIs, toolchains).
    pub(crate) read_only: &'a [PathBuf],
    /// Paths the operator shares writable with every agent (caches).
    pub(crate) writable: &'a [PathBuf],
    /// This attempt's own views (the git data its tree refers to), in order.
    pub(crate) views: &'a [super::View],
    /// The attempt's tree: where it works.
    pub(crate) tree: &'a Path,
    /// Whether the tree is writable (a reviewer's is not).
    pub(crate) tree_writable: bool,
    /// The attempt's private directory on the host.
    pub(crate) private_dir: &'a Path,
    /// Flotilla's own binary, bound in to forward egress and to run `flotilla-run`;
    /// `None` when the attempt needs neither.
    pub(crate) forwarder: Option<&'a Path>,
    /// A reviewer's `flotilla-run` directory (socket and launcher) on the host.
    pub(crate) separate_runs: Option<&'a Path>,
    /// Paths that must never be visible (data dir, keys), hidden wherever a mount
    /// above would expose them.
    pub(crate) never: &'a [PathBuf],
    /// Size of the private `HOME` and `TMPDIR`.
    pub(crate) tmp_bytes: u64,
}

/// The bubblewrap options for `layout`, up to (not including) the `--` that precedes
/// the command.
pub(crate) fn argv(layout: &Layout<'_>) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "--unshare-user",
        "--uid",
        &INSIDE_UID.to_string(),
        "--gid",
        &INSIDE_UID.to_string(),
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--hostname",
        "flotilla-sandbox",
        "--disable-userns",
        "--assert-userns-disabled",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
    ]
    .iter()
    .map(OsString::from)
    .collect();

    let mut mounts = layout.system.mounts.clone();
    // The private temporary directories come first: a tree or path exposed below them
    // (tests keep theirs under /tmp) is bound on top.
    mounts.push(Mount::Tmpfs(TMP_INSIDE.into(), layout.tmp_bytes, "1777"));
    mounts.push(Mount::Tmpfs(HOME_INSIDE.into(), layout.tmp_bytes, "0700"));
    mounts.extend(layout.read_only.iter().cloned().map(Mount::ReadOnly));
    mounts.extend(layout.writable.iter().cloned().map(Mount::Writable));
    mounts.extend(layout.views.iter().map(|view| match view {
        super::View::ReadOnly(path) => Mount::ReadOnly(path.clone()),
        super::View::Hidden(path) => Mount::HideDir(path.clone()),
    }));
    mounts.push(if layout.tree_writable {
        Mount::Writable(layout.tree.to_owned())
    } else {
        Mount::ReadOnly(layout.tree.to_owned())
    });
    mounts.push(Mount::WritableAt(
        layout.private_dir.to_owned(),
        PRIVATE_INSIDE.into(),
    ));
    if let Some(dir) = layout.separate_runs {
        mounts.push(Mount::WritableAt(
            dir.to_owned(),
            super::separate::DIR_INSIDE.into(),
        ));
    }
    if let Some(forwarder) = layout.forwarder {
        mounts.push(Mount::ReadOnlyAt(
            forwarder.to_owned(),
            FORWARDER_INSIDE.into(),
        ));
    }
    let mounts = without_secrets(mounts, layout.never);

    args.extend(["--proc", "/proc", "--dev", "/dev"].map(OsString::from));
    for mount in &mounts {
        push_mount(&mut args, mount);
    }
    // Hiding directories are made read-only last: a later mount (a task's own git
    // data under the hidden worktrees of its mirror) needs its mount point made first.
    for mount in &mounts {
        if let Mount::HideDir(path) = mount {
            args.extend([OsString::from("--remount-ro"), path.into()]);
        }
    }
    args.push("--chdir".into());
    args.push(layout.tree.into());
    args
}

/// `mounts` with every `never` path gone without a trace. A mount that would expose
/// one is replaced by mounts of its entries that leave the way to it out, and masks of
/// such paths are dropped: a mount over the secret itself (an empty directory, or
/// `/dev/null` over a key) would name it in the sandbox's `/proc/self/mountinfo`.
fn without_secrets(mounts: Vec<Mount>, never: &[PathBuf]) -> Vec<Mount> {
    let mut kept = Vec::new();
    for mount in mounts {
        match mount {
            Mount::ReadOnly(root) if holds_secret(&root, never) => {
                splay(&root, Mount::ReadOnly, never, &mut kept);
            }
            Mount::Writable(root) if holds_secret(&root, never) => {
                splay(&root, Mount::Writable, never, &mut kept);
            }
            Mount::HideDir(path) | Mount::HideFile(path) if is_secret(&path, never) => {}
            mount => kept.push(mount),
        }
    }
    kept
}

/// Whether `path` is a `never` path or lies under one.
fn is_secret(path: &Path, never: &[PathBuf]) -> bool {
    never.iter().any(|secret| path.starts_with(secret))
}

/// Whether a `never` path is `path` or lies under it.
fn holds_secret(path: &Path, never: &[PathBuf]) -> bool {
    never.iter().any(|secret| secret.starts_with(path))
}

/// Mounts (made by `bind`) showing `path` without the `never` paths: the whole of it
/// when it holds none, nothing when it is one, else each entry on its own (symlinks as
/// symlinks), so the directories on the way to a secret are the sandbox's own and list
/// everything but the secret. An unreadable directory shows nothing.
fn splay(path: &Path, bind: fn(PathBuf) -> Mount, never: &[PathBuf], out: &mut Vec<Mount>) {
    if is_secret(path, never) {
        return;
    }
    if !holds_secret(path, never) {
        out.push(bind(path.to_owned()));
        return;
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.flatten().map(|entry| entry.path()).collect();
    entries.sort();
    for entry in entries {
        let Ok(meta) = std::fs::symlink_metadata(&entry) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            if let Ok(target) = std::fs::read_link(&entry) {
                out.push(Mount::Symlink(target, entry));
            }
        } else {
            splay(&entry, bind, never, out);
        }
    }
}

fn push_mount(args: &mut Vec<OsString>, mount: &Mount) {
    let mut push = |items: &[&std::ffi::OsStr]| args.extend(items.iter().map(OsString::from));
    match mount {
        Mount::ReadOnly(path) => push(&["--ro-bind".as_ref(), path.as_ref(), path.as_ref()]),
        Mount::Writable(path) => push(&["--bind".as_ref(), path.as_ref(), path.as_ref()]),
        Mount::WritableAt(from, to) => push(&["--bind".as_ref(), from.as_ref(), to.as_ref()]),
        Mount::ReadOnlyAt(from, to) => push(&["--ro-bind".as_ref(), from.as_ref(), to.as_ref()]),
        Mount::Symlink(target, path) => {
            push(&["--symlink".as_ref(), target.as_ref(), path.as_ref()])
        }
        Mount::HideDir(path) => push(&[
            "--size".as_ref(),
            "4096".as_ref(),
            "--tmpfs".as_ref(),
            path.as_ref(),
        ]),
        Mount::HideFile(path) => push(&["--ro-bind".as_ref(), "/dev/null".as_ref(), path.as_ref()]),
        Mount::Tmpfs(path, bytes, perms) => {
            let size = bytes.to_string();
            push(&[
                "--perms".as_ref(),
                perms.as_ref(),
                "--size".as_ref(),
                size.as_ref(),
                "--tmpfs".as_ref(),
                path.as_ref(),
            ])
        }
    }
}
