//! Budgets: the most a task, a run, or an installation in one day may spend, in dollars
//! and/or tokens, and the check made before an agent starts and while it runs.

use std::fmt;

use serde::Deserialize;

use super::{Spend, Usd, thousands};

/// A cap in dollars, tokens, or both; no field set means no cap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// The most dollars.
    #[serde(default)]
    pub usd: Option<Usd>,
    /// The most tokens (input, output and cache tokens all count).
    #[serde(default)]
    pub tokens: Option<u64>,
}

impl Limit {
    /// Whether the limit caps anything.
    pub fn is_set(&self) -> bool {
        self.usd.is_some() || self.tokens.is_some()
    }

    /// Whether `spend` has reached it.
    pub fn reached_by(&self, spend: &Spend) -> bool {
        self.usd.is_some_and(|usd| spend.usd >= usd)
            || self
                .tokens
                .is_some_and(|tokens| spend.tokens.total() >= tokens)
    }
}

/// `$2.00 / 1,000,000 tokens`, or `no limit`.
impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.usd, self.tokens) {
            (Some(usd), Some(tokens)) => write!(f, "{usd} / {} tokens", thousands(tokens)),
            (Some(usd), None) => write!(f, "{usd}"),
            (None, Some(tokens)) => write!(f, "{} tokens", thousands(tokens)),
            (None, None) => f.write_str("no limit"),
        }
    }
}

/// `budget:` in `.github/flotilla.yml`: caps per task (every attempt and every lens of
/// it) and per run (everything, the planner included). Unset means unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetConfig {
    /// The most one task may spend.
    #[serde(default)]
    pub task: Limit,
    /// The most one run may spend.
    #[serde(default)]
    pub run: Limit,
}

/// What a budget is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// One task: its attempts and its verifications' lenses.
    Task,
    /// One run: its planner and all its tasks.
    Run,
    /// Everything an installation spent this UTC day (the server's setting).
    InstallationDay,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scope::Task => "the task's budget",
            Scope::Run => "the run's budget",
            Scope::InstallationDay => "the installation's daily budget",
        })
    }
}

/// The budgets that apply to one agent run, each with what its scope spent so far.
#[derive(Clone, Debug, Default)]
pub struct Budget {
    scopes: Vec<(Scope, Limit, Spend)>,
}

/// Why an agent may not start, or was stopped: a budget and its figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exhausted {
    /// Which budget.
    pub scope: Scope,
    /// Its limit.
    pub limit: Limit,
    /// What its scope had spent.
    pub spent: Spend,
    /// What it would spend with the next agent run, by the projection.
    pub projected: Spend,
}

impl fmt::Display for Exhausted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} is spent: {} used",
            self.scope, self.limit, self.spent
        )?;
        if self.projected != self.spent {
            write!(f, ", {} with the next agent run", self.projected)?;
        }
        Ok(())
    }
}

/// What one agent run may still spend before some budget is reached.
#[derive(Clone, Debug, Default)]
pub struct Headroom {
    usd: Option<(Usd, Scope)>,
    tokens: Option<(u64, Scope)>,
}

impl Headroom {
    /// Whether an agent run that has used `spend` has reached the headroom.
    pub fn reached_by(&self, spend: &Spend) -> bool {
        self.usd.is_some_and(|(usd, _)| spend.usd >= usd)
            || self
                .tokens
                .is_some_and(|(tokens, _)| spend.tokens.total() >= tokens)
    }

    /// The share of each of `count` agent runs that start together (a verification's
    /// lenses), so that together they stay within the headroom.
    pub fn shared_by(&self, count: u64) -> Headroom {
        let count = count.max(1);
        Headroom {
            usd: self
                .usd
                .map(|(usd, scope)| (Usd::from_micros(usd.micros() / count), scope)),
            tokens: self.tokens.map(|(tokens, scope)| (tokens / count, scope)),
        }
    }

    /// Whether any budget caps the run at all.
    pub fn is_limited(&self) -> bool {
        self.usd.is_some() || self.tokens.is_some()
    }

