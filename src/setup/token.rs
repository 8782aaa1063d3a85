//! The one-time setup token: until the App is registered, anyone who reaches the public
//! URL could register their own App into this Flotilla, so the setup page asks for a
//! token that only the operator sees, like Jupyter's or Grafana's first-run tokens. It
//! is printed in one log line with the URL to open and written to
//! `<data_dir>/app/setup-token` (mode 0600), and deleted once the App is registered.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use subtle::ConstantTimeEq;

/// A random token (244 bits from the OS's generator, hex) that unlocks the setup page.
pub struct SetupToken {
    value: String,
    path: PathBuf,
}

impl std::fmt::Debug for SetupToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetupToken")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SetupToken {
    /// Where the token is written under `data_dir`.
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join("app").join("setup-token")
    }

    /// A fresh token, written (replacing any earlier one) under `data_dir`, readable by
    /// this user only.
    pub fn create(data_dir: &Path) -> anyhow::Result<Self> {
        let value = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let path = Self::path(data_dir);
        let dir = path.parent().context("the token's path has a parent")?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(error).with_context(|| format!("removing {}", path.display()));
            }
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        file.write_all(format!("{value}\n").as_bytes())
            .and_then(|()| file.sync_all())
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(Self { value, path })
    }

    /// The token itself, for the one log line that shows it.
    pub fn reveal(&self) -> &str {
        &self.value
    }

    /// Whether `given` is the token, compared in time independent of where they differ.
    pub fn matches(&self, given: &str) -> bool {
        self.value.as_bytes().ct_eq(given.as_bytes()).into()
    }

    /// Deletes the token's file: the App is registered and the token unlocks nothing.
    pub fn discard(&self) -> anyhow::Result<()> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(error).with_context(|| format!("removing {}", self.path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SetupToken;

    #[test]
    fn only_the_exact_token_matches() {
        let dir = tempfile::TempDir::new().expect("temporary directory");
        let token = SetupToken::create(dir.path()).expect("created");
        let value = token.reveal().to_owned();
        assert!(value.len() >= 32, "at least 128 bits: {value}");
        assert!(token.matches(&value));
        assert!(!token.matches(""));
        assert!(!token.matches(&value[1..]));
        assert!(!token.matches(&format!("{value}0")));
        let mut flipped = value.clone().into_bytes();
        flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
        assert!(!token.matches(&String::from_utf8(flipped).expect("ascii")));
        assert!(!format!("{token:?}").contains(&value));
    }

    #[test]
    fn a_new_start_replaces_the_token_and_discarding_deletes_it() {
        let dir = tempfile::TempDir::new().expect("temporary directory");
        let first = SetupToken::create(dir.path()).expect("created");
        let second = SetupToken::create(dir.path()).expect("created again");
        let path = SetupToken::path(dir.path());
        let written = std::fs::read_to_string(&path).expect("written");
        assert_eq!(written.trim(), second.reveal());
        assert!(!second.matches(first.reveal()));
        second.discard().expect("deleted");
        assert!(!path.exists());
    }
}
