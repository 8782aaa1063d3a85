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
    /// The list of valid commands, for help replies.
    pub const HELP: &'static str = "- `/flotilla status` — show the plan and each task's state\n\
         - `/flotilla budget` — show what the run's agents spent and what is left of each budget\n\
         - `/flotilla retry [task]` — try failed tasks again (all, or the one numbered `task`); after a budget stop, resume under the raised budget\n\
         - `/flotilla cancel` — stop the run and its agents (pull requests stay open)\n\
         - `/flotilla replan` — cancel the run and plan again from the issue as it is now";

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

/// Reads the command in a comment: the first line that starts with `/flotilla`.
/// Quoted lines (`> /flotilla …`) and code are not commands.
pub fn parse(body: &str) -> Parsed {
    let mut in_fence = false;
    for line in body.lines() {
        let line = line.trim();
        if line.starts_with("```") || line.starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
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
