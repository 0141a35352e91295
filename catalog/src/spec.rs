//! Typed persona specifications and the constrained values they are built from.
//!
//! Values here are already valid: they are produced by [`crate::load`] (which
//! reports what was wrong with the file) or by `parse` functions that return a
//! `Result`. Serialisation exists because the catalog is a file format and
//! personas are sent to the gateway's admin API.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// How often a persona wants to use the app; see [`crate::due`] for the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Cadence {
    Hourly,
    Daily,
    Weekdays,
}

impl Cadence {
    pub const ALL: [Cadence; 3] = [Cadence::Hourly, Cadence::Daily, Cadence::Weekdays];

    pub fn as_str(self) -> &'static str {
        match self {
            Cadence::Hourly => "hourly",
            Cadence::Daily => "daily",
            Cadence::Weekdays => "weekdays",
        }
    }

    /// Parses the catalog and database spelling (`hourly`, `daily`, `weekdays`).
    pub fn parse(text: &str) -> Result<Cadence, UnknownValue> {
        Cadence::ALL
            .into_iter()
            .find(|cadence| cadence.as_str() == text)
            .ok_or_else(|| UnknownValue::new("cadence", text, Cadence::ALL.map(Cadence::as_str)))
    }
}

impl fmt::Display for Cadence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of user a persona plays: a free label a catalog chooses
/// (`solo-dev`, `night-shift-nurse`), for any app. Its text is kept as
/// written: not blank, at most [`Archetype::MAX_CHARS`] characters, no
/// control characters. The built-in catalog's labels ([`KnownArchetype`])
/// are the ones the scripted simulator has tuned behaviour for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct Archetype(String);

impl Archetype {
    pub const MAX_CHARS: usize = 64;

    /// `text` as an archetype, if it is one.
    pub fn parse(text: &str) -> Result<Archetype, InvalidArchetype> {
        let problem = if text.trim().is_empty() {
            "must not be blank"
        } else if text.chars().count() > Archetype::MAX_CHARS {
            "is longer than 64 characters"
        } else if text.chars().any(char::is_control) {
            "holds a control character"
        } else {
            return Ok(Archetype(text.to_owned()));
        };
        Err(InvalidArchetype {
            given: text.chars().take(Archetype::MAX_CHARS).collect(),
            problem,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Which built-in label it is, if any.
    pub fn known(&self) -> Option<KnownArchetype> {
        KnownArchetype::ALL
            .into_iter()
            .find(|known| known.as_str() == self.0)
    }
}

impl TryFrom<String> for Archetype {
    type Error = InvalidArchetype;

    fn try_from(text: String) -> Result<Archetype, InvalidArchetype> {
        Archetype::parse(&text)
    }
}

impl From<Archetype> for String {
    fn from(archetype: Archetype) -> String {
        archetype.0
    }
}

impl From<KnownArchetype> for Archetype {
    fn from(known: KnownArchetype) -> Archetype {
        Archetype(known.as_str().to_owned())
    }
}

impl fmt::Display for Archetype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An archetype label that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("archetype {given:?} {problem}")]
pub struct InvalidArchetype {
    pub given: String,
    pub problem: &'static str,
}

/// The built-in catalog's archetypes; the scripted simulator keys its
/// behaviour on them (the overwhelmed newbie makes deliberate mistakes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KnownArchetype {
    AdhdStudent,
    CeoBusy,
    CreativeParent,
    SoloDev,
    Researcher,
    Freelancer,
    OverwhelmedNewbie,
}

impl KnownArchetype {
    pub const ALL: [KnownArchetype; 7] = [
        KnownArchetype::AdhdStudent,
        KnownArchetype::CeoBusy,
        KnownArchetype::CreativeParent,
        KnownArchetype::SoloDev,
        KnownArchetype::Researcher,
        KnownArchetype::Freelancer,
        KnownArchetype::OverwhelmedNewbie,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            KnownArchetype::AdhdStudent => "adhd-student",
            KnownArchetype::CeoBusy => "ceo-busy",
            KnownArchetype::CreativeParent => "creative-parent",
            KnownArchetype::SoloDev => "solo-dev",
            KnownArchetype::Researcher => "researcher",
            KnownArchetype::Freelancer => "freelancer",
            KnownArchetype::OverwhelmedNewbie => "overwhelmed-newbie",
        }
    }
}

/// The type of a shared space; `personal` spaces are created at signup and are
/// never declared in the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SpaceType {
    Personal,
    Family,
    Team,
    Practice,
    Brand,
    Club,
}

impl SpaceType {
    pub const ALL: [SpaceType; 6] = [
        SpaceType::Personal,
        SpaceType::Family,
        SpaceType::Team,
        SpaceType::Practice,
        SpaceType::Brand,
        SpaceType::Club,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SpaceType::Personal => "personal",
            SpaceType::Family => "family",
            SpaceType::Team => "team",
            SpaceType::Practice => "practice",
            SpaceType::Brand => "brand",
            SpaceType::Club => "club",
        }
    }

    pub fn parse(text: &str) -> Result<SpaceType, UnknownValue> {
        SpaceType::ALL
            .into_iter()
            .find(|space_type| space_type.as_str() == text)
            .ok_or_else(|| {
                UnknownValue::new("space type", text, SpaceType::ALL.map(SpaceType::as_str))
            })
    }
}

impl fmt::Display for SpaceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not one of the accepted spellings of an enum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {given:?}; expected one of: {}", accepted.join(", "))]
pub struct UnknownValue {
    pub what: &'static str,
    pub given: String,
    pub accepted: Vec<&'static str>,
}

