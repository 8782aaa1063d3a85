//! Where the demo's files are: `fixtures/` of this repository, found from the current
//! directory first (a checkout being worked on) and else from where the binary was built.

use std::path::{Path, PathBuf};

/// The repository's `fixtures/` directory, which holds `demo/` and the test App's keys.
pub(super) struct Fixtures {
    root: PathBuf,
}

impl Fixtures {
    /// Finds `fixtures/demo` under the current directory, else under the crate root.
    pub(super) fn locate() -> anyhow::Result<Self> {
        let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let candidates = [
            std::env::current_dir().map(|dir| dir.join("fixtures")).ok(),
            Some(built),
        ];
        candidates
            .into_iter()
            .flatten()
            .find(|root| root.join("demo").join("agent.sh").is_file())
            .map(|root| Self { root })
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "cannot find fixtures/demo: run `flotilla demo` from the Flotilla repository"
                )
            })
    }

    /// The directory itself, which the demo's agents see read-only.
    pub(super) fn root(&self) -> PathBuf {
        self.root.clone()
    }

    /// A file of the demo (`issue.md`, `flotilla.yml`, `repo/`, `agent.sh`, `reviewer.sh`).
    pub(super) fn demo(&self, name: &str) -> PathBuf {
        self.root.join("demo").join(name)
    }

    /// The test App's private key, which Flotilla signs its JWTs with.
    pub(super) fn private_key(&self) -> PathBuf {
        self.root.join("keys").join("test-app.pem")
    }

    /// The test App's public key, which the simulator verifies the JWTs with.
    pub(super) fn public_key(&self) -> PathBuf {
        self.root.join("keys").join("test-app.pub.pem")
    }

    /// The scripted agent as a worker command: `sh '<absolute path>'`, so neither the
    /// worktree it runs in nor the file's exec bit matters.
    pub(super) fn agent_command(&self) -> anyhow::Result<String> {
        self.script_command("agent.sh")
    }

    /// The scripted reviewer as a lens's command, quoted the same way.
    pub(super) fn reviewer_command(&self) -> anyhow::Result<String> {
        self.script_command("reviewer.sh")
    }

    /// `sh '<absolute path of fixtures/demo/<name>>'`.
    fn script_command(&self, name: &str) -> anyhow::Result<String> {
        let script = std::path::absolute(self.demo(name))?;
        let script = script
            .to_str()
            .ok_or_else(|| anyhow::anyhow!("the path of fixtures/demo/{name} is not UTF-8"))?;
        Ok(format!("sh '{}'", script.replace('\'', r"'\''")))
    }
}
