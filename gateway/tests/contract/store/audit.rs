//! The store's audit rows: a batch sent twice is stored once, a bad batch is
//! a typed error that stores nothing, the tick lifecycle (stale ticks, a
//! dead runner's tick, leased ticks left alone), and concurrent batches from
//! many personas.

use catalog::transcript::TranscriptItem;
use catalog::{
    ActionResult, FeedbackRow, MAX_ACTIONS_PER_BATCH, MAX_FEEDBACK_PER_BATCH, TickStatus,
    TokenUsage,
};
use chrono::TimeDelta;
use gateway::StoreError;
use gateway::store::{BatchOutcome, NewTick, TickFinish, now};

use crate::helpers::{action, backends, feedback, persona};

#[tokio::test]
async fn the_same_batch_twice_leaves_the_same_rows() {
    for db in backends().await {
        let store = &db.store;
        let at = now();
        let anna = persona(store, "Anna", catalog::Cadence::Daily).await;
        let mut actions: Vec<_> = (0..3)
            .map(|i| action("tick-1", i, "todo.create", at))
            .collect();
        actions[1].result = ActionResult::Error;
        actions[1].error_message = Some("title: must not be empty".into());
        let ratings = vec![
            feedback("tick-1", "todo", 4, at),
            feedback("tick-1", "notes", 2, at),
        ];

        let first = store.insert_actions(&anna, &actions, at).await.unwrap();
        assert_eq!(
            first,
            BatchOutcome {
                inserted: 3,
                duplicates: 0
            },
            "{}",
            db.label
        );
        let later = at + TimeDelta::minutes(5);
        let second = store.insert_actions(&anna, &actions, later).await.unwrap();
        assert_eq!(
            second,
            BatchOutcome {
                inserted: 0,
                duplicates: 3
            },
            "{}",
            db.label
        );
        assert_eq!(
            store.tick_actions("tick-1").await.unwrap(),
            actions,
            "{}",
            db.label
        );

        assert_eq!(
            store
                .insert_feedback(&anna, &ratings, at)
                .await
                .unwrap()
                .inserted,
            2
        );
        assert_eq!(
            store
                .insert_feedback(&anna, &ratings, later)
                .await
                .unwrap()
                .duplicates,
            2
        );
        let mut stored = store.tick_feedback("tick-1").await.unwrap();
        stored.sort_by(|a, b| a.module.cmp(&b.module));
        let mut expected = ratings.clone();
        expected.sort_by(|a, b| a.module.cmp(&b.module));
        assert_eq!(stored, expected, "{}", db.label);

        assert_eq!(
            store.persona(&anna).await.unwrap().last_active_at,
            Some(later),
            "batches bump last_active_at"
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn bad_batches_are_typed_errors_and_store_nothing() {
    for db in backends().await {
        let store = &db.store;
        let at = now();
        let anna = persona(store, "Anna", catalog::Cadence::Daily).await;

        let too_many: Vec<_> = (0..=MAX_ACTIONS_PER_BATCH as u32)
            .map(|i| action("t", i, "todo.list", at))
            .collect();
        let error = store
            .insert_actions(&anna, &too_many, at)
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                StoreError::BatchTooLarge {
                    got: 501,
                    limit: 500,
                    ..
                }
            ),
            "{}: {error:?}",
            db.label
        );
        let exactly: Vec<_> = too_many[..MAX_ACTIONS_PER_BATCH].to_vec();
        assert_eq!(
            store
                .insert_actions(&anna, &exactly, at)
                .await
                .unwrap()
                .inserted,
            500,
            "{}",
            db.label
        );

        let too_many: Vec<_> = (0..=MAX_FEEDBACK_PER_BATCH)
            .map(|i| feedback("t", &format!("m{i}"), 3, at))
            .collect();
        let error = store
            .insert_feedback(&anna, &too_many, at)
            .await
            .unwrap_err();
        assert!(matches!(
            error,
            StoreError::BatchTooLarge {
                got: 101,
                limit: 100,
                ..
            }
        ));

        let unknown = store
            .insert_actions("nobody", &[action("t2", 0, "todo.list", at)], at)
            .await
            .unwrap_err();
        assert!(
            matches!(
                unknown,
                StoreError::NotFound {
                    what: "persona",
                    ..
                }
            ),
            "{unknown:?}"
        );
        let unknown = store
            .insert_feedback("nobody", &[feedback("t2", "todo", 3, at)], at)
            .await
            .unwrap_err();
        assert!(matches!(
            unknown,
            StoreError::NotFound {
                what: "persona",
                ..
            }
        ));

        let mut bad = vec![action("t3", 0, "todo.list", at), action("t3", 1, "", at)];
        let error = store.insert_actions(&anna, &bad, at).await.unwrap_err();
        assert_eq!(error.to_string(), "row 1: toolName: must not be empty");
        bad[1].tool_name = "todo.list".into();
        bad[1].latency_ms = u64::MAX;
        let error = store.insert_actions(&anna, &bad, at).await.unwrap_err();
        assert!(matches!(
            error,
            StoreError::InvalidRow {
                index: 1,
                field: "latencyMs",
                ..
            }
        ));
        assert!(
            store.tick_actions("t3").await.unwrap().is_empty(),
            "a bad row rejects the whole batch"
        );

        let unrated = FeedbackRow {
            rating: None,
            ..feedback("t3", "todo", 3, at)
        };
        let error = store
            .insert_feedback(&anna, &[unrated], at)
            .await
            .unwrap_err();
        assert!(matches!(
            error,
            StoreError::InvalidRow {
                index: 0,
                field: "rating",
                ..
            }
        ));
        let rated_parse = feedback("t3", catalog::PARSE_FAILURE_MODULE, 3, at);
        let error = store
            .insert_feedback(&anna, &[rated_parse], at)
            .await
            .unwrap_err();
        assert!(matches!(
            error,
            StoreError::InvalidRow {
                field: "rating",
                ..
            }
        ));
        db.finish().await;
    }
}

#[tokio::test]
async fn out_of_range_ratings_never_reach_the_store() {
    let json = r#"{"tickId":"t","module":"todo","rating":9,"notes":"","createdAt":"2026-11-20T12:00:00Z"}"#;
    let error = serde_json::from_str::<FeedbackRow>(json).unwrap_err();
    assert!(
        error.to_string().contains("rating 9 is outside 1–5"),
        "{error}"
    );
}

#[tokio::test]
async fn tick_lifecycle_and_stale_ticks() {
    for db in backends().await {
        let store = &db.store;
        let at = now();
        let anna = persona(store, "Anna", catalog::Cadence::Daily).await;
        let ben = persona(store, "Ben", catalog::Cadence::Daily).await;
        let carl = persona(store, "Carl", catalog::Cadence::Daily).await;
        let tick = |tick_id: &str, persona_id: &str, started_at| NewTick {
            tick_id: tick_id.into(),
            persona_id: persona_id.into(),
            provider: "scripted".into(),
            model: "scripted-v1".into(),
            started_at,
        };
        store.start_tick(&tick("done", &anna, at)).await.unwrap();
        store
            .start_tick(&tick("stale", &ben, at - TimeDelta::hours(2)))
            .await
            .unwrap();
        store.start_tick(&tick("fresh", &carl, at)).await.unwrap();
        assert!(
            matches!(
                store.start_tick(&tick("done", &anna, at)).await,
                Err(StoreError::Conflict(_))
            ),
            "{}",
            db.label
        );
        let orphan = NewTick {
            persona_id: "nobody".into(),
            ..tick("orphan", &anna, at)
        };
        assert!(
            matches!(
                store.start_tick(&orphan).await,
                Err(StoreError::NotFound { .. })
            ),
            "{}",
            db.label
        );

        let finish = TickFinish {
            status: TickStatus::Ok,
            error: None,
            failed_by: None,
            finish_reason: Some("end_turn".into()),
            turns: 7,
            tokens: TokenUsage {
                input: 1200,
                output: 340,
                cache_read: 900,
                cache_write: 300,
            },
            cost_usd: Some(0.0123),
            summary: Some("5 tools, 2 modules rated".into()),
            finished_at: at + TimeDelta::seconds(30),
            transcript: vec![TranscriptItem::Call {
                tool_use_id: "toolu_1".into(),
                tool: "todo.create".into(),
                input: r#"{"title":"Milch"}"#.into(),
                result: ActionResult::Ok,
                failed_by: None,
                output: "angelegt".into(),
                latency_ms: 4,
            }],
            next_due_at: Some(at + TimeDelta::hours(1)),
        };
        assert!(
            store
                .due_personas(at)
                .await
                .unwrap()
                .iter()
                .any(|due| due.user_id == anna)
        );
        assert!(store.finish_tick("done", &finish).await.unwrap());
        assert!(
            !store
                .due_personas(at + TimeDelta::minutes(59))
                .await
                .unwrap()
                .iter()
                .any(|due| due.user_id == anna),
            "{}: the tick's end set the next due time in its transaction",
            db.label
        );
        assert!(
            !store.finish_tick("done", &finish).await.unwrap(),
            "finishing twice changes nothing"
        );
        let done = store.tick("done").await.unwrap();
        assert_eq!(
            (done.status, done.turns, done.tokens),
            (TickStatus::Ok, 7, finish.tokens),
            "{}",
            db.label
        );
        assert_eq!(done.finished_at, Some(finish.finished_at));
        assert_eq!(done.cost_usd, Some(0.0123), "{}", db.label);
        let detail = store.tick_detail("done").await.unwrap();
        assert_eq!(detail.transcript, finish.transcript, "{}", db.label);
        assert_eq!(
            detail.persona_email,
            store.persona(&anna).await.unwrap().email,
            "{}",
            db.label
        );
        assert_eq!(
            store.forget_transcripts(finish.finished_at).await.unwrap(),
            0,
            "a transcript is kept until it is older than the cut-off ({})",
            db.label
        );
        assert_eq!(
            store
                .forget_transcripts(finish.finished_at + TimeDelta::seconds(1))
                .await
                .unwrap(),
            1,
            "{}",
            db.label
        );
        assert_eq!(
            store.tick_detail("done").await.unwrap().transcript,
            vec![],
            "the tick row stays, its transcript is gone ({})",
            db.label
        );

        let aborted = store
            .abort_stale_ticks(at - TimeDelta::hours(1), at, "runner restarted")
            .await
            .unwrap();
        assert_eq!(aborted, 1, "{}", db.label);
        let stale = store.tick("stale").await.unwrap();
        assert_eq!(
            (stale.status, stale.error.as_deref()),
            (TickStatus::Aborted, Some("runner restarted"))
        );
        assert_eq!(
            store.tick("fresh").await.unwrap().status,
            TickStatus::Running
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn a_dead_runners_tick_ends_when_its_persona_ticks_again_and_leased_ticks_are_left_alone() {
    for db in backends().await {
        let store = &db.store;
        let at = now();
        let anna = persona(store, "Anna", catalog::Cadence::Daily).await;
        let ben = persona(store, "Ben", catalog::Cadence::Daily).await;
        let tick = |tick_id: &str, persona_id: &str| NewTick {
            tick_id: tick_id.into(),
            persona_id: persona_id.into(),
            provider: "scripted".into(),
            model: "scripted-v1".into(),
            started_at: at - TimeDelta::minutes(5),
        };
        // A runner died mid-tick; the next tick of the persona (which runs
        // only under the lease) ends the dead one as aborted.
        store.start_tick(&tick("killed", &anna)).await.unwrap();
        store.start_tick(&tick("next", &anna)).await.unwrap();
        let killed = store.tick("killed").await.unwrap();
        assert_eq!(killed.status, TickStatus::Aborted, "{}", db.label);
        assert_eq!(
            killed.error.as_deref(),
            Some(gateway::store::ORPHANED_TICK_REASON)
        );
        assert_eq!(
            store.tick("next").await.unwrap().status,
            TickStatus::Running
        );

        // Ben's tick runs under another replica's live lease: a starting
        // runner must not abort it; once the lease lapses, it may.
        store.start_tick(&tick("elsewhere", &ben)).await.unwrap();
        assert!(
            store
                .claim_lease(&ben, "replica-b", at + TimeDelta::seconds(30), at)
                .await
                .unwrap()
        );
        store.release_lease(&anna, "nobody", None).await.unwrap();
        let aborted = store.abort_stale_ticks(at, at, "restart").await.unwrap();
        assert_eq!(aborted, 1, "only Anna's unleased tick, {}", db.label);
        assert_eq!(
            store.tick("elsewhere").await.unwrap().status,
            TickStatus::Running
        );
        let later = at + TimeDelta::seconds(31);
        assert_eq!(
            store
                .abort_stale_ticks(later, later, "restart")
                .await
                .unwrap(),
            1,
            "{}",
            db.label
        );
        assert_eq!(
            store.tick("elsewhere").await.unwrap().status,
            TickStatus::Aborted
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn concurrent_batches_from_many_personas_all_land() {
    for db in backends().await {
        let store = &db.store;
        let at = now();
        let mut personas = Vec::new();
        for i in 0..4 {
            personas.push(persona(store, &format!("P{i}"), catalog::Cadence::Hourly).await);
        }
        let mut writers = tokio::task::JoinSet::new();
        for (n, persona_id) in personas.iter().enumerate() {
            for batch in 0..5u32 {
                let store = store.clone();
                let persona_id = persona_id.clone();
                writers.spawn(async move {
                    let tick_id = format!("tick-{n}-{batch}");
                    let rows: Vec<_> = (0..50)
                        .map(|i| action(&tick_id, i, "todo.list", at))
                        .collect();
                    store.insert_actions(&persona_id, &rows, at).await
                });
            }
        }
        let mut inserted = 0;
        while let Some(result) = writers.join_next().await {
            inserted += result
                .unwrap()
                .unwrap_or_else(|error| panic!("{}: {error:?}", db.label))
                .inserted;
        }
        assert_eq!(inserted, 4 * 5 * 50, "{}", db.label);
        db.finish().await;
    }
}
