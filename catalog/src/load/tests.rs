//! The catalog loader on the shipped catalog and on broken ones: every
//! problem reported with its JSON path, errors and warnings told apart,
//! partnerships checked both ways, and nothing panics.

use serde_json::json;

use super::*;
use crate::KnownArchetype;

const MODULES: &[&str] = &[
    "todo", "journal", "notes", "habits", "mood", "calendar", "contacts", "spaces",
];

fn options() -> LoadOptions<'static> {
    LoadOptions {
        test_domain: DEFAULT_TEST_DOMAIN,
        known_modules: Some(MODULES),
    }
}

fn persona(name: &str, email: &str) -> Value {
    json!({
        "name": name,
        "email": email,
        "archetype": "solo-dev",
        "cadence": "daily",
        "moduleMix": { "todo": 0.5, "notes": 0.5 },
        "systemPrompt": "Du bist eine Testperson."
    })
}

fn problems(value: Value) -> Vec<Problem> {
    match Catalog::from_value(&value, options()) {
        Err(CatalogError::Invalid { problems }) => problems,
        other => panic!("expected an invalid catalog, got {other:?}"),
    }
}

fn error_paths(value: Value) -> Vec<String> {
    problems(value)
        .into_iter()
        .filter(|problem| problem.severity == Severity::Error)
        .map(|problem| problem.path)
        .collect()
}

#[test]
fn shipped_catalog_is_valid_without_warnings() {
    let catalog = Catalog::shipped(options()).unwrap();
    assert_eq!(catalog.personas.len(), 10);
    assert!(catalog.warnings.is_empty(), "{:?}", catalog.warnings);
    let count = |archetype: Archetype| {
        catalog
            .personas
            .iter()
            .filter(|persona| persona.archetype == archetype)
            .count()
    };
    assert_eq!(count(Archetype::from(KnownArchetype::AdhdStudent)), 2);
    assert_eq!(count(Archetype::from(KnownArchetype::CeoBusy)), 2);
    assert_eq!(count(Archetype::from(KnownArchetype::CreativeParent)), 2);
    for single in [
        Archetype::from(KnownArchetype::SoloDev),
        Archetype::from(KnownArchetype::Researcher),
        Archetype::from(KnownArchetype::Freelancer),
        Archetype::from(KnownArchetype::OverwhelmedNewbie),
    ] {
        assert_eq!(count(single.clone()), 1, "{single}");
    }
}

#[test]
fn shipped_catalog_pairs_share_spaces_both_ways() {
    let catalog = Catalog::shipped(options()).unwrap();
    let partners_of = |first_name: &str| -> Vec<(String, SpaceType)> {
        let persona = catalog
            .personas
            .iter()
            .find(|p| p.name.starts_with(first_name))
            .unwrap();
        persona
            .shared_spaces
            .iter()
            .map(|space| {
                let partner = catalog.find_by_email(&space.partner).unwrap();
                (
                    partner.name.split(' ').next().unwrap().to_owned(),
                    space.space_type,
                )
            })
            .collect()
    };
    assert_eq!(
        partners_of("Anna"),
        vec![("Ben".to_owned(), SpaceType::Family)]
    );
    assert_eq!(
        partners_of("Ben"),
        vec![("Anna".to_owned(), SpaceType::Family)]
    );
    assert_eq!(
        partners_of("Marcus"),
        vec![("Lena".to_owned(), SpaceType::Team)]
    );
    assert_eq!(
        partners_of("Lena"),
        vec![("Marcus".to_owned(), SpaceType::Team)]
    );
    assert_eq!(
        partners_of("Sofia"),
        vec![("Tom".to_owned(), SpaceType::Family)]
    );
    assert_eq!(
        partners_of("Tom"),
        vec![("Sofia".to_owned(), SpaceType::Family)]
    );
}