    /// The cap in words: `the task's budget ($0.40 left)`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some((usd, scope)) = self.usd {
            parts.push(format!("{scope} ({usd} left)"));
        }
        if let Some((tokens, scope)) = self.tokens {
            parts.push(format!("{scope} ({} tokens left)", thousands(tokens)));
        }
        parts.join(" or ")
    }
}

impl Budget {
    /// Adds a budget of `scope` whose scope has spent `spent`; an unset limit adds
    /// nothing.
    pub fn with(mut self, scope: Scope, limit: Limit, spent: Spend) -> Self {
        if limit.is_set() {
            self.scopes.push((scope, limit, spent));
        }
        self
    }

    /// Checks that one more agent run, expected to spend `next`, fits every budget:
    /// the first budget whose spend plus `next` reaches its limit refuses; otherwise
    /// the least headroom left in dollars and in tokens.
    pub fn check(&self, next: Spend) -> Result<Headroom, Box<Exhausted>> {
        let mut headroom = Headroom::default();
        for (scope, limit, spent) in &self.scopes {
            let mut projected = *spent;
            projected += next;
            if limit.reached_by(&projected) {
                return Err(Box::new(Exhausted {
                    scope: *scope,
                    limit: *limit,
                    spent: *spent,
                    projected,
                }));
            }
            if let Some(usd) = limit.usd {
                let left = usd.saturating_sub(spent.usd);
                if headroom.usd.is_none_or(|(least, _)| left < least) {
                    headroom.usd = Some((left, *scope));
                }
            }
            if let Some(tokens) = limit.tokens {
                let left = tokens.saturating_sub(spent.tokens.total());
                if headroom.tokens.is_none_or(|(least, _)| left < least) {
                    headroom.tokens = Some((left, *scope));
                }
            }
        }
        Ok(headroom)
    }

    /// The budget an agent run that used `used` ran into, with the figures, if any.
    pub fn exhausted_by(&self, used: Spend) -> Option<Box<Exhausted>> {
        self.check(used).err()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::Tokens;

    fn spend(usd: f64, tokens: u64) -> Spend {
        Spend {
            tokens: Tokens {
                input: tokens,
                ..Tokens::default()
            },
            usd: Usd::from_dollars(usd).unwrap(),
            unpriced_runs: 0,
        }
    }

    fn dollars(usd: f64) -> Limit {
        Limit {
            usd: Usd::from_dollars(usd),
            tokens: None,
        }
    }

    #[test]
    fn the_least_headroom_of_every_budget_caps_the_next_run() {
        let budget = Budget::default()
            .with(Scope::Task, dollars(2.0), spend(1.5, 10))
            .with(Scope::Run, dollars(10.0), spend(9.8, 10))
            .with(Scope::InstallationDay, Limit::default(), spend(100.0, 0));
        let headroom = budget.check(Spend::default()).unwrap();
        assert_eq!(headroom.describe(), "the run's budget ($0.20 left)");
        assert!(!headroom.reached_by(&spend(0.19, 0)));
        assert!(headroom.reached_by(&spend(0.20, 0)));
    }

    #[test]
    fn a_projection_that_reaches_a_limit_refuses_with_the_figures() {
        let budget = Budget::default().with(
            Scope::Task,
            Limit {
                usd: None,
                tokens: Some(1_000),
            },
            spend(0.0, 600),
        );
        let refused = budget.check(spend(0.0, 400)).unwrap_err();
        assert_eq!(refused.scope, Scope::Task);
        assert_eq!(
            refused.to_string(),
            "the task's budget of 1,000 tokens is spent: $0.00 (600 tokens) used, \
             $0.00 (1,000 tokens) with the next agent run"
        );
        assert!(budget.check(spend(0.0, 399)).is_ok());
    }

    #[test]
    fn no_budget_means_no_cap() {
        let headroom = Budget::default().check(spend(1e6, u64::MAX / 2)).unwrap();
        assert!(!headroom.is_limited());
        assert!(!headroom.reached_by(&spend(1e6, u64::MAX / 2)));
    }
}
