//! What a persona is told: the day prompt (the target's template, or the
//! language's own) and the rating prompt, in the target's language
//! (`prompt.language`: German, the built-in catalog's, or English). The day
//! log they quote is rendered in the same language (`day_log`).

use std::collections::BTreeSet;

use catalog::target::Language;

use crate::day_log::DayLog;
use crate::tick::{Day, PersonaProfile};

const WEEKDAYS_DE: [&str; 7] = [
    "Montag",
    "Dienstag",
    "Mittwoch",
    "Donnerstag",
    "Freitag",
    "Samstag",
    "Sonntag",
];

const WEEKDAYS_EN: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

const DAY_DE: &str = "{memory}Heute ist {weekday}, der {date}. Verbringe einen ganz normalen Tag mit der App {app}, so wie {persona.name} es tun würde. \
     Nutze dafür 3 bis 8 Werkzeuge, vor allem aus diesen Bereichen: {modules}. \
     Arbeite mit echten Inhalten aus deinem Alltag. Wenn du fertig bist, fasse in zwei Sätzen zusammen, was du gemacht hast.";

const DAY_EN: &str = "{memory}Today is {weekday}, {date}. Spend an ordinary day with the app {app}, the way {persona.name} would. \
     Use 3 to 8 tools for it, mostly from these areas: {modules}. \
     Work with real content from your everyday life. When you are done, sum up in two sentences what you did.";

/// The main turn's user prompt: the target's template or the language's
/// own, filled for this persona and day (with its memory of the days
/// before, when it has one).
pub fn day_prompt(persona: &PersonaProfile, day: &Day) -> String {
    use chrono::Datelike as _;
    let weekday = day.now.weekday().num_days_from_monday() as usize;
    let (weekday, date, memory_label, template) = match day.language {
        Language::German => (
            WEEKDAYS_DE[weekday],
            day.now.format("%d.%m.%Y").to_string(),
            "Was bisher geschah (deine eigenen Notizen)",
            DAY_DE,
        ),
        Language::English => (
            WEEKDAYS_EN[weekday],
            day.now.format("%Y-%m-%d").to_string(),
            "The story so far (your own notes)",
            DAY_EN,
        ),
    };
    let mix: Vec<String> = persona
        .module_mix
        .weights()
        .map(|(module, weight)| format!("{module} ({:.0} %)", weight * 100.0))
        .collect();
    let memory = match &day.memory {
        Some(memory) => format!("{memory_label}: {memory}\n\n"),
        None => String::new(),
    };
    // One pass over the template, so a filled value that happens to hold a
    // placeholder's text is never filled again.
    let template = day.template.as_deref().unwrap_or(template);
    let values = [
        ("{memory}", memory.as_str()),
        ("{weekday}", weekday),
        ("{date}", date.as_str()),
        ("{app}", day.app.as_str()),
        ("{persona.name}", persona.name.as_str()),
        ("{modules}", &mix.join(", ")),
    ];
    let mut prompt = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        prompt.push_str(&rest[..start]);
        let tail = &rest[start..];
        match values.iter().find(|(name, _)| tail.starts_with(name)) {
            Some((name, value)) => {
                prompt.push_str(value);
                rest = &tail[name.len()..];
            }
            None => {
                prompt.push('{');
                rest = &tail[1..];
            }
        }
    }
    prompt.push_str(rest);
    prompt
}

/// The rating turn's prompt: the day's calls (numbered, with how each
/// went), then rate every module used citing the calls by number, through
/// the `submit_ratings` tool (or, from a model that answers in text, as the
/// same JSON).
pub fn rating_prompt(used_modules: &BTreeSet<String>, day: &DayLog, language: Language) -> String {
    let modules: Vec<&str> = used_modules.iter().map(String::as_str).collect();
    let log = day.render(crate::day_log::LOG_CHARS, language);
    let tool = crate::rating::RATING_TOOL;
    let modules = modules.join(", ");
    match language {
        Language::German => format!(
            "Das hast du heute in der App getan, Aufruf für Aufruf:\n{log}\n\
             Du hast dabei diese Bereiche benutzt (bei jedem Aufruf in eckigen Klammern): {modules}. Bewerte jeden davon aus deiner Sicht mit 1 (furchtbar) bis 5 \
             (großartig), nach dem, was du oben erlebt hast, und begründe kurz; nenne in der Begründung die Nummern der \
             Aufrufe, um die es geht (zum Beispiel #2), und trage sie unter calls ein. Schreibe unter story in wenigen \
             Sätzen auf, was bisher geschah und was du dir für morgen merken willst. Rufe dafür das Werkzeug {tool} auf, \
             oder antworte ausschließlich mit JSON in genau dieser Form: \
             {{\"ratings\":[{{\"module\":\"todo\",\"rating\":4,\"notes\":\"#1 ging schnell, #2 …\",\"calls\":[1,2]}}],\"story\":\"…\"}}"
        ),
        Language::English => format!(
            "This is what you did in the app today, call by call:\n{log}\n\
             You used these areas (each call names its area in square brackets): {modules}. Rate each of them from your point of view from 1 (awful) to 5 \
             (great), by what you went through above, and say briefly why; name the numbers of the calls you mean \
             (for example #2) in your reasons, and list them under calls. Under story, write in a few sentences what \
             happened so far and what you want to remember for tomorrow. Call the tool {tool} for this, \
             or answer with nothing but JSON of exactly this shape: \
             {{\"ratings\":[{{\"module\":\"todo\",\"rating\":4,\"notes\":\"#1 was quick, #2 …\",\"calls\":[1,2]}}],\"story\":\"…\"}}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use catalog::{Cadence, KnownArchetype, ModuleMix};
    use chrono::TimeZone as _;

    use super::*;

    fn persona() -> PersonaProfile {
        PersonaProfile {
            id: "p1".into(),
            email: "greta@mana.test".into(),
            name: "Greta".into(),
            archetype: KnownArchetype::SoloDev.into(),
            module_mix: ModuleMix::new([("echo".to_owned(), 1.0)].into()).unwrap(),
            system_prompt: String::new(),
            cadence: Cadence::Daily,
        }
    }

    fn day(language: Language, template: Option<&str>) -> Day {
        Day {
            now: chrono::Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap(),
            memory: Some("gestern {app}".into()),
            app: "Everything".into(),
            language,
            template: template.map(Arc::from),
        }
    }

    #[test]
    fn the_day_prompt_speaks_the_targets_language() {
        let german = day_prompt(&persona(), &day(Language::German, None));
        assert!(german.starts_with("Was bisher geschah (deine eigenen Notizen): gestern {app}\n\nHeute ist Dienstag, der 01.12.2026."), "{german}");
        assert!(
            german.contains("mit der App Everything, so wie Greta"),
            "{german}"
        );
        let english = day_prompt(&persona(), &day(Language::English, None));
        assert!(english.contains("Today is Tuesday, 2026-12-01. Spend an ordinary day with the app Everything, the way Greta would."), "{english}");
        assert!(english.contains("echo (100 %)"), "{english}");
    }

    #[test]
    fn a_template_is_filled_once_and_keeps_other_braces() {
        let prompt = day_prompt(
            &persona(),
            &day(
                Language::English,
                Some("{weekday} in {app} for {persona.name}: {modules} {\"json\":1}"),
            ),
        );
        assert_eq!(
            prompt,
            "Tuesday in Everything for Greta: echo (100 %) {\"json\":1}"
        );
    }
}