#[test]
fn reports_every_problem_with_its_path() {
    let mut bad_weights = persona("B", "b@mana.test");
    bad_weights["moduleMix"] = json!({ "todo": 0.7, "notes": 0.7 });
    let mut negative = persona("C", "c@mana.test");
    negative["moduleMix"] = json!({ "todo": 1.2, "notes": -0.2 });
    let mut many = persona("D", "d@example.com");
    many["cadence"] = json!("monthly");
    many["systemPrompt"] = json!("   ");
    many["archetype"] = json!(7);
    let catalog = json!({
        "version": 1,
        "personas": [persona("A", "a@mana.test"), bad_weights, negative, many, persona("A", "a@mana.test")]
    });
    assert_eq!(
        error_paths(catalog),
        vec![
            "$.personas[1].moduleMix",
            "$.personas[2].moduleMix.notes",
            "$.personas[3].email",
            "$.personas[3].archetype",
            "$.personas[3].cadence",
            "$.personas[3].systemPrompt",
            "$.personas[4].email",
            "$.personas[4].name",
        ]
    );
}

#[test]
fn messages_say_what_is_wrong_and_what_is_accepted() {
    let mut entry = persona("A", "a@gmail.com");
    entry["cadence"] = json!("monthly");
    let text = CatalogError::Invalid {
        problems: problems(json!({ "personas": [entry] })),
    }
    .to_string();
    assert!(text.contains("the catalog has 2 error(s)"), "{text}");
    assert!(
        text.contains("error: $.personas[0].email: \"a@gmail.com\" uses domain \"gmail.com\""),
        "{text}"
    );
    assert!(
        text.contains("unknown cadence \"monthly\"; expected one of: hourly, daily, weekdays"),
        "{text}"
    );
}

#[test]
fn malformed_emails_are_errors() {
    for email in [
        "no-at-sign",
        "@mana.test",
        "a b@mana.test",
        "a@",
        "a@@mana.test",
        ".a@mana.test",
    ] {
        let paths = error_paths(json!({ "personas": [persona("A", email)] }));
        assert_eq!(paths, vec!["$.personas[0].email"], "{email}");
    }
}

#[test]
fn duplicate_email_ignores_case() {
    let catalog = json!({ "personas": [persona("A", "a@mana.test"), persona("B", "A@Mana.Test")] });
    assert_eq!(error_paths(catalog), vec!["$.personas[1].email"]);
}

#[test]
fn test_domain_is_configurable() {
    let catalog = json!({ "personas": [persona("A", "a@qa.example")] });
    let options = LoadOptions {
        test_domain: "qa.example",
        known_modules: None,
    };
    assert!(Catalog::from_value(&catalog, options).is_ok());
}

#[test]
fn weights_within_tolerance_pass() {
    let mut entry = persona("A", "a@mana.test");
    entry["moduleMix"] = json!({ "todo": 0.333, "notes": 0.333, "mood": 0.333 });
    assert!(Catalog::from_value(&json!({ "personas": [entry] }), options()).is_ok());
}

#[test]
fn unknown_module_is_only_a_warning() {
    let mut entry = persona("A", "a@mana.test");
    entry["moduleMix"] = json!({ "todo": 0.5, "recipes": 0.5 });
    let catalog = Catalog::from_value(&json!({ "personas": [entry] }), options()).unwrap();
    assert_eq!(catalog.personas.len(), 1);
    assert_eq!(catalog.warnings.len(), 1);
    assert_eq!(catalog.warnings[0].path, "$.personas[0].moduleMix.recipes");
    assert_eq!(catalog.warnings[0].severity, Severity::Warning);
}

#[test]
fn unknown_partner_and_self_partner_are_errors() {
    let mut a = persona("A", "a@mana.test");
    a["sharedSpaces"] = json!([
        { "name": "Team", "type": "team", "partner": "nobody@mana.test" },
        { "name": "Solo", "type": "club", "partner": "a@mana.test" },
        { "name": "Mine", "type": "personal", "partner": "b@mana.test" }
    ]);
    let paths = error_paths(json!({ "personas": [a, persona("B", "b@mana.test")] }));
    assert_eq!(paths, vec!["$.personas[0].sharedSpaces[2].type"]);

    let mut a = persona("A", "a@mana.test");
    a["sharedSpaces"] = json!([
        { "name": "Team", "type": "team", "partner": "nobody@mana.test" },
        { "name": "Solo", "type": "club", "partner": "a@mana.test" }
    ]);
    let paths = error_paths(json!({ "personas": [a] }));
    assert_eq!(
        paths,
        vec![
            "$.personas[0].sharedSpaces[0].partner",
            "$.personas[0].sharedSpaces[1].partner"
        ]
    );
}

