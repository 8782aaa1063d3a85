//! What agents cost and how much they may spend: money as an exact amount, the pricing
//! table that turns tokens into dollars, and budgets (per task, per run, per
//! installation per day) with the check that says whether one more agent may start.
//!
//! This module holds the arithmetic only; the store keeps what was spent and the
//! orchestrator decides what an exhausted budget does to a run.

pub mod budget;
pub mod pricing;

use std::fmt;
use std::ops::{Add, AddAssign};

use serde::{Deserialize, Deserializer, Serialize};

use crate::agent::{Tokens, Usage};
pub use budget::{Budget, BudgetConfig, Exhausted, Headroom, Limit, Scope};
pub use pricing::{ModelPrice, Pricing};

/// An amount of US dollars, kept in millionths so sums are exact.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Usd(u64);

impl Usd {
    /// No money.
    pub const ZERO: Usd = Usd(0);

    /// An amount in millionths of a dollar.
    pub fn from_micros(micros: u64) -> Self {
        Usd(micros)
    }

    /// The amount in millionths of a dollar.
    pub fn micros(self) -> u64 {
        self.0
    }

    /// An amount given in dollars (a setting), rounded to the nearest millionth;
    /// `None` for a negative or non-finite number.
    pub fn from_dollars(dollars: f64) -> Option<Self> {
        (dollars.is_finite() && dollars >= 0.0).then(|| Usd((dollars * 1e6).round() as u64))
    }

    /// What is left of `self` after `spent`, never below zero.
    pub fn saturating_sub(self, spent: Usd) -> Usd {
        Usd(self.0.saturating_sub(spent.0))
    }
}

impl Add for Usd {
    type Output = Usd;
    fn add(self, other: Usd) -> Usd {
        Usd(self.0.saturating_add(other.0))
    }
}

impl AddAssign for Usd {
    fn add_assign(&mut self, other: Usd) {
        *self = *self + other;
    }
}

/// `$1.23`; amounts under a cent keep four decimals (`$0.0042`) so they do not show as
/// `$0.00`.
impl fmt::Display for Usd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dollars = self.0 as f64 / 1e6;
        if self.0 != 0 && self.0 < 10_000 {
            write!(f, "${dollars:.4}")
        } else {
            write!(f, "${dollars:.2}")
        }
    }
}

impl Serialize for Usd {
    /// As dollars, the way settings and `budget:` write them, so it reads back equal.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.0 as f64 / 1e6)
    }
}

impl<'de> Deserialize<'de> for Usd {
    /// A dollar amount as written in a settings file: `2`, `0.50`.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let dollars = f64::deserialize(deserializer)?;
        Usd::from_dollars(dollars).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{dollars} is not an amount of dollars (a number of 0 or more)"
            ))
        })
    }
}

/// What agent runs used: tokens, and their cost in dollars when every model was priced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spend {
    /// Tokens, summed over models.
    pub tokens: Tokens,
    /// Their cost: reported by the CLI, or priced from the pricing table.
    pub usd: Usd,
    /// Agent runs whose tokens had no price (a model missing from the table): their
    /// dollars are not in `usd`.
    pub unpriced_runs: u64,
}

impl Spend {
    /// The spend of one agent run's usage under `pricing`.
    pub fn of(usage: &Usage, pricing: &Pricing) -> Self {
        let priced = pricing.cost(usage);
        Spend {
            tokens: usage.tokens(),
            usd: priced.unwrap_or(Usd::ZERO),
            unpriced_runs: u64::from(priced.is_none()),
        }
    }

    /// Whether nothing was spent.
    pub fn is_zero(&self) -> bool {
        self.tokens.total() == 0 && self.usd == Usd::ZERO && self.unpriced_runs == 0
    }
}

impl AddAssign for Spend {
    fn add_assign(&mut self, other: Spend) {
        self.tokens += other.tokens;
        self.usd += other.usd;
        self.unpriced_runs = self.unpriced_runs.saturating_add(other.unpriced_runs);
    }
}

/// `$0.42 (12,345 tokens)`, with a note when some tokens had no price.
impl fmt::Display for Spend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} tokens)",
            self.usd,
            thousands(self.tokens.total())
        )?;
        if self.unpriced_runs > 0 {
            write!(
                f,
                ", plus {} agent run(s) of a model without a price",
                self.unpriced_runs
            )?;
        }
        Ok(())
    }
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_are_exact_millionths_and_show_cents_or_four_decimals() {
        let a = Usd::from_dollars(0.1).unwrap();
        let b = Usd::from_dollars(0.2).unwrap();
        assert_eq!((a + b).micros(), 300_000);
        assert_eq!((a + b).to_string(), "$0.30");
        assert_eq!(Usd::from_micros(4_200).to_string(), "$0.0042");
        assert_eq!(Usd::ZERO.to_string(), "$0.00");
        assert_eq!(Usd::from_dollars(-1.0), None);
        assert_eq!(Usd::from_dollars(f64::NAN), None);
    }

    #[test]
    fn token_counts_are_grouped_by_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
