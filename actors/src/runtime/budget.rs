//! Daily LLM budgets, per persona and for the whole fleet, per UTC day, in
//! US dollars and/or tokens: the [`BudgetBook`] the dispatcher keeps.
//!
//! Every LLM answer's cost and tokens are [`BudgetBook::record`]ed under its
//! persona. A persona whose spend today has reached its limit gets no permit
//! and no rate slot until the next UTC day (its running tick ends `failed`,
//! reason budget, rows kept); the fleet reaching its limit sets the
//! kill-switch with reason budget until the next UTC day or until an
//! operator lifts it, which waives the fleet limit for the rest of that day.
//!
//! Tokens count everything the provider billed: input, output, cache reads
//! and writes. A hosted model without a price has an unknown cost, which a
//! dollar budget cannot count; the runner refuses to start with a dollar
//! budget and such a model (`runner::cli::runner_options`). A tick's spend
//! is recorded as its answers come, so a restart loses only what the ticks
//! in flight had spent; finished ticks' spend is read back from the tick
//! rows at start ([`crate::runtime::TickLedger::spent_since`]).

use std::collections::HashMap;
use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};

/// A daily limit; `None` parts are unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Limit {
    pub usd: Option<f64>,
    pub tokens: Option<u64>,
}

impl Limit {
    pub fn is_set(&self) -> bool {
        self.usd.is_some() || self.tokens.is_some()
    }

    fn reached_by(&self, spend: Spend) -> bool {
        self.usd.is_some_and(|usd| spend.usd >= usd)
            || self.tokens.is_some_and(|tokens| spend.tokens >= tokens)
    }
}

/// The budgets a runner runs under.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Budgets {
    /// Each persona's, per UTC day (`PERSONA_BUDGET_USD`, `…_TOKENS`).
    pub persona: Limit,
    /// The whole fleet's, per UTC day (`FLEET_BUDGET_USD`, `…_TOKENS`).
    pub fleet: Limit,
}

impl Budgets {
    pub fn is_set(&self) -> bool {
        self.persona.is_set() || self.fleet.is_set()
    }
}

/// What was spent: dollars (unknown costs count 0) and tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spend {
    pub usd: f64,
    pub tokens: u64,
}

impl std::ops::AddAssign for Spend {
    fn add_assign(&mut self, more: Spend) {
        self.usd += more.usd;
        self.tokens += more.tokens;
    }
}

/// Whose budget is spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Persona,
    Fleet,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Persona => "persona",
            Scope::Fleet => "fleet",
        }
    }
}

/// A budget that is spent: whose, how much and of what.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetSpent {
    pub scope: Scope,
    pub spent: Spend,
    pub limit: Limit,
}

impl fmt::Display for BudgetSpent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whose, setting) = match self.scope {
            Scope::Persona => ("the persona's", "PERSONA_BUDGET"),
            Scope::Fleet => ("the fleet's", "FLEET_BUDGET"),
        };
        write!(f, "budget: {whose} daily LLM budget is spent (")?;
        let mut parts = Vec::new();
        if let Some(usd) = self.limit.usd {
            parts.push(format!(
                "${:.4} of ${usd:.4}, {setting}_USD",
                self.spent.usd
            ));
        }
        if let Some(tokens) = self.limit.tokens {
            parts.push(format!(
                "{} of {tokens} tokens, {setting}_TOKENS",
                self.spent.tokens
            ));
        }
        write!(f, "{}); it renews at 00:00 UTC", parts.join("; "))
    }
}

impl std::error::Error for BudgetSpent {}

/// Today's spend against the budgets.
#[derive(Debug, Clone)]
pub struct BudgetBook {
    budgets: Budgets,
    day: NaiveDate,
    fleet: Spend,
    personas: HashMap<String, Spend>,
    /// An operator lifted the fleet's budget kill-switch on this day.
    fleet_waived_on: Option<NaiveDate>,
}

impl BudgetBook {
    /// A book for `today`, starting from what was spent so far today.
    pub fn new(
        budgets: Budgets,
        today: NaiveDate,
        spent: impl IntoIterator<Item = (String, Spend)>,
    ) -> BudgetBook {
        let personas: HashMap<String, Spend> = spent.into_iter().collect();
        let mut fleet = Spend::default();
        for spend in personas.values() {
            fleet += *spend;
        }
        BudgetBook {
            budgets,
            day: today,
            fleet,
            personas,
            fleet_waived_on: None,
        }
    }

    pub fn budgets(&self) -> Budgets {
        self.budgets
    }

    pub fn day(&self) -> NaiveDate {
        self.day
    }

    pub fn fleet_spent(&self) -> Spend {
        self.fleet
    }

