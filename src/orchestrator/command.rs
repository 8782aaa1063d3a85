//! `/flotilla …` commands in issue and pull request comments.

/// A command a person with write access can give in a comment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Reply with the plan table.
    Status,
    /// Reply with what the run spent and what is left of each budget.
    Budget,
    /// Queue failed tasks again: all of them, or the one at this plan position.
    Retry(Option<i64>),
    /// Stop the run: kill running agents, start nothing more, close nothing.
    Cancel,
    /// Cancel the run and plan again from the issue as it is now.
    Replan,
}

/// What a comment holds, as far as Flotilla is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Not addressed to Flotilla.
    NotACommand,
    /// A valid command.
    Command(Command),
    /// `/flotilla` followed by something unknown (the text after `/flotilla`).
    Unknown(String),
}

impl Command {
    /// One of each command, in the order help lists them. [`Command::describe`]'s
    /// exhaustive match gives each its line; the test `help_lists_every_command` fails
    /// when a new command is missing here.
    const EXAMPLES: [Command; 5] = [
        Self::Status,
        Self::Budget,
        Self::Retry(None),
        Self::Cancel,
        Self::Replan,
    ];

    /// How the command is written in help, and what it does.
    fn describe(&self) -> (&'static str, &'static str) {
        match self {
            Self::Status => ("/flotilla status", "show the plan and each task's state"),
            Self::Budget => (
                "/flotilla budget",
                "show what the run's agents spent and what is left of each budget",
            ),
            Self::Retry(_) => (
                "/flotilla retry [task]",
                "try failed tasks again (all, or the one numbered `task`); after a budget \
                 stop, resume under the raised budget",
            ),
            Self::Cancel => (
                "/flotilla cancel",
                "stop the run and its agents (pull requests stay open)",
            ),
            Self::Replan => (
                "/flotilla replan",
                "cancel the run and plan again from the issue as it is now",
            ),
        }
    }

    /// How each command is written, in help's order: for the short list under the
    /// plan comment.
    pub fn usages() -> impl Iterator<Item = &'static str> {
        Self::EXAMPLES.iter().map(|command| command.describe().0)
    }

    /// The list of valid commands, for help replies: one line per command.
    pub fn help() -> String {
        Self::EXAMPLES
            .iter()
            .map(|command| {
                let (usage, what) = command.describe();
                format!("- `{usage}` — {what}")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The command as written, for replies.
    pub fn as_text(&self) -> String {
        match self {
            Self::Status => "/flotilla status".to_owned(),
            Self::Budget => "/flotilla budget".to_owned(),
            Self::Retry(None) => "/flotilla retry".to_owned(),
            Self::Retry(Some(task)) => format!("/flotilla retry {task}"),
            Self::Cancel => "/flotilla cancel".to_owned(),
            Self::Replan => "/flotilla replan".to_owned(),
        }
    }
}

/// Reads the command in a comment: the first line of prose that starts with
/// `/flotilla`. Quotes (`> /flotilla …`), code and HTML are not commands, as GitHub
/// renders them ([`crate::commonmark::prose_lines`]).
pub fn parse(body: &str) -> Parsed {
    for line in crate::commonmark::prose_lines(body) {
        let Some(rest) = line.strip_prefix("/flotilla") else {
            continue;
        };
        if !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
            continue;
        }
        let words: Vec<&str> = rest.split_whitespace().collect();
        let command = match words.as_slice() {
            ["status"] => Some(Command::Status),
            ["budget"] => Some(Command::Budget),
            ["retry"] => Some(Command::Retry(None)),
            ["retry", task] => task
                .trim_start_matches('#')
                .parse()
                .ok()
                .filter(|n: &i64| *n > 0)
                .map(|n| Command::Retry(Some(n))),
            ["cancel"] => Some(Command::Cancel),
            ["replan"] => Some(Command::Replan),
            _ => None,
        };
        return match command {
            Some(command) => Parsed::Command(command),
            None => Parsed::Unknown(rest.trim().to_owned()),
        };
    }
    Parsed::NotACommand
}

#[cfg(test)]
mod tests {
    use super::Command;

    #[test]
    fn help_lists_every_command() {
        let listed = |command: &Command| {
            Command::EXAMPLES
                .iter()
                .any(|e| std::mem::discriminant(e) == std::mem::discriminant(command))
        };
        // A new command makes this match fail to compile until it is handled here, and
        // the assertion fails until it is in EXAMPLES too.
        for command in [
            Command::Status,
            Command::Budget,
            Command::Retry(Some(1)),
            Command::Cancel,
            Command::Replan,
        ] {
            match command {
                Command::Status
                | Command::Budget
                | Command::Retry(_)
                | Command::Cancel
                | Command::Replan => assert!(listed(&command), "{command:?} is not in help"),
            }
        }
        assert_eq!(Command::help().lines().count(), Command::EXAMPLES.len());
        assert!(Command::help().contains("- `/flotilla retry [task]` — try failed tasks again"));
    }
}
