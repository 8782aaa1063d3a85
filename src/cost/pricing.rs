//! The pricing table: dollars per million tokens per model, for CLIs that report tokens
//! but no price (Codex). Defaults are the providers' published API list prices; the
//! App settings file's `pricing:` adds models or overrides them.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::Usd;
use crate::agent::{Tokens, Usage};

/// Dollars per million tokens of each kind, for one model.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    /// Uncached input tokens.
    pub input: f64,
    /// Output tokens.
    pub output: f64,
    /// Input tokens read from the prompt cache.
    #[serde(default)]
    pub cache_read: f64,
    /// Input tokens written to the prompt cache.
    #[serde(default)]
    pub cache_write: f64,
}

impl ModelPrice {
    const fn new(input: f64, output: f64, cache_read: f64, cache_write: f64) -> Self {
        Self {
            input,
            output,
            cache_read,
            cache_write,
        }
    }

    /// The cost of `tokens` at this price, in millionths of a dollar: a price per
    /// million tokens is exactly micro-dollars per token.
    pub fn cost(&self, tokens: &Tokens) -> Usd {
        let micros = tokens.input as f64 * self.input
            + tokens.output as f64 * self.output
            + tokens.cache_read as f64 * self.cache_read
            + tokens.cache_write as f64 * self.cache_write;
        Usd::from_micros(micros.round() as u64)
    }

    fn is_valid(&self) -> bool {
        [self.input, self.output, self.cache_read, self.cache_write]
            .iter()
            .all(|p| p.is_finite() && *p >= 0.0)
    }
}

/// Published list prices, USD per million tokens, as of November 2025:
/// Anthropic <https://docs.anthropic.com/en/docs/about-claude/pricing> (cache writes at
/// the 5-minute rate) and OpenAI <https://openai.com/api/pricing/> (OpenAI charges
/// nothing for cache writes). A model is matched by the longest name here that its
/// reported name starts with, so dated snapshots (`claude-sonnet-4-5-20250929`) match.
pub const DEFAULT_PRICES: &[(&str, ModelPrice)] = &[
    ("claude-opus-4-5", ModelPrice::new(5.0, 25.0, 0.50, 6.25)),
    ("claude-opus-4-1", ModelPrice::new(15.0, 75.0, 1.50, 18.75)),
    ("claude-opus-4", ModelPrice::new(15.0, 75.0, 1.50, 18.75)),
    ("claude-sonnet-4-5", ModelPrice::new(3.0, 15.0, 0.30, 3.75)),
    ("claude-sonnet-4", ModelPrice::new(3.0, 15.0, 0.30, 3.75)),
    ("claude-3-7-sonnet", ModelPrice::new(3.0, 15.0, 0.30, 3.75)),
    ("claude-haiku-4-5", ModelPrice::new(1.0, 5.0, 0.10, 1.25)),
    ("claude-3-5-haiku", ModelPrice::new(0.80, 4.0, 0.08, 1.0)),
    ("gpt-5.1-codex-mini", ModelPrice::new(0.25, 2.0, 0.025, 0.0)),
    ("gpt-5.1-codex", ModelPrice::new(1.25, 10.0, 0.125, 0.0)),
    ("gpt-5.1", ModelPrice::new(1.25, 10.0, 0.125, 0.0)),
    ("gpt-5-codex", ModelPrice::new(1.25, 10.0, 0.125, 0.0)),
    ("gpt-5-mini", ModelPrice::new(0.25, 2.0, 0.025, 0.0)),
    ("gpt-5-nano", ModelPrice::new(0.05, 0.40, 0.005, 0.0)),
    ("gpt-5", ModelPrice::new(1.25, 10.0, 0.125, 0.0)),
    ("gpt-4.1", ModelPrice::new(2.0, 8.0, 0.50, 0.0)),
    ("o4-mini", ModelPrice::new(1.10, 4.40, 0.275, 0.0)),
    ("o3", ModelPrice::new(2.0, 8.0, 0.50, 0.0)),
];

/// Model name → price; the defaults plus the settings file's entries.
#[derive(Clone, Debug, PartialEq)]
pub struct Pricing {
    prices: BTreeMap<String, ModelPrice>,
}

