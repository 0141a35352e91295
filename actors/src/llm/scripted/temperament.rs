//! How an archetype behaves, in numbers (how often it slips, how often it
//! fills in optional fields), and how it turns a module's record into a
//! rating and notes.

use catalog::{Archetype, KnownArchetype};

use super::review::ModuleRecord;

/// How an archetype behaves, in numbers.
#[derive(Debug, Clone, Copy)]
pub(super) struct Temperament {
    /// Share of calls spoilt with a mistake of any kind.
    pub(super) mistake_rate: f64,
    /// Share of calls that name a record by a made-up id (when the tool
    /// takes one); a typo-level slip even careful users make.
    pub(super) made_up_id_rate: f64,
    /// Chance of filling in an optional field.
    pub(super) optional_rate: f64,
    /// The rating given when everything worked.
    patience: f64,
    newbie: bool,
}

impl Temperament {
    /// A label the simulator has no tuning for behaves like an ordinary
    /// careful user.
    pub(super) fn of(archetype: &Archetype) -> Temperament {
        let careful = |made_up_id_rate, optional_rate| Temperament {
            mistake_rate: 0.0,
            made_up_id_rate,
            optional_rate,
            patience: 5.0,
            newbie: false,
        };
        match archetype.known() {
            Some(KnownArchetype::OverwhelmedNewbie) => Temperament {
                mistake_rate: 0.3,
                made_up_id_rate: 0.0,
                optional_rate: 0.3,
                patience: 4.0,
                newbie: true,
            },
            Some(KnownArchetype::AdhdStudent) => careful(0.05, 0.4),
            Some(KnownArchetype::CeoBusy) => careful(0.03, 0.25),
            Some(KnownArchetype::Researcher) => careful(0.02, 0.75),
            Some(KnownArchetype::SoloDev) => careful(0.02, 0.5),
            Some(KnownArchetype::CreativeParent | KnownArchetype::Freelancer) | None => {
                careful(0.03, 0.5)
            }
        }
    }

    /// Starts at the archetype's patience, loses up to two points for the
    /// share of failed calls and one more for failing at all.
    pub(super) fn rating(&self, record: &ModuleRecord) -> i64 {
        let fraction = if record.observed == 0 {
            0.0
        } else {
            f64::from(record.errors) / f64::from(record.observed)
        };
        let penalty = if record.errors > 0 { 1.0 } else { 0.0 };
        (self.patience - 2.0 * fraction - penalty)
            .round()
            .clamp(1.0, 5.0) as i64
    }

    pub(super) fn notes(&self, record: &ModuleRecord) -> String {
        let Some((tool, message)) = &record.first_error else {
            let calls = match record.calls {
                1 => "1 Aufruf".to_owned(),
                n => format!("{n} Aufrufe"),
            };
            return if self.newbie {
                format!(
                    "Hat geklappt ({calls} ohne Fehler), aber ich musste erst herausfinden, \
                     wie alles funktioniert."
                )
            } else {
                format!("Alles hat funktioniert: {calls} ohne Fehler.")
            };
        };
        let message: String = message.chars().take(120).collect();
        let tail = if self.newbie {
            "Ich wusste nicht genau, was ich falsch gemacht hatte."
        } else {
            "Die Fehlermeldung hat immerhin gesagt, was nicht stimmte."
        };
        format!(
            "{} von {} Aufrufen sind fehlgeschlagen, z. B. {tool}: „{}“. {tail}",
            record.errors,
            record.observed,
            message.trim()
        )
    }
}
