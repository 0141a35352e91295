//! What the dashboard reads: the latest ticks with their calls counted, and
//! the ratings, tool calls and costs grouped by UTC day and by tool — the
//! same on both engines.

use catalog::internal_api::{CostDay, ModuleDay, TickListQuery, ToolStats};
use catalog::{ActionResult, FailedBy, TickStatus, TokenUsage};
use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use gateway::store::{NewTick, Store, TickFinish};

use crate::helpers::{action, backends, feedback, persona};

fn day(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

async fn start(store: &Store, tick_id: &str, persona_id: &str, at: DateTime<Utc>) {
    store
        .start_tick(&NewTick {
            tick_id: tick_id.into(),
            persona_id: persona_id.into(),
            provider: "scripted".into(),
            model: "scripted-v1".into(),
            started_at: at,
        })
        .await
        .unwrap();
}

fn finish(status: TickStatus, cost_usd: Option<f64>, at: DateTime<Utc>) -> TickFinish {
    TickFinish {
        status,
        error: None,
        failed_by: None,
        finish_reason: Some("end_turn".into()),
        turns: 2,
        tokens: TokenUsage {
            input: 100,
            output: 20,
            cache_read: 0,
            cache_write: 0,
        },
        cost_usd,
        summary: None,
        finished_at: at + TimeDelta::seconds(5),
        transcript: Vec::new(),
        next_due_at: None,
    }
}

#[tokio::test]
async fn ticks_are_listed_newest_first_and_rows_are_summed_by_day_and_tool() {
    for db in backends().await {
        let store = &db.store;
        let label = &db.label;
        let yesterday = Utc.with_ymd_and_hms(2026, 11, 29, 22, 0, 0).unwrap();
        let today = Utc.with_ymd_and_hms(2026, 11, 30, 10, 0, 0).unwrap();
        let anna = persona(store, "Anna", catalog::Cadence::Daily).await;
        let ben = persona(store, "Ben", catalog::Cadence::Daily).await;

        start(store, "t1", &anna, yesterday).await;
        let mut created = action("t1", 0, "todo.create", yesterday);
        created.latency_ms = 10;
        let mut refused = action("t1", 1, "todo.create", yesterday);
        (refused.result, refused.failed_by, refused.latency_ms) =
            (ActionResult::Error, Some(FailedBy::App), 30);
        store
            .insert_actions(&anna, &[created, refused], yesterday)
            .await
            .unwrap();
        let ratings = [
            feedback("t1", "todo", 4, yesterday),
            feedback("t1", "notes", 2, yesterday),
        ];
        store
            .insert_feedback(&anna, &ratings, yesterday)
            .await
            .unwrap();
        store
            .finish_tick("t1", &finish(TickStatus::Ok, Some(0.25), yesterday))
            .await
            .unwrap();

        start(store, "t2", &anna, today).await;
        let mut listed = action("t2", 0, "todo.list", today);
        listed.latency_ms = 100;
        let mut botched = action("t2", 1, "todo.list", today);
        (botched.result, botched.failed_by, botched.latency_ms) =
            (ActionResult::Error, Some(FailedBy::Agent), 1);
        store
            .insert_actions(&anna, &[listed, botched], today)
            .await
            .unwrap();
        store
            .insert_feedback(&anna, &[feedback("t2", "todo", 2, today)], today)
            .await
            .unwrap();
        store
            .finish_tick("t2", &finish(TickStatus::Failed, None, today))
            .await
            .unwrap();
        start(store, "t3", &ben, today + TimeDelta::hours(1)).await;

        let all = store
            .list_ticks(&TickListQuery {
                limit: 10,
                persona: None,
            })
            .await
            .unwrap();
        let order: Vec<(&str, &str, u64, u64)> = all
            .iter()
            .map(|listed| {
                (
                    listed.tick.tick_id.as_str(),
                    listed.persona_email.as_str(),
                    listed.actions,
                    listed.failed_actions,
                )
            })
            .collect();
        assert_eq!(
            order,
            vec![
                ("t3", "ben@mana.test", 0, 0),
                ("t2", "anna@mana.test", 2, 1),
                ("t1", "anna@mana.test", 2, 1),
            ],
            "{label}"
        );
        assert_eq!(all[0].tick.status, TickStatus::Running, "{label}");
        let annas = store
            .list_ticks(&TickListQuery {
                limit: 1,
                persona: Some(anna.clone()),
            })
            .await
            .unwrap();
        assert_eq!(annas.len(), 1, "{label}: the limit holds");
        assert_eq!(annas[0].tick.tick_id, "t2", "{label}");

        let insights = store
            .insights(yesterday - TimeDelta::hours(1))
            .await
            .unwrap();
        assert_eq!(
            insights.ratings,
            vec![
                ModuleDay {
                    module: "notes".into(),
                    day: day("2026-11-29"),
                    mean: 2.0,
                    ratings: 1
                },
                ModuleDay {
                    module: "todo".into(),
                    day: day("2026-11-29"),
                    mean: 4.0,
                    ratings: 1
                },
                ModuleDay {
                    module: "todo".into(),
                    day: day("2026-11-30"),
                    mean: 2.0,
                    ratings: 1
                },
            ],
            "{label}"
        );
        assert_eq!(
            insights.tools,
            vec![
                ToolStats {
                    tool: "todo.create".into(),
                    calls: 2,
                    app_errors: 1,
                    agent_errors: 0,
                    p50_ms: 10,
                    p99_ms: 30
                },
                ToolStats {
                    tool: "todo.list".into(),
                    calls: 2,
                    app_errors: 0,
                    agent_errors: 1,
                    p50_ms: 1,
                    p99_ms: 100
                },
            ],
            "{label}"
        );
        assert_eq!(
            insights.costs,
            vec![
                CostDay {
                    day: day("2026-11-29"),
                    ticks: 1,
                    not_ok: 0,
                    cost_usd: 0.25,
                    tokens: 120
                },
                CostDay {
                    day: day("2026-11-30"),
                    ticks: 2,
                    not_ok: 2,
                    cost_usd: 0.0,
                    tokens: 120
                },
            ],
            "{label}: a running tick is not ok, and an unknown cost counts 0"
        );

        let today_only = store.insights(today).await.unwrap();
        assert_eq!(today_only.ratings.len(), 1, "{label}");
        assert_eq!(today_only.costs.len(), 1, "{label}");
    }
}