/// A `pricing:` entry that cannot be a price.
#[derive(Debug, thiserror::Error)]
#[error("pricing for `{model}`: every price must be a number of dollars of 0 or more")]
pub struct InvalidPrice {
    /// The model it was given for.
    pub model: String,
}

impl Default for Pricing {
    fn default() -> Self {
        Self {
            prices: DEFAULT_PRICES
                .iter()
                .map(|(model, price)| ((*model).to_owned(), *price))
                .collect(),
        }
    }
}

impl Pricing {
    /// The defaults with `overrides` added or replacing entries of the same name.
    pub fn with_overrides(overrides: BTreeMap<String, ModelPrice>) -> Result<Self, InvalidPrice> {
        let mut pricing = Self::default();
        for (model, price) in overrides {
            if !price.is_valid() {
                return Err(InvalidPrice { model });
            }
            pricing.prices.insert(model.to_ascii_lowercase(), price);
        }
        Ok(pricing)
    }

    /// The price of `model`: the longest table entry its name starts with.
    pub fn price_of(&self, model: &str) -> Option<&ModelPrice> {
        let model = model.to_ascii_lowercase();
        let model = model.rsplit('/').next().unwrap_or(&model);
        self.prices
            .iter()
            .filter(|(name, _)| model.starts_with(name.as_str()))
            .max_by_key(|(name, _)| name.len())
            .map(|(_, price)| price)
    }

    /// What a run's usage cost: the CLI's own figure when it reported one, else its
    /// tokens priced per model; `None` when some model has no price.
    pub fn cost(&self, usage: &Usage) -> Option<Usd> {
        if let Some(reported) = usage.reported_cost_usd {
            return Usd::from_dollars(reported);
        }
        let mut total = Usd::ZERO;
        for (model, tokens) in &usage.by_model {
            if tokens.total() == 0 {
                continue;
            }
            total += self.price_of(model)?.cost(tokens);
        }
        Some(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(model: &str, tokens: Tokens) -> Usage {
        Usage {
            by_model: [(model.to_owned(), tokens)].into(),
            reported_cost_usd: None,
        }
    }

    #[test]
    fn a_dated_model_name_is_priced_by_its_family_entry() {
        let pricing = Pricing::default();
        let tokens = Tokens {
            input: 1_000_000,
            output: 100_000,
            cache_read: 2_000_000,
            cache_write: 0,
        };
        let cost = pricing
            .cost(&usage("claude-sonnet-4-5-20250929", tokens))
            .unwrap();
        assert_eq!(cost, Usd::from_dollars(3.0 + 1.5 + 0.6).unwrap());
        assert_eq!(
            pricing.price_of("openai/gpt-5-codex"),
            pricing.price_of("gpt-5-codex")
        );
        assert_eq!(pricing.price_of("gpt-5-mini").unwrap().input, 0.25);
    }

    #[test]
    fn a_reported_cost_wins_over_the_table_and_an_unknown_model_has_no_price() {
        let pricing = Pricing::default();
        let tokens = Tokens {
            input: 10,
            ..Tokens::default()
        };
        assert_eq!(pricing.cost(&usage("scripted-model", tokens)), None);
        let reported = Usage {
            reported_cost_usd: Some(0.25),
            ..usage("scripted-model", tokens)
        };
        assert_eq!(pricing.cost(&reported), Usd::from_dollars(0.25));
    }

    #[test]
    fn an_override_prices_a_new_model_and_a_negative_price_is_refused() {
        let pricing = Pricing::with_overrides(
            [(
                "Scripted-Model".to_owned(),
                ModelPrice::new(2.0, 4.0, 0.0, 0.0),
            )]
            .into(),
        )
        .unwrap();
        let tokens = Tokens {
            input: 500_000,
            output: 250_000,
            ..Tokens::default()
        };
        assert_eq!(
            pricing.cost(&usage("scripted-model", tokens)),
            Usd::from_dollars(2.0)
        );
        assert!(
            Pricing::with_overrides(
                [("m".to_owned(), ModelPrice::new(-1.0, 0.0, 0.0, 0.0))].into()
            )
            .is_err()
        );
    }
}
