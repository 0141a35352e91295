//! The runner's own schema (for a target other than the built-in app): the
//! persona tables and nothing of the app's, on SQLite and PostgreSQL. A
//! persona is keyed by its lower-cased email and carries it; the same
//! queries read, schedule and audit it as on the app's schema; a database
//! holding one schema is never opened as the other.

use catalog::{Cadence, TickStatus, TokenUsage};
use gateway::StoreError;
use gateway::store::{NewTick, Schema, Store, TickFinish, now};

use crate::helpers::{action, backends_with, feedback, spec};

#[tokio::test]
async fn personas_live_in_the_runners_own_tables() {
    for db in backends_with(Schema::Runner).await {
        let store = &db.store;
        assert_eq!(store.schema(), Schema::Runner);
        let anna = spec("Anna", "Anna.Keller@mana.test", Cadence::Daily);
        let (id, changed) = store.upsert_own_persona(&anna).await.unwrap();
        assert_eq!(id, "anna.keller@mana.test", "{}", db.label);
        assert!(changed);
        let (_, again) = store.upsert_own_persona(&anna).await.unwrap();
        assert!(!again, "the same spec changes nothing");

        let row = store
            .persona_by_id_or_email("ANNA.KELLER@mana.test")
            .await
            .unwrap();
        assert_eq!(row.user_id, id);
        assert_eq!(row.email, "Anna.Keller@mana.test");
        let listed = store.list_personas(now()).await.unwrap();
        assert_eq!(listed.len(), 1, "{}", db.label);

        let at = now();
        let due = store.due_personas(at).await.unwrap();
        assert_eq!(due.len(), 1, "a persona never run is due");
        let claimed = store
            .claim_due_personas("replica-a", at + chrono::TimeDelta::minutes(5), at, 10)
            .await
            .unwrap();
        assert_eq!(claimed, std::slice::from_ref(&id), "{}", db.label);

        store
            .start_tick(&NewTick {
                tick_id: "tick-1".into(),
                persona_id: id.clone(),
                provider: "scripted".into(),
                model: "scripted".into(),
                started_at: at,
            })
            .await
            .unwrap();
        let actions = vec![action("tick-1", 0, "echo", at)];
        store.insert_actions(&id, &actions, at).await.unwrap();
        store
            .insert_feedback(&id, &[feedback("tick-1", "echo", 4, at)], at)
            .await
            .unwrap();
        let finished = store
            .finish_tick(
                "tick-1",
                &TickFinish {
                    status: TickStatus::Ok,
                    error: None,
                    failed_by: None,
                    finish_reason: None,
                    turns: 2,
                    tokens: TokenUsage::default(),
                    cost_usd: None,
                    summary: None,
                    finished_at: at,
                    transcript: Vec::new(),
                    next_due_at: None,
                },
            )
            .await
            .unwrap();
        assert!(finished);
        let detail = store.tick_detail("tick-1").await.unwrap();
        assert_eq!(detail.actions.len(), 1, "{}", db.label);
        assert_eq!(detail.feedback.len(), 1);

        assert!(matches!(
            store.stamp_persona(&id, &anna).await,
            Err(StoreError::AppOnly(_))
        ));
        db.finish().await;
    }
}

#[tokio::test]
async fn a_database_is_never_opened_as_the_other_schema() {
    let dir = tempfile::tempdir().unwrap();
    let app = format!("sqlite://{}", dir.path().join("app.db").display());
    let own = format!("sqlite://{}", dir.path().join("own.db").display());
    Store::connect(&app).await.unwrap().close().await;
    Store::connect_schema(&own, Schema::Runner)
        .await
        .unwrap()
        .close()
        .await;
    let as_runner = Store::connect_schema(&app, Schema::Runner)
        .await
        .unwrap_err();
    assert!(
        matches!(
            as_runner,
            StoreError::WrongSchema {
                holds: Schema::App,
                wanted: Schema::Runner
            }
        ),
        "{as_runner}"
    );
    assert!(as_runner.to_string().contains("--db"), "{as_runner}");
    let as_app = Store::connect(&own).await.unwrap_err();
    assert!(
        matches!(
            as_app,
            StoreError::WrongSchema {
                holds: Schema::Runner,
                wanted: Schema::App
            }
        ),
        "{as_app}"
    );
    assert!(
        Store::connect_schema(&own, Schema::Runner)
            .await
            .unwrap()
            .upsert_own_persona(&spec("Bea", "bea@mana.test", Cadence::Hourly))
            .await
            .is_ok(),
        "the runner's database opens again as itself"
    );
}
