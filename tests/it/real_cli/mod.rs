//! The real coding-agent CLIs, at the versions pinned in `tests/agent-clis`, run by
//! Flotilla in its sandbox against the scripted model server (`flotilla::sim::model`):
//! their flags, their tools editing files, their answers, their failures and the usage
//! they report, end to end. One module per CLI.

mod codex;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The model key every CLI is given: the scripted server accepts any.
pub const DUMMY_KEY: &str = "sk-scripted-model-server-accepts-any-key";

/// Where the pinned CLIs are installed (`FLOTILLA_AGENT_CLIS`, by default
/// `/var/tmp/flotilla-agent-clis`), installing them once per machine on first use with
/// `tests/agent-clis/install.sh` (under a lock, as tests run in parallel processes).
pub fn agent_clis() -> PathBuf {
    static INSTALLED: OnceLock<PathBuf> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let dest = std::env::var_os("FLOTILLA_AGENT_CLIS")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/var/tmp/flotilla-agent-clis"));
            std::fs::create_dir_all(&dest).expect("agent CLI directory");
            let script =
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/agent-clis/install.sh");
            let output = Command::new("flock")
                .arg(dest.join(".install.lock"))
                .arg(&script)
                .env("FLOTILLA_AGENT_CLIS", &dest)
                .output()
                .expect("flock and bash run");
            assert!(
                output.status.success(),
                "installing the pinned agent CLIs failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            dest
        })
        .clone()
}

/// The installed `program` (`claude`, `codex`).
pub fn cli(program: &str) -> PathBuf {
    agent_clis().join("node_modules/.bin").join(program)
}
