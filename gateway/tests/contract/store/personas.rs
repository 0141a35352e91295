//! Personas in the store: idempotent upserts that report what changed,
//! human accounts kept apart, lookup and pause, the due query's cadence
//! rules, the list and detail aggregates, and the lease.

use catalog::{Cadence, PARSE_FAILURE_MODULE};
use chrono::{TimeDelta, TimeZone, Utc};
use gateway::StoreError;
use gateway::accounts::UpsertOutcome;
use gateway::store::{NewUser, Role, UserKind, now};

use crate::helpers::{action, backends, feedback, persona, spec};

#[tokio::test]
async fn upsert_is_idempotent_and_reports_what_changed() {
    for db in backends().await {
        let store = &db.store;
        let anna = spec("Anna", "anna@mana.test", Cadence::Daily);
        let created =
            gateway::accounts::upsert_persona(store, &crate::helpers::keyring(), &anna, "pw-1")
                .await
                .unwrap();
        assert_eq!(created.outcome, UpsertOutcome::Created, "{}", db.label);
        let again =
            gateway::accounts::upsert_persona(store, &crate::helpers::keyring(), &anna, "pw-1")
                .await
                .unwrap();
        assert_eq!(again.outcome, UpsertOutcome::Unchanged, "{}", db.label);
        assert_eq!(again.user_id, created.user_id);

        let mut edited = anna.clone();
        edited.cadence = Cadence::Hourly;
        edited.system_prompt.push_str(" Neu.");
        assert_eq!(
            gateway::accounts::upsert_persona(store, &crate::helpers::keyring(), &edited, "pw-1")
                .await
                .unwrap()
                .outcome,
            UpsertOutcome::Updated
        );
        let stored = store.persona(&created.user_id).await.unwrap();
        assert_eq!(stored.cadence, Cadence::Hourly);
        assert_eq!(stored.system_prompt, edited.system_prompt);
        assert_eq!(stored.module_mix, anna.module_mix);

        // A rotated seed secret means a new derived password.
        assert_eq!(
            gateway::accounts::upsert_persona(store, &crate::helpers::keyring(), &edited, "pw-2")
                .await
                .unwrap()
                .outcome,
            UpsertOutcome::Updated
        );
        let user = store.user(&created.user_id).await.unwrap();
        assert!(
            gateway::password::verify_password("pw-2".into(), user.password_hash)
                .await
                .unwrap()
        );
        assert_eq!(user.kind, UserKind::Persona);
        assert_eq!(user.tier, "founder");
        assert_eq!(
            store.spaces_of(&user.id).await.unwrap().len(),
            1,
            "registered with a personal space"
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn human_accounts_are_never_turned_into_or_deleted_as_personas() {
    for db in backends().await {
        let store = &db.store;
        let human = store
            .create_user(NewUser {
                email: "real@mana.test".into(),
                password_hash: "$argon2id$fake".into(),
                kind: UserKind::Human,
                role: Role::User,
                master_key: None,
            })
            .await
            .unwrap();
        let refused = gateway::accounts::upsert_persona(
            store,
            &crate::helpers::keyring(),
            &spec("Real", "REAL@mana.test", Cadence::Daily),
            "pw",
        )
        .await;
        assert!(
            matches!(
                refused,
                Err(gateway::accounts::AccountError::Store(
                    StoreError::Conflict(_)
                ))
            ),
            "{}: {refused:?}",
            db.label
        );
        let refused = store.delete_persona(&human.id).await.unwrap_err();
        assert!(
            matches!(refused, StoreError::NotPersona { .. }),
            "{refused:?}"
        );
        assert!(refused.to_string().contains("human"));
        assert!(store.user(&human.id).await.is_ok(), "still there");
        let missing = store.delete_persona("nobody").await.unwrap_err();
        assert!(matches!(missing, StoreError::NotFound { .. }));

        let anna = persona(store, "Anna", Cadence::Daily).await;
        store.delete_persona(&anna).await.unwrap();
        assert!(matches!(
            store.persona(&anna).await,
            Err(StoreError::NotFound { .. })
        ));
        db.finish().await;
    }
}

#[tokio::test]
async fn lookup_by_id_or_email_and_pause() {
    for db in backends().await {
        let store = &db.store;
        let anna = persona(store, "Anna", Cadence::Daily).await;
        assert_eq!(
            store.persona_by_id_or_email(&anna).await.unwrap().user_id,
            anna,
            "{}",
            db.label
        );
        assert_eq!(
            store
                .persona_by_id_or_email("ANNA@mana.test")
                .await
                .unwrap()
                .user_id,
            anna
        );
        assert!(matches!(
            store.persona_by_id_or_email("x@mana.test").await,
            Err(StoreError::NotFound { .. })
        ));

        let at = now();
        assert_eq!(store.due_personas(at).await.unwrap().len(), 1);
        store.set_persona_paused(&anna, true).await.unwrap();
        assert!(store.persona(&anna).await.unwrap().paused);
        assert!(
            store.due_personas(at).await.unwrap().is_empty(),
            "paused is never due"
        );
        store.set_persona_paused(&anna, false).await.unwrap();
        assert_eq!(store.due_personas(at).await.unwrap().len(), 1);
        assert!(matches!(
            store.set_persona_paused("nobody", true).await,
            Err(StoreError::NotFound { .. })
        ));
        db.finish().await;
    }
}

/// Sets `last_active_at` the way production does: by storing a batch at that time.
async fn active_at(store: &gateway::Store, persona_id: &str, at: chrono::DateTime<Utc>) {
    let tick_id = format!("tick-{persona_id}-{}", at.timestamp_millis());
    store
        .insert_actions(persona_id, &[action(&tick_id, 0, "todo.list", at)], at)
        .await
        .unwrap();
}

#[tokio::test]
async fn due_query_follows_the_cadence_rules_and_order() {
    // Friday 2026-11-20 12:00 UTC and the Saturday after it.
    let friday = Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap();
    let saturday = friday + TimeDelta::days(1);
    for db in backends().await {
        let store = &db.store;
        let never_hourly = persona(store, "NeverHourly", Cadence::Hourly).await;
        let hourly_exact = persona(store, "HourlyExact", Cadence::Hourly).await;
        let hourly_recent = persona(store, "HourlyRecent", Cadence::Hourly).await;
        let daily_old = persona(store, "DailyOld", Cadence::Daily).await;
        let daily_exact = persona(store, "DailyExact", Cadence::Daily).await;
        let daily_recent = persona(store, "DailyRecent", Cadence::Daily).await;
        let weekdays_old = persona(store, "WeekdaysOld", Cadence::Weekdays).await;
        let paused = persona(store, "Paused", Cadence::Hourly).await;
        store.set_persona_paused(&paused, true).await.unwrap();

        active_at(store, &hourly_exact, friday - TimeDelta::hours(1)).await;
        active_at(store, &hourly_recent, friday - TimeDelta::minutes(59)).await;
        active_at(store, &daily_old, friday - TimeDelta::days(3)).await;
        active_at(store, &daily_exact, friday - TimeDelta::hours(24)).await;
        active_at(store, &daily_recent, friday - TimeDelta::hours(23)).await;
        active_at(store, &weekdays_old, friday - TimeDelta::days(2)).await;

        let due: Vec<String> = store
            .due_personas(friday)
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.user_id)
            .collect();
        assert_eq!(
            due,
            vec![
                never_hourly.clone(),
                daily_old.clone(),
                weekdays_old.clone(),
                daily_exact.clone(),
                hourly_exact.clone()
            ],
            "{}",
            db.label
        );

        // On Saturday the weekdays persona rests; the others are judged as usual.
        let due_saturday: Vec<String> = store
            .due_personas(saturday)
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.user_id)
            .collect();
        assert!(!due_saturday.contains(&weekdays_old), "{}", db.label);
        assert!(due_saturday.contains(&daily_recent));

        // The SQL agrees with the pure rules for every persona at both times.
        for at in [friday, saturday] {
            let due_now: Vec<String> = store
                .due_personas(at)
                .await
                .unwrap()
                .into_iter()
                .map(|p| p.user_id)
                .collect();
            for summary in store.list_personas(at).await.unwrap() {
                let p = summary.persona;
                let expected = catalog::is_due(p.cadence, p.last_active_at, p.paused, at);
                assert_eq!(
                    due_now.contains(&p.user_id),
                    expected,
                    "{} {} at {at}",
                    db.label,
                    p.name
                );
            }
        }
        db.finish().await;
    }
}

#[tokio::test]
async fn list_counts_seven_days_and_detail_aggregates_ratings() {
    for db in backends().await {
        let store = &db.store;
        let at = now();
        let anna = persona(store, "Anna", Cadence::Daily).await;
        let ben = persona(store, "Ben", Cadence::Daily).await;
        let old = at - TimeDelta::days(8);
        let old_actions: Vec<_> = (0..3)
            .map(|i| action("tick-old", i, "todo.list", old))
            .collect();
        store
            .insert_actions(&anna, &old_actions, old)
            .await
            .unwrap();
        let actions: Vec<_> = (0..25)
            .map(|i| {
                action(
                    "tick-new",
                    i,
                    "notes.create",
                    at - TimeDelta::seconds(100 - i64::from(i)),
                )
            })
            .collect();
        store.insert_actions(&anna, &actions, at).await.unwrap();
        store
            .insert_feedback(
                &anna,
                &[
                    feedback("tick-old", "todo", 2, old),
                    feedback("tick-new", "todo", 5, at),
                    feedback("tick-new", "notes", 3, at),
                    catalog::FeedbackRow {
                        tick_id: "tick-new".into(),
                        module: PARSE_FAILURE_MODULE.into(),
                        rating: None,
                        notes: "I liked it!".into(),
                        created_at: at,
                    },
                ],
                at,
            )
            .await
            .unwrap();

        let list = store.list_personas(at).await.unwrap();
        let counts: Vec<(String, u64)> = list
            .iter()
            .map(|s| (s.persona.name.clone(), s.actions_last_7_days))
            .collect();
        assert_eq!(
            counts,
            vec![("Anna".to_owned(), 25), ("Ben".to_owned(), 0)],
            "{}",
            db.label
        );
        assert_eq!(list[1].persona.user_id, ben);

        let detail = store.persona_detail(&anna).await.unwrap();
        assert_eq!(detail.recent_actions.len(), 20);
        assert_eq!(detail.recent_actions[0].action_idx, 24, "newest first");
        assert_eq!(detail.recent_actions[19].action_idx, 5);
        let ratings: Vec<(String, f64, u64)> = detail
            .module_ratings
            .iter()
            .map(|r| (r.module.clone(), r.average, r.count))
            .collect();
        assert_eq!(
            ratings,
            vec![("notes".to_owned(), 3.0, 1), ("todo".to_owned(), 3.5, 2)],
            "{}",
            db.label
        );
        assert!(matches!(
            store.persona_detail("nobody").await,
            Err(StoreError::NotFound { .. })
        ));
        db.finish().await;
    }
}

#[tokio::test]
async fn a_lease_has_one_holder_until_it_expires_or_is_released() {
    for db in backends().await {
        let store = &db.store;
        let at = now();
        let anna = persona(store, "Anna", Cadence::Hourly).await;
        let minute = TimeDelta::minutes(1);
        assert!(
            store
                .claim_lease(&anna, "replica-a", at + minute, at)
                .await
                .unwrap(),
            "{}",
            db.label
        );
        assert!(
            !store
                .claim_lease(&anna, "replica-b", at + minute, at)
                .await
                .unwrap(),
            "held by a"
        );
        assert!(
            store
                .claim_lease(&anna, "replica-a", at + minute * 2, at)
                .await
                .unwrap(),
            "renewal"
        );
        assert!(
            store.due_personas(at).await.unwrap().is_empty(),
            "a held persona is not due"
        );
        // A dead replica's lease expires and another replica takes over.
        let later = at + minute * 3;
        assert!(
            store
                .claim_lease(&anna, "replica-b", later + minute, later)
                .await
                .unwrap()
        );
        store.release_lease(&anna, "replica-a", None).await.unwrap();
        assert!(
            !store
                .claim_lease(&anna, "replica-a", later + minute, later)
                .await
                .unwrap(),
            "a cannot release b's lease"
        );
        store.release_lease(&anna, "replica-b", None).await.unwrap();
        assert!(
            store
                .claim_lease(&anna, "replica-a", later + minute, later)
                .await
                .unwrap()
        );
        assert!(
            !store
                .claim_lease("nobody", "replica-a", later + minute, later)
                .await
                .unwrap()
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn claiming_due_personas_rechecks_due_ness_pause_and_lease_at_the_write() {
    for db in backends().await {
        let store = &db.store;
        let at = now();
        let minute = TimeDelta::minutes(1);
        let anna = persona(store, "Anna", Cadence::Hourly).await;
        let ben = persona(store, "Ben", Cadence::Hourly).await;
        let cleo = persona(store, "Cleo", Cadence::Hourly).await;
        store.set_persona_paused(&cleo, true).await.unwrap();

        let first = store
            .claim_due_personas("replica-a", at + minute, at, 1)
            .await
            .unwrap();
        assert_eq!(first.len(), 1, "{}: at most the limit", db.label);
        let rest = store
            .claim_due_personas("replica-b", at + minute, at, 10)
            .await
            .unwrap();
        assert_eq!(
            rest.len(),
            1,
            "{}: the other one; paused Cleo never",
            db.label
        );
        let mut both = [first[0].clone(), rest[0].clone()];
        both.sort();
        let mut expected = [anna.clone(), ben.clone()];
        expected.sort();
        assert_eq!(both, expected);

        // Replica a's tick ends: it gives the lease back with the next due
        // time. A replica still holding a due list from before claims nothing.
        let held = &first[0];
        store
            .release_lease(held, "replica-a", Some(at + TimeDelta::hours(1)))
            .await
            .unwrap();
        let later = at + minute * 2;
        let again = store
            .claim_due_personas("replica-c", later + minute, later, 10)
            .await
            .unwrap();
        assert_eq!(
            again,
            vec![rest[0].clone()],
            "{}: only b's persona, its lease expired (b died mid-tick)",
            db.label
        );
        assert!(
            !store
                .due_personas(later)
                .await
                .unwrap()
                .iter()
                .any(|p| &p.user_id == held),
            "the due list agrees"
        );
        let next_hour = at + TimeDelta::hours(1);
        assert_eq!(
            store
                .claim_due_personas("replica-c", next_hour + minute, next_hour, 10)
                .await
                .unwrap()
                .iter()
                .filter(|id| *id == held)
                .count(),
            1,
            "{}: due again at its next due time",
            db.label
        );
        assert!(
            store
                .claim_due_personas("replica-c", at + minute, at, 0)
                .await
                .unwrap()
                .is_empty()
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn replicas_claiming_at_once_never_share_a_persona() {
    for db in backends().await {
        let store = &db.store;
        let mut everyone = Vec::new();
        for index in 0..12 {
            everyone.push(persona(store, &format!("P{index}"), Cadence::Hourly).await);
        }
        let at = now();
        let claims: Vec<_> = (0..4)
            .map(|replica| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut mine = Vec::new();
                    // Each replica asks for a few at a time until none is left.
                    loop {
                        let got = store
                            .claim_due_personas(
                                &format!("replica-{replica}"),
                                at + TimeDelta::minutes(1),
                                at,
                                2,
                            )
                            .await
                            .unwrap();
                        if got.is_empty() {
                            return mine;
                        }
                        assert!(got.len() <= 2, "never more than the limit: {got:?}");
                        mine.extend(got);
                    }
                })
            })
            .collect();
        let mut claimed = Vec::new();
        for claim in claims {
            claimed.extend(claim.await.unwrap());
        }
        claimed.sort();
        everyone.sort();
        assert_eq!(claimed, everyone, "{}: each persona exactly once", db.label);
        db.finish().await;
    }
}

#[tokio::test]
async fn a_persona_claimed_but_never_started_goes_to_the_back() {
    for db in backends().await {
        let store = &db.store;
        let at = now();
        let mut everyone = Vec::new();
        for name in ["Anna", "Ben", "Cleo"] {
            everyone.push(persona(store, name, Cadence::Hourly).await);
        }
        // Each claim's tick never starts (its replica could not run it):
        // the lease lapses, and the next claim takes someone else.
        let mut claimed = Vec::new();
        for round in 0..3 {
            let when = at + TimeDelta::minutes(round * 2);
            let got = store
                .claim_due_personas("replica-a", when + TimeDelta::minutes(1), when, 1)
                .await
                .unwrap();
            assert_eq!(got.len(), 1, "{}", db.label);
            claimed.push(got[0].clone());
        }
        claimed.sort();
        everyone.sort();
        assert_eq!(
            claimed, everyone,
            "{}: each in turn, none starved",
            db.label
        );
        db.finish().await;
    }
}