impl UnknownValue {
    fn new<const N: usize>(what: &'static str, given: &str, accepted: [&'static str; N]) -> Self {
        UnknownValue {
            what,
            given: given.to_owned(),
            accepted: accepted.to_vec(),
        }
    }
}

/// Relative weights of the modules a persona uses: at least one module, no
/// negative or non-finite weight, summing to 1 ± [`ModuleMix::SUM_TOLERANCE`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "BTreeMap<String, f64>", into = "BTreeMap<String, f64>")]
pub struct ModuleMix(BTreeMap<String, f64>);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModuleMixError {
    #[error("names no modules; give at least one module a weight")]
    Empty,
    #[error("weight {weight} of module {module:?} is negative")]
    Negative { module: String, weight: f64 },
    #[error("weight of module {module:?} is not a finite number")]
    NotFinite { module: String },
    #[error(
        "weights sum to {sum:.4}; they must sum to 1 ± {}",
        ModuleMix::SUM_TOLERANCE
    )]
    Sum { sum: f64 },
}

impl ModuleMix {
    /// How far the sum of the weights may stray from 1.
    pub const SUM_TOLERANCE: f64 = 0.01;

    pub fn new(weights: BTreeMap<String, f64>) -> Result<ModuleMix, ModuleMixError> {
        if weights.is_empty() {
            return Err(ModuleMixError::Empty);
        }
        for (module, weight) in &weights {
            if !weight.is_finite() {
                return Err(ModuleMixError::NotFinite {
                    module: module.clone(),
                });
            }
            if *weight < 0.0 {
                return Err(ModuleMixError::Negative {
                    module: module.clone(),
                    weight: *weight,
                });
            }
        }
        let sum: f64 = weights.values().sum();
        if (sum - 1.0).abs() > ModuleMix::SUM_TOLERANCE {
            return Err(ModuleMixError::Sum { sum });
        }
        Ok(ModuleMix(weights))
    }

    pub fn weights(&self) -> impl Iterator<Item = (&str, f64)> {
        self.0
            .iter()
            .map(|(module, weight)| (module.as_str(), *weight))
    }

    pub fn modules(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    pub fn weight(&self, module: &str) -> Option<f64> {
        self.0.get(module).copied()
    }
}

impl TryFrom<BTreeMap<String, f64>> for ModuleMix {
    type Error = ModuleMixError;
    fn try_from(weights: BTreeMap<String, f64>) -> Result<Self, Self::Error> {
        ModuleMix::new(weights)
    }
}

impl From<ModuleMix> for BTreeMap<String, f64> {
    fn from(mix: ModuleMix) -> Self {
        mix.0
    }
}

/// A shared space this persona belongs to together with one partner persona.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SharedSpace {
    pub name: String,
    #[serde(rename = "type")]
    pub space_type: SpaceType,
    /// The partner's email; it names another persona of the same catalog.
    pub partner: String,
}

/// One persona as the catalog declares it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PersonaSpec {
    pub name: String,
    pub email: String,
    pub archetype: Archetype,
    pub cadence: Cadence,
    pub module_mix: ModuleMix,
    pub system_prompt: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shared_spaces: Vec<SharedSpace>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_their_spelling() {
        for cadence in Cadence::ALL {
            assert_eq!(Cadence::parse(cadence.as_str()), Ok(cadence));
        }
        for known in KnownArchetype::ALL {
            let archetype = Archetype::parse(known.as_str()).unwrap();
            assert_eq!(archetype.known(), Some(known));
            assert_eq!(archetype, Archetype::from(known));
        }
        for space_type in SpaceType::ALL {
            assert_eq!(SpaceType::parse(space_type.as_str()), Ok(space_type));
        }
    }

    #[test]
    fn an_archetype_is_any_label_that_reads_as_one() {
        let label = Archetype::parse("night-shift nurse").unwrap();
        assert_eq!(label.as_str(), "night-shift nurse");
        assert_eq!(label.known(), None);
        for (text, problem) in [
            ("  ", "must not be blank"),
            ("a\nb", "holds a control character"),
        ] {
            assert_eq!(Archetype::parse(text).unwrap_err().problem, problem);
        }
        let long = "x".repeat(Archetype::MAX_CHARS + 1);
        assert!(Archetype::parse(&long).is_err());
        let parsed: Archetype = serde_json::from_str("\"tester\"").unwrap();
        assert_eq!(parsed.as_str(), "tester");
        assert!(serde_json::from_str::<Archetype>("\"\"").is_err());
    }

    #[test]
    fn module_mix_checks_its_weights() {
        let mix = |pairs: &[(&str, f64)]| {
            ModuleMix::new(pairs.iter().map(|(m, w)| (m.to_string(), *w)).collect())
        };
        assert!(mix(&[("todo", 0.6), ("notes", 0.395)]).is_ok());
        assert_eq!(mix(&[]), Err(ModuleMixError::Empty));
        assert!(matches!(
            mix(&[("todo", 1.2), ("notes", -0.2)]),
            Err(ModuleMixError::Negative { .. })
        ));
        assert!(matches!(
            mix(&[("todo", 0.5)]),
            Err(ModuleMixError::Sum { .. })
        ));
        assert!(matches!(
            mix(&[("todo", f64::NAN)]),
            Err(ModuleMixError::NotFinite { .. })
        ));
        assert!(serde_json::from_str::<ModuleMix>(r#"{"todo": 0.2}"#).is_err());
    }

    #[test]
    fn unknown_value_lists_what_is_accepted() {
        let error = Cadence::parse("monthly").unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown cadence \"monthly\"; expected one of: hourly, daily, weekdays"
        );
    }
}
