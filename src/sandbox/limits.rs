//! Resource limits of one attempt: memory, processes and disk, and how a breach is
//! told apart from an ordinary failure.
//!
//! Threat: an agent (or the code it runs) that forks without end, allocates until the
//! machine swaps, or fills the disk would take Flotilla and every other task down with
//! it. Limits are enforced by the kernel where it can (cgroups, `RLIMIT_FSIZE`, tmpfs
//! sizes) and watched by Flotilla where it cannot (the size of the writable tree).

use std::fmt;
use std::path::Path;

use serde::Deserialize;

/// How much of the machine one agent run may take. Part of the repository config
/// (`sandbox:`), so a repository whose builds need more can say so, within bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceLimits {
    /// Resident memory of every process of the run together (tmpfs files count too).
    #[serde(default = "default_memory", deserialize_with = "size::deserialize")]
    pub memory: u64,
    /// Processes and threads alive at once.
    #[serde(default = "default_processes")]
    pub processes: u32,
    /// Bytes the run may add to its tree, and the largest single file it may write.
    #[serde(default = "default_disk", deserialize_with = "size::deserialize")]
    pub disk: u64,
    /// Size of each of the private `HOME` and `TMPDIR` (memory-backed).
    #[serde(default = "default_tmp", deserialize_with = "size::deserialize")]
    pub tmp: u64,
}

/// Bounds on [`ResourceLimits::memory`].
pub const MEMORY_RANGE: std::ops::RangeInclusive<u64> = (64 << 20)..=(64 << 30);
/// Bounds on [`ResourceLimits::processes`].
pub const PROCESSES_RANGE: std::ops::RangeInclusive<u32> = 16..=65_536;
/// Bounds on [`ResourceLimits::disk`].
pub const DISK_RANGE: std::ops::RangeInclusive<u64> = (16 << 20)..=(1 << 40);
/// Bounds on [`ResourceLimits::tmp`].
pub const TMP_RANGE: std::ops::RangeInclusive<u64> = (1 << 20)..=(64 << 30);

fn default_memory() -> u64 {
    4 << 30
}

fn default_processes() -> u32 {
    1024
}

fn default_disk() -> u64 {
    4 << 30
}

fn default_tmp() -> u64 {
    1 << 30
}

impl Default for ResourceLimits {
    fn default() -> Self {
        Self {
            memory: default_memory(),
            processes: default_processes(),
            disk: default_disk(),
            tmp: default_tmp(),
        }
    }
}

impl ResourceLimits {
    /// The first value out of its bounds, as `(field, message)`, for config errors.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        within("memory", self.memory, &MEMORY_RANGE, human)?;
        within("processes", self.processes, &PROCESSES_RANGE, |n| {
            n.to_string()
        })?;
        within("disk", self.disk, &DISK_RANGE, human)?;
        within("tmp", self.tmp, &TMP_RANGE, human)
    }
}

/// `Ok` when `value` is in `range`, else `(field, message)` with the value and the
/// bounds as `show` writes them.
fn within<T: PartialOrd + Copy>(
    field: &'static str,
    value: T,
    range: &std::ops::RangeInclusive<T>,
    show: fn(T) -> String,
) -> Result<(), (&'static str, String)> {
    if range.contains(&value) {
        return Ok(());
    }
    Err((
        field,
        format!(
            "{} is out of range ({} to {})",
            show(value),
            show(*range.start()),
            show(*range.end())
        ),
    ))
}

/// Which limit a run hit; the attempt fails with this as its reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitBreach {
    /// The kernel killed a process for exceeding the memory limit.
    Memory {
        /// The limit, in bytes.
        limit: u64,
    },
    /// A fork was refused at the process limit.
    Processes {
        /// The limit.
        limit: u32,
    },
    /// The tree grew past the disk limit.
    Disk {
        /// The limit, in bytes.
        limit: u64,
    },
}

impl fmt::Display for LimitBreach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitBreach::Memory { limit } => write!(f, "its memory limit of {}", human(*limit)),
            LimitBreach::Processes { limit } => write!(f, "its limit of {limit} processes"),
            LimitBreach::Disk { limit } => write!(f, "its disk limit of {}", human(*limit)),
        }
    }
}

/// A byte count as a person reads it: `512 MiB`, `4 GiB`, or `1.5 GiB` when not whole.
pub fn human(bytes: u64) -> String {
    for (unit, name) in [
        (1u64 << 40, "TiB"),
        (1 << 30, "GiB"),
        (1 << 20, "MiB"),
        (1 << 10, "KiB"),
    ] {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{} {name}", bytes / unit);
        }
    }
    bytesize::ByteSize::b(bytes).display().iec().to_string()
}

/// Bytes the regular files under `dir` occupy (allocated blocks, so sparse files count
/// for what they take), not following symlinks. Unreadable entries count as nothing.
pub(crate) fn tree_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0u64;
    super::walk(dir, |_, meta| {
        if !meta.is_dir() {
            total = total.saturating_add(meta.blocks().saturating_mul(512));
        }
        true
    });
    total
}

/// Serde for sizes written as a person would (`512MiB`, `4G`, `1 GB`) or as a number of
/// bytes.
mod size {
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        Bytes(u64),
        Text(String),
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        match Written::deserialize(deserializer)? {
            Written::Bytes(bytes) => Ok(bytes),
            Written::Text(text) => text
                .trim()
                .parse::<bytesize::ByteSize>()
                .map(|size| size.as_u64())
                .map_err(|error| {
                    serde::de::Error::custom(format!(
                        "`{text}` is not a size such as 512MiB or 4GiB: {error}"
                    ))
                }),
        }
    }
}