#[test]
fn one_sided_partnership_is_a_warning() {
    let mut a = persona("A", "a@mana.test");
    a["sharedSpaces"] = json!([{ "name": "Team", "type": "team", "partner": "b@mana.test" }]);
    let catalog = Catalog::from_value(
        &json!({ "personas": [a, persona("B", "b@mana.test")] }),
        options(),
    )
    .unwrap();
    assert_eq!(catalog.warnings.len(), 1);
    assert_eq!(
        catalog.warnings[0].path,
        "$.personas[0].sharedSpaces[0].partner"
    );
}

#[test]
fn structural_problems_are_reported_not_panicked() {
    assert_eq!(error_paths(json!([])), vec!["$"]);
    assert_eq!(error_paths(json!({ "personas": {} })), vec!["$.personas"]);
    assert_eq!(error_paths(json!({ "personas": [] })), vec!["$.personas"]);
    assert_eq!(
        error_paths(json!({ "version": 2, "personas": [persona("A", "a@mana.test")] })),
        vec!["$.version"]
    );
    assert_eq!(
        error_paths(json!({ "personas": ["text"] })),
        vec!["$.personas[0]"]
    );
    let mut entry = persona("A", "a@mana.test");
    entry["moduleMix"] = json!({ "todo": "lots" });
    entry.as_object_mut().unwrap().remove("name");
    assert_eq!(
        error_paths(json!({ "personas": [entry] })),
        vec!["$.personas[0].name", "$.personas[0].moduleMix.todo"]
    );
}

#[test]
fn syntax_errors_name_line_and_column() {
    let error = Catalog::from_json_str("{\n  \"personas\": [,]\n}", options()).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("the catalog is not valid JSON (line 2"),
        "{error}"
    );
}

#[test]
fn unknown_field_is_a_warning_with_its_path() {
    let mut entry = persona("A", "a@mana.test");
    entry["modulMix"] = json!({});
    let catalog = Catalog::from_value(&json!({ "personas": [entry] }), options()).unwrap();
    assert_eq!(catalog.warnings[0].path, "$.personas[0].modulMix");
}

#[test]
fn round_trips_through_serde() {
    let catalog = Catalog::shipped(options()).unwrap();
    let text = serde_json::to_string(&json!({ "personas": catalog.personas })).unwrap();
    let again = Catalog::from_json_str(&text, options()).unwrap();
    assert_eq!(again.personas, catalog.personas);
}

#[test]
fn a_partner_with_a_broken_entry_is_not_reported_twice() {
    let mut a = persona("A", "a@mana.test");
    a["sharedSpaces"] = json!([{ "name": "Team", "type": "team", "partner": "b@mana.test" }]);
    let mut b = persona("B", "b@mana.test");
    b["cadence"] = json!("monthly");
    assert_eq!(
        error_paths(json!({ "personas": [a, b] })),
        vec!["$.personas[1].cadence"]
    );
}

#[test]
fn a_draft_loads_with_a_warning_and_any_archetype_label() {
    let mut tester = persona("Tess Ter", "tess@mana.test");
    tester["archetype"] = json!("night-shift tester");
    let catalog = Catalog::from_value(
        &json!({ "version": 1, "draft": "written by persona catalog init", "personas": [tester] }),
        options(),
    )
    .unwrap();
    assert_eq!(catalog.personas[0].archetype.as_str(), "night-shift tester");
    assert_eq!(catalog.warnings.len(), 1, "{:?}", catalog.warnings);
    assert_eq!(catalog.warnings[0].path, "$.draft");

    let mut blank = persona("Bea Blank", "bea@mana.test");
    blank["archetype"] = json!(" ");
    assert_eq!(
        error_paths(json!({ "personas": [blank], "draft": true })),
        ["$.draft", "$.personas[0].archetype"]
    );
}
