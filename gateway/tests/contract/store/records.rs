//! The records behind the tools: insert, list, update (the last writer wins,
//! and concurrent updates to different fields both land) and soft delete.

use chrono::TimeDelta;
use gateway::StoreError;
use gateway::store::{NewRecord, now};
use serde_json::{Map, Value, json};

use crate::helpers::{backends, persona};

fn object(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

#[tokio::test]
async fn records_insert_list_update_last_writer_wins_and_soft_delete() {
    for db in backends().await {
        let store = &db.store;
        let at = now();
        let anna = persona(store, "Anna", catalog::Cadence::Daily).await;
        let space = store.personal_space(&anna).await.unwrap().id;
        let new = |id: &str, title: &str| NewRecord {
            space_id: space.clone(),
            collection: "tasks".into(),
            id: id.into(),
            data: object(json!({ "title": title, "done": false })),
            created_by: Some(anna.clone()),
        };
        let first = store
            .insert_record(new("t1", "Einkaufen"), at)
            .await
            .unwrap();
        assert_eq!(first.data["title"], "Einkaufen", "{}", db.label);
        store
            .insert_record(new("t2", "Putzen"), at + TimeDelta::seconds(1))
            .await
            .unwrap();
        let again = store.insert_record(new("t1", "x"), at).await.unwrap_err();
        assert!(
            matches!(again, StoreError::Conflict(_)),
            "{}: {again:?}",
            db.label
        );
        let ids: Vec<String> = store
            .list_records(&space, "tasks")
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, vec!["t1", "t2"]);
        assert!(
            store
                .list_records(&space, "notes")
                .await
                .unwrap()
                .is_empty()
        );

        // A newer write to `done` and an older write to `title` from another device.
        let newer = store
            .update_record(
                &space,
                "tasks",
                "t1",
                object(json!({ "done": true })),
                at + TimeDelta::seconds(10),
            )
            .await
            .unwrap();
        assert_eq!(newer.applied, vec!["done"]);
        let older = store
            .update_record(
                &space,
                "tasks",
                "t1",
                object(json!({ "title": "Alt", "done": false })),
                at + TimeDelta::seconds(5),
            )
            .await
            .unwrap();
        assert_eq!(
            (older.applied, older.stale),
            (vec!["title".to_owned()], vec!["done".to_owned()]),
            "{}",
            db.label
        );
        let stored = store.record(&space, "tasks", "t1").await.unwrap().unwrap();
        assert_eq!(
            stored.data,
            object(json!({ "title": "Alt", "done": true })),
            "{}",
            db.label
        );
        assert_eq!(stored.updated_at, at + TimeDelta::seconds(10));

        let missing = store
            .update_record(&space, "tasks", "nope", Map::new(), at)
            .await
            .unwrap_err();
        assert!(matches!(missing, StoreError::NotFound { .. }));

        store
            .delete_record(&space, "tasks", "t1", at + TimeDelta::seconds(20))
            .await
            .unwrap();
        assert!(store.record(&space, "tasks", "t1").await.unwrap().is_none());
        assert_eq!(store.list_records(&space, "tasks").await.unwrap().len(), 1);
        assert!(matches!(
            store.delete_record(&space, "tasks", "t1", at).await,
            Err(StoreError::NotFound { .. })
        ));
        let deleted = store
            .update_record(
                &space,
                "tasks",
                "t1",
                object(json!({ "done": false })),
                at + TimeDelta::days(1),
            )
            .await;
        assert!(
            matches!(deleted, Err(StoreError::NotFound { .. })),
            "a deleted record cannot be revived by an update"
        );

        let orphan = NewRecord {
            space_id: "no-such-space".into(),
            ..new("t9", "x")
        };
        assert!(
            matches!(
                store.insert_record(orphan, at).await,
                Err(StoreError::NotFound { what: "space", .. })
            ),
            "{}",
            db.label
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn concurrent_updates_to_different_fields_both_win() {
    for db in backends().await {
        let store = &db.store;
        let at = now();
        let anna = persona(store, "Anna", catalog::Cadence::Daily).await;
        let space = store.personal_space(&anna).await.unwrap().id;
        store
            .insert_record(
                NewRecord {
                    space_id: space.clone(),
                    collection: "notes".into(),
                    id: "n1".into(),
                    data: Map::new(),
                    created_by: None,
                },
                at,
            )
            .await
            .unwrap();
        let mut writers = tokio::task::JoinSet::new();
        for i in 0..10 {
            let store = store.clone();
            let space = space.clone();
            writers.spawn(async move {
                let patch = object(json!({ format!("field{i}"): i }));
                store
                    .update_record(&space, "notes", "n1", patch, at + TimeDelta::seconds(1))
                    .await
            });
        }
        while let Some(result) = writers.join_next().await {
            result
                .unwrap()
                .unwrap_or_else(|error| panic!("{}: {error:?}", db.label));
        }
        let stored = store.record(&space, "notes", "n1").await.unwrap().unwrap();
        assert_eq!(stored.data.len(), 10, "{}: no lost update", db.label);
        db.finish().await;
    }
}