    pub fn persona_spent(&self, persona_id: &str) -> Spend {
        self.personas.get(persona_id).copied().unwrap_or_default()
    }

    /// Every persona's spend today.
    pub fn personas(&self) -> &HashMap<String, Spend> {
        &self.personas
    }

    /// Starts a new day when `today` is past the book's; `true` if it did.
    pub fn roll_to(&mut self, today: NaiveDate) -> bool {
        if today <= self.day {
            return false;
        }
        self.day = today;
        self.fleet = Spend::default();
        self.personas.clear();
        true
    }

    pub fn record(&mut self, persona_id: &str, spend: Spend) {
        *self.personas.entry(persona_id.to_owned()).or_default() += spend;
        self.fleet += spend;
    }

    /// The persona's budget, if it is spent.
    pub fn persona_over(&self, persona_id: &str) -> Option<BudgetSpent> {
        let spent = self.persona_spent(persona_id);
        self.budgets
            .persona
            .reached_by(spent)
            .then_some(BudgetSpent {
                scope: Scope::Persona,
                spent,
                limit: self.budgets.persona,
            })
    }

    /// The fleet's budget, if it is spent and an operator has not waived it
    /// today.
    pub fn fleet_over(&self) -> Option<BudgetSpent> {
        (self.fleet_waived_on != Some(self.day) && self.budgets.fleet.reached_by(self.fleet))
            .then_some(BudgetSpent {
                scope: Scope::Fleet,
                spent: self.fleet,
                limit: self.budgets.fleet,
            })
    }

    /// An operator lifted the kill-switch: the fleet's limit no longer
    /// holds today.
    pub fn waive_fleet_today(&mut self) {
        self.fleet_waived_on = Some(self.day);
    }
}

/// The start of `now`'s UTC day.
pub fn day_start(now: DateTime<Utc>) -> DateTime<Utc> {
    now.date_naive().and_time(chrono::NaiveTime::MIN).and_utc()
}

/// How long from `now` until the next UTC day starts.
pub fn until_next_day(now: DateTime<Utc>) -> std::time::Duration {
    let next = day_start(now) + chrono::TimeDelta::days(1);
    (next - now).to_std().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
    }

    fn spend(usd: f64, tokens: u64) -> Spend {
        Spend { usd, tokens }
    }

    #[test]
    fn a_persona_reaches_its_budget_in_dollars_or_tokens_and_the_next_day_renews_it() {
        let budgets = Budgets {
            persona: Limit {
                usd: Some(0.50),
                tokens: Some(10_000),
            },
            fleet: Limit::default(),
        };
        let mut book = BudgetBook::new(budgets, day(29), [("anna".to_owned(), spend(0.40, 100))]);
        assert_eq!(book.persona_over("anna"), None);
        book.record("anna", spend(0.10, 100));
        let spent = book.persona_over("anna").unwrap();
        assert_eq!(spent.scope, Scope::Persona);
        assert_eq!(
            spent.to_string(),
            "budget: the persona's daily LLM budget is spent ($0.5000 of $0.5000, \
             PERSONA_BUDGET_USD; 200 of 10000 tokens, PERSONA_BUDGET_TOKENS); it renews at 00:00 UTC"
        );
        book.record("ben", spend(0.0, 10_000));
        assert!(book.persona_over("ben").is_some(), "tokens alone reach it");
        assert_eq!(book.fleet_over(), None, "no fleet budget set");
        assert!(!book.roll_to(day(29)), "the same day");
        assert!(book.roll_to(day(30)));
        assert_eq!(book.day(), day(30));
        assert_eq!(book.persona_over("anna"), None);
        assert_eq!(book.fleet_spent(), Spend::default());
    }

    #[test]
    fn the_fleet_budget_counts_every_persona_and_an_operator_waives_it_for_the_day() {
        let budgets = Budgets {
            persona: Limit::default(),
            fleet: Limit {
                usd: Some(1.0),
                tokens: None,
            },
        };
        let mut book = BudgetBook::new(budgets, day(28), []);
        book.record("anna", spend(0.6, 1));
        assert_eq!(book.fleet_over(), None);
        book.record("ben", spend(0.4, 1));
        assert_eq!(
            book.fleet_over().map(|spent| spent.scope),
            Some(Scope::Fleet)
        );
        book.waive_fleet_today();
        assert_eq!(book.fleet_over(), None, "lifted by an operator");
        assert!(book.roll_to(day(29)));
        book.record("anna", spend(1.0, 1));
        assert!(book.fleet_over().is_some(), "the waiver ends with its day");
    }

    #[test]
    fn the_next_day_starts_at_midnight_utc() {
        let now = "2026-11-30T23:59:30Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(until_next_day(now), std::time::Duration::from_secs(30));
        assert_eq!(
            day_start(now),
            "2026-11-30T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }
}
