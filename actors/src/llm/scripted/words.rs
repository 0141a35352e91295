//! The small German vocabularies the scripted simulator fills strings from,
//! keyed by field name and, where it matters, by module.
//!
//! Everything here is plain data. The lists are short on purpose: realism
//! comes from picking a fitting list per field, not from list length, and
//! short lists make searches find what an earlier call created.

/// A list of candidate values for a string field, chosen by module and field
/// name; `None` when the field has no list of its own.
pub(super) fn for_field(module: &str, field: &str) -> Option<&'static [&'static str]> {
    let field = field.to_ascii_lowercase();
    let list: &'static [&'static str] = match (module, field.as_str()) {
        ("todo", "title") => TODO_TITLES,
        ("calendar", "title") => EVENT_TITLES,
        ("notes", "title") => NOTE_TITLES,
        ("journal", "title") => JOURNAL_TITLES,
        ("habits", "name") => HABIT_NAMES,
        ("contacts", "name") => PERSON_NAMES,
        (_, "title") => TODO_TITLES,
        (_, "name") => GENERIC_NAMES,
        (_, "content") => CONTENTS,
        (_, "description" | "notes" | "note" | "comment") => REMARKS,
        (_, "location" | "place") => LOCATIONS,
        (_, "withwhom") => COMPANY,
        (_, "tags" | "tag" | "labels" | "label") => TAGS,
        (_, "subtasks" | "subtask" | "items" | "steps") => SUBTASKS,
        ("contacts", "query" | "q" | "search") => CONTACT_QUERIES,
        (_, "query" | "q" | "search") => QUERIES,
        _ => return None,
    };
    Some(list)
}

/// Used for strings no list covers: plain nouns, valid almost anywhere.
pub(super) const FALLBACK: &[&str] = &[
    "Alltag",
    "Planung",
    "Wochenende",
    "Projekt",
    "Familie",
    "Arbeit",
];

/// Known-good values for fields whose format a schema constrains with a
/// `pattern` the simulator cannot evaluate (it has no regex engine).
pub(super) fn known_good(field: &str) -> Option<&'static str> {
    let field = field.to_ascii_lowercase();
    let value = match field.as_str() {
        "color" | "colour" => "#3366cc",
        "phone" | "telephone" | "mobile" => "+49 30 1234567",
        "email" | "mail" => "anna@example.org",
        "url" | "website" | "homepage" => "https://example.org",
        "language" | "locale" | "lang" => "de",
        "timezone" | "tz" => "Europe/Berlin",
        "currency" => "EUR",
        _ => return None,
    };
    Some(value)
}

/// A few display colours, all `#RRGGBB`.
pub(super) const COLORS: &[&str] = &["#3366cc", "#cc6633", "#33aa66", "#aa33aa"];

/// Local parts for generated email addresses (`name@example.org`).
pub(super) const MAIL_NAMES: &[&str] = &["anna", "jonas", "lena", "paul", "mia"];

/// The German word a user might type for a field's name; `titel` for
/// `title` is the classic.
pub(super) fn german_field(field: &str) -> Option<&'static str> {
    let german = match field {
        "title" => "titel",
        "name" => "namen",
        "content" => "inhalt",
        "description" => "beschreibung",
        "notes" | "note" => "notiz",
        "query" => "suche",
        "date" => "datum",
        "dueDate" => "faellig",
        "start" => "beginn",
        "location" => "ort",
        "limit" => "anzahl",
        "status" => "zustand",
        _ => return None,
    };
    Some(german)
}

/// Wrong spellings of enum values a hurried German speaker might type.
pub(super) fn german_for(value: &str) -> &'static str {
    match value {
        "high" => "hoch",
        "low" => "niedrig",
        "normal" | "medium" => "mittel",
        "daily" => "täglich",
        "weekly" => "wöchentlich",
        "monthly" => "monatlich",
        "open" => "offen",
        "done" => "erledigt",
        "all" => "alle",
        _ => "dringend",
    }
}

const TODO_TITLES: &[&str] = &[
    "Steuererklärung abgeben",
    "Zahnarzt anrufen",
    "Wäsche waschen",
    "Einkaufen gehen",
    "Präsentation vorbereiten",
    "Rechnung schreiben",
    "Geburtstagsgeschenk besorgen",
    "Fahrrad reparieren",
];

const EVENT_TITLES: &[&str] = &[
    "Teammeeting",
    "Zahnarzttermin",
    "Elternabend",
    "Kundentermin",
    "Yoga-Kurs",
    "Abendessen mit Freunden",
];

const NOTE_TITLES: &[&str] = &[
    "Ideen fürs Wochenende",
    "Rezept Linsensuppe",
    "Buchnotizen",
    "Einkaufsliste",
    "Projektideen",
    "Urlaubsplanung",
];

const JOURNAL_TITLES: &[&str] = &[
    "Ein ruhiger Tag",
    "Viel geschafft",
    "Anstrengender Montag",
    "Schöner Abend",
];

const HABIT_NAMES: &[&str] = &[
    "Meditieren",
    "Wasser trinken",
    "Joggen",
    "Lesen",
    "Früh schlafen",
    "Vokabeln lernen",
];

const PERSON_NAMES: &[&str] = &[
    "Anna Schmidt",
    "Jonas Becker",
    "Lena Wagner",
    "Paul Hoffmann",
    "Mia Schulz",
];

const GENERIC_NAMES: &[&str] = &["Projekt Sommer", "Haushalt", "Lesezirkel", "Umzug"];

const CONTENTS: &[&str] = &[
    "Heute war viel los, aber ich habe das Wichtigste geschafft.",
    "Morgens Sport, danach konzentriert gearbeitet. Abends noch gekocht.",
    "Zwiebeln anbraten, Linsen dazu, mit Brühe aufgießen und 20 Minuten köcheln lassen.",
    "Die Besprechung lief gut, nächste Woche geht es mit dem Entwurf weiter.",
    "Ich war müde, habe mich aber trotzdem zum Spaziergang aufgerafft.",
];

const REMARKS: &[&str] = &[
    "Nicht vergessen!",
    "Vorher Unterlagen zusammensuchen.",
    "Hat Zeit bis nächste Woche.",
    "Mit Anna absprechen.",
    "Lief besser als gedacht.",
];

const LOCATIONS: &[&str] = &[
    "Büro",
    "Praxis Dr. Müller",
    "Zuhause",
    "Café am Markt",
    "Schule",
];

const COMPANY: &[&str] = &["allein", "mit Anna", "Familie", "Kollegen"];

const TAGS: &[&str] = &["arbeit", "privat", "ideen", "einkauf", "gesundheit"];

const SUBTASKS: &[&str] = &[
    "Unterlagen sammeln",
    "Formular ausfüllen",
    "Termin bestätigen",
    "Liste schreiben",
];

/// Searches fall back to these when nothing was created earlier in the tick.
const QUERIES: &[&str] = &["Termin", "Ideen", "Projekt", "Rezept"];

/// People are looked up by first name.
const CONTACT_QUERIES: &[&str] = &["Anna", "Jonas", "Lena", "Paul"];
