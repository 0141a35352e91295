//! Behaviour of each module's tools on the real store, per backend.

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use super::{envs, id_of};

fn names(list: &Value, key: &str, field: &str) -> Vec<String> {
    list[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item[field].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn habits_create_list_update_log_archive() {
    for env in envs().await {
        let reading = env
            .ok(
                "habits.create",
                json!({ "name": "Lesen", "frequency": "daily" }),
            )
            .await;
        assert_eq!(reading["targetPerPeriod"], 1);
        assert_eq!(reading["archived"], false);
        let sport = env.ok("habits.create", json!({ "name": "Sport", "frequency": "weekly", "targetPerPeriod": 3, "color": "#22aa66" })).await;
        assert!(
            env.invalid(
                "habits.create",
                json!({ "name": "x", "frequency": "monthly", "color": "green" })
            )
            .await
            .contains("frequency:")
        );

        let logged = env
            .ok(
                "habits.log",
                json!({ "id": id_of(&reading), "note": "20 Seiten" }),
            )
            .await;
        assert_eq!(logged["doneThisPeriod"], 1, "{}", env.db.label);
        assert_eq!(logged["log"]["habitId"], id_of(&reading));
        let tomorrow = (Utc::now() + Duration::days(2)).date_naive().to_string();
        assert!(
            env.invalid(
                "habits.log",
                json!({ "id": id_of(&reading), "date": tomorrow })
            )
            .await
            .contains("date:")
        );

        let list = env.ok("habits.list", json!({})).await;
        assert_eq!(
            names(&list, "habits", "name"),
            vec!["Lesen", "Sport"],
            "{}",
            env.db.label
        );
        assert_eq!(list["habits"][0]["doneThisPeriod"], 1);

        let renamed = env
            .ok(
                "habits.update",
                json!({ "id": id_of(&sport), "name": "Laufen", "targetPerPeriod": 2 }),
            )
            .await;
        assert_eq!(
            (renamed["name"].clone(), renamed["targetPerPeriod"].clone()),
            (json!("Laufen"), json!(2))
        );
        assert!(
            env.call("habits.update", json!({ "id": id_of(&sport) }))
                .await
                .is_err(),
            "nothing to update"
        );

        let archived = env
            .ok("habits.archive", json!({ "id": id_of(&sport) }))
            .await;
        assert_eq!(archived["archived"], true);
        assert_eq!(
            names(&env.ok("habits.list", json!({})).await, "habits", "name"),
            vec!["Lesen"]
        );
        assert_eq!(
            env.ok("habits.list", json!({ "includeArchived": true }))
                .await["habits"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        let on_archived = env
            .call("habits.log", json!({ "id": id_of(&sport) }))
            .await
            .unwrap_err();
        assert!(
            on_archived.to_string().contains("archived"),
            "{on_archived}"
        );
        let unknown = env
            .call("habits.archive", json!({ "id": uuid::Uuid::now_v7() }))
            .await
            .unwrap_err();
        assert!(
            matches!(unknown, registry::ToolError::NotFound { .. }),
            "{unknown:?}"
        );
        env.db.finish().await;
    }
}

#[tokio::test]
async fn spaces_list_marks_the_current_space() {
    for env in envs().await {
        let other = env
            .db
            .store
            .create_space(&env.user.id, "Familie", catalog::SpaceType::Family)
            .await
            .unwrap();
        let spaces = env.ok("spaces.list", json!({})).await;
        let listed: Vec<(String, String, bool)> = spaces["spaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["name"].as_str().unwrap().to_owned(),
                    s["type"].as_str().unwrap().to_owned(),
                    s["current"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(listed[0].1, "personal");
        assert!(listed[0].2, "the personal space is the current one");
        assert_eq!(
            listed[1],
            ("Familie".to_owned(), "family".to_owned(), false)
        );
        assert_eq!(spaces["spaces"][1]["id"], other.id);
        env.db.finish().await;
    }
}

#[tokio::test]
async fn notes_create_and_search_decrypted_text() {
    for env in envs().await {
        env.ok("notes.create", json!({ "title": "Müllabfuhr", "content": "Gelbe Tonne am Dienstag rausstellen", "tags": ["haushalt"] })).await;
        env.ok(
            "notes.create",
            json!({ "title": "Buchideen", "content": "Roman über eine Bibliothekarin" }),
        )
        .await;
        let found = env.ok("notes.search", json!({ "query": "TONNE" })).await;
        assert_eq!(
            names(&found, "notes", "title"),
            vec!["Müllabfuhr"],
            "{}",
            env.db.label
        );
        assert!(
            found["notes"][0]["snippet"]
                .as_str()
                .unwrap()
                .contains("Tonne")
        );
        assert_eq!(
            env.ok("notes.search", json!({ "query": "haushalt" })).await["total"],
            1,
            "tags are searched"
        );
        assert_eq!(
            env.ok("notes.search", json!({ "query": "nichts dergleichen" }))
                .await["total"],
            0
        );
        assert!(
            env.invalid("notes.search", json!({ "query": " " }))
                .await
                .contains("query")
        );
        env.db.finish().await;
    }
}

#[tokio::test]
async fn journal_add_and_list_newest_first() {
    for env in envs().await {
        env.ok(
            "journal.add",
            json!({ "content": "Erster Eintrag", "date": "2026-11-01" }),
        )
        .await;
        env.ok("journal.add", json!({ "content": "Zweiter Eintrag", "date": "2026-11-10", "title": "Gut", "mood": 4 })).await;
        env.ok("journal.add", json!({ "content": "Heute" })).await;
        let all = env.ok("journal.list", json!({})).await;
        assert_eq!(
            names(&all, "entries", "content"),
            vec!["Heute", "Zweiter Eintrag", "Erster Eintrag"],
            "{}",
            env.db.label
        );
        let window = env
            .ok(
                "journal.list",
                json!({ "from": "2026-11-05", "to": "2026-11-15" }),
            )
            .await;
        assert_eq!(
            names(&window, "entries", "content"),
            vec!["Zweiter Eintrag"]
        );
        assert!(
            env.invalid(
                "journal.list",
                json!({ "from": "2026-11-30", "to": "2026-11-01" })
            )
            .await
            .contains("from")
        );
        assert!(
            env.invalid("journal.add", json!({ "content": "" }))
                .await
                .contains("content")
        );
        env.db.finish().await;
    }
}

#[tokio::test]
async fn mood_log_today_and_recent() {
    for env in envs().await {
        env.ok(
            "mood.log",
            json!({ "mood": 2, "energy": 1, "notes": "müde" }),
        )
        .await;
        env.ok("mood.log", json!({ "mood": 4, "withWhom": "Anna" }))
            .await;
        let yesterday = (Utc::now() - Duration::days(1)).to_rfc3339();
        env.ok("mood.log", json!({ "mood": 5, "at": yesterday }))
            .await;
        let today = env.ok("mood.today", json!({})).await;
        assert_eq!(
            today["entries"].as_array().unwrap().len(),
            2,
            "{}",
            env.db.label
        );
        assert_eq!(today["average"], 3.0);
        let recent = env.ok("mood.recent", json!({ "days": 7 })).await;
        assert_eq!(recent["entries"].as_array().unwrap().len(), 3);
        assert_eq!(recent["days"].as_array().unwrap().len(), 2);
        assert!(
            env.invalid("mood.log", json!({ "mood": 9 }))
                .await
                .contains("mood:")
        );
        let future = (Utc::now() + Duration::hours(2)).to_rfc3339();
        assert!(
            env.invalid("mood.log", json!({ "mood": 3, "at": future }))
                .await
                .contains("at")
        );
        env.db.finish().await;
    }
}

#[tokio::test]
async fn calendar_create_and_list_overlapping_events() {
    for env in envs().await {
        env.ok("calendar.create_event", json!({ "title": "Zahnarzt", "start": "2026-12-01T09:00:00Z", "end": "2026-12-01T10:00:00Z", "location": "Praxis" })).await;
        let standup = env
            .ok(
                "calendar.create_event",
                json!({ "title": "Standup", "start": "2026-12-01T08:00:00Z" }),
            )
            .await;
        assert_eq!(
            standup["end"], "2026-12-01T09:00:00Z",
            "default length one hour"
        );
        env.ok("calendar.create_event", json!({ "title": "Urlaub", "start": "2026-12-20T00:00:00Z", "end": "2026-12-27T00:00:00Z", "allDay": true })).await;
        let week = env
            .ok(
                "calendar.list_events",
                json!({ "from": "2026-12-01T00:00:00Z", "to": "2026-12-08T00:00:00Z" }),
            )
            .await;
        assert_eq!(
            names(&week, "events", "title"),
            vec!["Standup", "Zahnarzt"],
            "{}",
            env.db.label
        );
        let christmas = env
            .ok(
                "calendar.list_events",
                json!({ "from": "2026-12-24T00:00:00Z", "to": "2026-12-25T00:00:00Z" }),
            )
            .await;
        assert_eq!(
            names(&christmas, "events", "title"),
            vec!["Urlaub"],
            "overlap, not containment"
        );
        // Checks beyond the schema run once the schema is satisfied, and
        // then also name every bad field.
        let message = env
            .invalid(
                "calendar.create_event",
                json!({ "title": " ", "start": "2026-12-01T09:00:00Z", "end": "2026-12-01T08:00:00Z" }),
            )
            .await;
        assert!(
            message.contains("title") && message.contains("end"),
            "{message}"
        );
        assert!(
            env.invalid(
                "calendar.create_event",
                json!({ "title": "x", "start": "morgen" })
            )
            .await
            .contains("start")
        );
        env.db.finish().await;
    }
}

#[tokio::test]
async fn contacts_create_and_search() {
    for env in envs().await {
        env.ok(
            "contacts.create",
            json!({ "name": "Oma Erna", "phone": "+49 30 1234567", "notes": "Geburtstag im Mai" }),
        )
        .await;
        env.ok(
            "contacts.create",
            json!({ "name": "Bert Berger", "email": "bert@example.org" }),
        )
        .await;
        assert_eq!(
            names(
                &env.ok("contacts.search", json!({ "query": "mai" })).await,
                "contacts",
                "name"
            ),
            vec!["Oma Erna"]
        );
        assert_eq!(
            names(
                &env.ok("contacts.search", json!({ "query": "example.org" }))
                    .await,
                "contacts",
                "name"
            ),
            vec!["Bert Berger"]
        );
        let message = env
            .invalid(
                "contacts.create",
                json!({ "name": "", "email": "not-an-email", "phone": "x" }),
            )
            .await;
        for field in ["name:", "email:", "phone:"] {
            assert!(
                message.contains(field),
                "{}: {field} in {message}",
                env.db.label
            );
        }
        let message = env
            .invalid(
                "contacts.create",
                json!({ "name": "X", "phone": "call me" }),
            )
            .await;
        assert!(message.contains("phone:"), "{message}");
        env.db.finish().await;
    }
}
