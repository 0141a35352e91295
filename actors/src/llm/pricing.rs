//! What a tick's tokens cost: a price per million tokens (input, output,
//! cache write, cache read) per model, matched by the longest model-name
//! prefix. Shipped defaults cover the Claude models; the TOML config's
//! `[prices."<model prefix>"]` tables override or add entries. A model that
//! runs locally (the scripted simulator, a server on this machine or the
//! private network) costs 0 unless configured; a hosted model without a
//! price has an unknown cost (`None`), never a made-up one.

use catalog::TokenUsage;

/// US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    #[serde(default)]
    pub cache_write: f64,
    #[serde(default)]
    pub cache_read: f64,
}

impl Price {
    /// What `tokens` cost at this price, in US dollars.
    pub fn cost(&self, tokens: TokenUsage) -> f64 {
        (tokens.input as f64 * self.input
            + tokens.output as f64 * self.output
            + tokens.cache_write as f64 * self.cache_write
            + tokens.cache_read as f64 * self.cache_read)
            / 1e6
    }
}

/// Model-name prefixes and their prices.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceTable {
    entries: Vec<(String, Price)>,
}

/// Anthropic's list prices (USD per million tokens; cache writes at the
/// 5-minute rate) as of 2026-11; a configured entry replaces one of these.
const SHIPPED: [(&str, Price); 7] = [
    ("claude-opus-4-5", price(5.0, 25.0, 6.25, 0.50)),
    ("claude-opus-4", price(15.0, 75.0, 18.75, 1.50)),
    ("claude-sonnet-4", price(3.0, 15.0, 3.75, 0.30)),
    ("claude-3-7-sonnet", price(3.0, 15.0, 3.75, 0.30)),
    ("claude-haiku-4", price(1.0, 5.0, 1.25, 0.10)),
    ("claude-3-5-haiku", price(0.80, 4.0, 1.0, 0.08)),
    ("claude-3-haiku", price(0.25, 1.25, 0.30, 0.03)),
];

const fn price(input: f64, output: f64, cache_write: f64, cache_read: f64) -> Price {
    Price {
        input,
        output,
        cache_write,
        cache_read,
    }
}

impl Default for PriceTable {
    fn default() -> Self {
        PriceTable::shipped()
    }
}

impl PriceTable {
    /// The shipped Claude prices.
    pub fn shipped() -> PriceTable {
        PriceTable {
            entries: SHIPPED
                .iter()
                .map(|(prefix, price)| ((*prefix).to_owned(), *price))
                .collect(),
        }
    }

    /// This table with `overrides` (model prefix → price) put first.
    pub fn with_overrides(mut self, overrides: impl IntoIterator<Item = (String, Price)>) -> Self {
        for (prefix, price) in overrides {
            self.entries.retain(|(known, _)| *known != prefix);
            self.entries.push((prefix, price));
        }
        self
    }

    /// The price of the longest prefix of `model`.
    pub fn price(&self, model: &str) -> Option<Price> {
        self.entries
            .iter()
            .filter(|(prefix, _)| model.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, price)| *price)
    }

    /// What `tokens` of `model` cost: its price, else 0 for a model that
    /// runs locally, else unknown.
    pub fn cost(&self, model: &str, runs_locally: bool, tokens: TokenUsage) -> Option<f64> {
        match self.price(model) {
            Some(price) => Some(price.cost(tokens)),
            None if runs_locally => Some(0.0),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKENS: TokenUsage = TokenUsage {
        input: 3000,
        output: 600,
        cache_read: 2400,
        cache_write: 300,
    };

    #[test]
    fn the_longest_prefix_prices_the_tokens() {
        let table = PriceTable::shipped();
        // Sonnet: 3000 × 3 + 600 × 15 + 300 × 3.75 + 2400 × 0.30 per million.
        let cost = table
            .cost("claude-sonnet-4-5-20250929", false, TOKENS)
            .unwrap();
        assert!((cost - 0.019845).abs() < 1e-9, "{cost}");
        let opus = table.price("claude-opus-4-5-20251101").unwrap();
        assert_eq!(opus.input, 5.0);
        assert_eq!(table.price("claude-opus-4-1").unwrap().input, 15.0);
    }

    #[test]
    fn local_models_are_free_unless_priced_and_hosted_unknown_ones_unknown() {
        let table = PriceTable::shipped()
            .with_overrides([("smollm2".to_owned(), price(0.01, 0.02, 0.0, 0.0))]);
        assert_eq!(table.cost("qwen2.5-7b", true, TOKENS), Some(0.0));
        assert_eq!(table.cost("gpt-unknown", false, TOKENS), None);
        let priced = table.cost("smollm2", true, TOKENS).unwrap();
        assert!((priced - (3000.0 * 0.01 + 600.0 * 0.02) / 1e6).abs() < 1e-12);
        let cheaper = PriceTable::shipped()
            .with_overrides([("claude-sonnet-4".to_owned(), price(1.0, 1.0, 0.0, 0.0))]);
        assert_eq!(cheaper.price("claude-sonnet-4-5").unwrap().input, 1.0);
    }
}
