//! The environment an agent runs with: built from an allowlist, never inherited.
//!
//! This module owns the rule that no GitHub or Flotilla credential ever reaches an agent.
//! An agent gets a few basics (`PATH`, `HOME`, locale, terminal), the names a maintainer
//! configured to pass through, and the `FLOTILLA_*` variables Flotilla sets for it. It
//! must not read Flotilla's process environment except through a [`HostEnv`] snapshot,
//! so tests can describe Flotilla's environment without mutating the test process.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};

/// Names every agent receives from Flotilla's environment when they are set: what a
/// command-line program needs to find binaries, its home and its locale.
pub const BASE_ALLOWLIST: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "LC_MESSAGES",
    "TERM",
    "TZ",
    "TMPDIR",
];

/// Words that make a GitHub-related name a credential (`GITHUB_TOKEN`, `GH_PAT`, ...).
const SECRET_WORDS: &[&str] = &["TOKEN", "SECRET", "KEY", "PAT", "PASSWORD", "CREDENTIAL"];

/// A snapshot of Flotilla's own environment, the only place agent variables come from.
///
/// It exists so the allowlist is applied to an explicit value: production takes
/// [`HostEnv::current`], tests build one holding credentials to prove none leak.
#[derive(Clone, Debug, Default)]
pub struct HostEnv {
    vars: BTreeMap<OsString, OsString>,
}

impl HostEnv {
    /// The environment of the running Flotilla process.
    pub fn current() -> Self {
        Self::from_vars(std::env::vars_os())
    }

    /// An environment holding exactly these variables.
    pub fn from_vars<K, V>(vars: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<OsString>,
        V: Into<OsString>,
    {
        Self {
            vars: vars
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// The same environment with `name` set to `value`.
    pub fn with(mut self, name: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.vars.insert(name.into(), value.into());
        self
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&OsStr> {
        self.vars.get(OsStr::new(name)).map(OsString::as_os_str)
    }
}

/// Why a configured pass-through name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    /// The name looks like a GitHub credential; agents never receive one.
    #[error(
        "`{name}` cannot be passed to an agent: it names a GitHub credential, and agents never receive credentials"
    )]
    Credential {
        /// The refused name.
        name: String,
    },
    /// `FLOTILLA_*` names hold Flotilla's own secrets and the variables it sets itself.
    #[error("`{name}` cannot be passed to an agent: FLOTILLA_* names are reserved for Flotilla")]
    Reserved {
        /// The refused name.
        name: String,
    },
    /// Not something a shell could export.
    #[error("`{name}` is not a valid environment variable name")]
    InvalidName {
        /// The refused name.
        name: String,
    },
}

/// Whether `name` looks like a GitHub credential: `GITHUB_APP_*`, or a name mentioning
/// GitHub (`GITHUB`, `GH_`) together with a secret word (`*GITHUB*TOKEN*`, `GH_TOKEN`,
/// `GITHUB_PAT`, `MY_GITHUB_KEY`...). Case-insensitive.
pub fn is_github_credential(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    if upper.starts_with("GITHUB_APP_") {
        return true;
    }
    let mentions_github = upper.contains("GITHUB") || upper.starts_with("GH_");
    mentions_github && SECRET_WORDS.iter().any(|word| upper.contains(word))
}

/// Checks names a maintainer wants passed through to agents, so configuration can be
/// rejected up front with the same rule the runner enforces.
pub fn check_pass_env(names: &[String]) -> Result<(), EnvError> {
    names.iter().try_for_each(|name| check_name(name))
}

fn check_name(name: &str) -> Result<(), EnvError> {
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let refused = |make: fn(String) -> EnvError| Err(make(name.to_owned()));
    if !valid {
        refused(|name| EnvError::InvalidName { name })
    } else if name.to_ascii_uppercase().starts_with("FLOTILLA_") {
        refused(|name| EnvError::Reserved { name })
    } else if is_github_credential(name) {
        refused(|name| EnvError::Credential { name })
    } else {
        Ok(())
    }
}

/// The agent's whole environment: allowlisted basics and pass-through names taken from
/// `host` when set, then Flotilla's own `FLOTILLA_*` variables.
pub(crate) fn build(
    host: &HostEnv,
    pass_env: &[String],
    flotilla: Vec<(&'static str, OsString)>,
) -> Result<BTreeMap<OsString, OsString>, EnvError> {
    check_pass_env(pass_env)?;
    let names = BASE_ALLOWLIST
        .iter()
        .copied()
        .chain(pass_env.iter().map(String::as_str));
    let mut env: BTreeMap<OsString, OsString> = names
        .filter_map(|name| host.get(name).map(|v| (name.into(), v.to_owned())))
        .collect();
    env.extend(flotilla.into_iter().map(|(k, v)| (k.into(), v)));
    Ok(env)
}
