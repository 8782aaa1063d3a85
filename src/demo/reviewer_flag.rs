//! `flotilla demo --reviewer`: one reviewer command for every lens, or `lens=command`
//! for one lens.
//!
//! Only parsing; writing the commands into the configuration is `repo_config`'s job.

use std::str::FromStr;

/// One `--reviewer` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReviewerFlag {
    /// `--reviewer '<command>'`: the command reviews through every lens.
    All(String),
    /// `--reviewer lens=command`: the command reviews through this lens (added when the
    /// configuration has no such lens).
    Lens {
        /// The lens's name.
        lens: String,
        /// Its command.
        command: String,
    },
}

impl FromStr for ReviewerFlag {
    type Err = String;

    /// `lens=command` when the part before the first `=` is a lens name
    /// (`[a-z0-9_-]+`); anything else, such as `sh -c 'x=1'`, is a whole command.
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let (lens, command) = match value.split_once('=') {
            Some((lens, command)) if is_lens_name(lens) => (Some(lens), command),
            _ => (None, value),
        };
        if command.trim().is_empty() {
            return Err("the reviewer command is empty".to_owned());
        }
        Ok(match lens {
            Some(lens) => Self::Lens {
                lens: lens.to_owned(),
                command: command.to_owned(),
            },
            None => Self::All(command.to_owned()),
        })
    }
}

/// Whether `name` is spelled like a lens: lowercase letters, digits, `_` and `-`.
fn is_lens_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}
