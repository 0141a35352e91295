//! Users in the store: registration with its personal space, shared spaces
//! and memberships, and deletion cascading to what a user owns.

use catalog::SpaceType;
use gateway::StoreError;
use gateway::store::{NewUser, Role, UserKind, now};

use crate::helpers::{backends, persona};

fn human(email: &str) -> NewUser {
    NewUser {
        email: email.to_owned(),
        password_hash: "$argon2id$fake".to_owned(),
        kind: UserKind::Human,
        role: Role::User,
        master_key: None,
    }
}

#[tokio::test]
async fn register_creates_the_personal_space_and_refuses_taken_emails() {
    for db in backends().await {
        let store = &db.store;
        let user = store.create_user(human("Mia@Example.org")).await.unwrap();
        assert_eq!(user.kind, UserKind::Human, "{}", db.label);
        let spaces = store.spaces_of(&user.id).await.unwrap();
        assert_eq!(spaces.len(), 1, "{}", db.label);
        assert_eq!(spaces[0].space_type, SpaceType::Personal);
        assert_eq!(store.personal_space(&user.id).await.unwrap(), spaces[0]);
        assert!(
            store
                .is_space_member(&spaces[0].id, &user.id)
                .await
                .unwrap()
        );

        let taken = store
            .create_user(human("mia@EXAMPLE.org"))
            .await
            .unwrap_err();
        assert!(
            matches!(taken, StoreError::Conflict(_)),
            "{}: {taken:?}",
            db.label
        );
        assert_eq!(
            store
                .user_by_email("MIA@example.org")
                .await
                .unwrap()
                .unwrap()
                .id,
            user.id
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn shared_spaces_and_memberships() {
    for db in backends().await {
        let store = &db.store;
        let anna = store.create_user(human("anna@example.org")).await.unwrap();
        let ben = store.create_user(human("ben@example.org")).await.unwrap();
        let family = store
            .create_space(&anna.id, "Familie", SpaceType::Family)
            .await
            .unwrap();
        assert!(
            store.add_space_member(&family.id, &ben.id).await.unwrap(),
            "{}",
            db.label
        );
        assert!(
            !store.add_space_member(&family.id, &ben.id).await.unwrap(),
            "re-adding is a no-op"
        );
        let ben_spaces = store.spaces_of(&ben.id).await.unwrap();
        assert_eq!(
            ben_spaces
                .iter()
                .map(|space| space.space_type)
                .collect::<Vec<_>>(),
            vec![SpaceType::Personal, SpaceType::Family]
        );
        let personal = store
            .create_space(&anna.id, "x", SpaceType::Personal)
            .await
            .unwrap_err();
        assert!(matches!(personal, StoreError::Conflict(_)));
        let unknown = store
            .add_space_member(&family.id, "no-such-user")
            .await
            .unwrap_err();
        assert!(
            matches!(unknown, StoreError::NotFound { .. }),
            "{}: {unknown:?}",
            db.label
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn deleting_a_user_cascades() {
    for db in backends().await {
        let store = &db.store;
        let at = now();
        let anna = persona(store, "Anna", catalog::Cadence::Daily).await;
        let ben = persona(store, "Ben", catalog::Cadence::Daily).await;
        let family = store
            .create_space(&anna, "Familie", SpaceType::Family)
            .await
            .unwrap();
        store.add_space_member(&family.id, &ben).await.unwrap();
        let personal = store.personal_space(&anna).await.unwrap();
        store
            .insert_record(
                gateway::store::NewRecord {
                    space_id: personal.id.clone(),
                    collection: "tasks".into(),
                    id: "t1".into(),
                    data: serde_json::Map::new(),
                    created_by: Some(anna.clone()),
                },
                at,
            )
            .await
            .unwrap();
        store
            .start_tick(&gateway::store::NewTick {
                tick_id: "tick-a".into(),
                persona_id: anna.clone(),
                provider: "scripted".into(),
                model: "scripted".into(),
                started_at: at,
            })
            .await
            .unwrap();
        store
            .insert_actions(
                &anna,
                &[crate::helpers::action("tick-a", 0, "todo.create", at)],
                at,
            )
            .await
            .unwrap();
        store
            .insert_feedback(
                &anna,
                &[crate::helpers::feedback("tick-a", "todo", 4, at)],
                at,
            )
            .await
            .unwrap();

        store.delete_user(&anna).await.unwrap();

        assert!(
            matches!(store.user(&anna).await, Err(StoreError::NotFound { .. })),
            "{}",
            db.label
        );
        assert!(matches!(
            store.persona(&anna).await,
            Err(StoreError::NotFound { .. })
        ));
        assert!(matches!(
            store.tick("tick-a").await,
            Err(StoreError::NotFound { .. })
        ));
        assert!(store.tick_actions("tick-a").await.unwrap().is_empty());
        assert!(store.tick_feedback("tick-a").await.unwrap().is_empty());
        assert!(
            matches!(
                store.space(&personal.id).await,
                Err(StoreError::NotFound { .. })
            ),
            "personal space goes"
        );
        assert!(
            store
                .record(&personal.id, "tasks", "t1")
                .await
                .unwrap()
                .is_none()
        );
        // The family space still has Ben, so it stays.
        assert_eq!(store.space(&family.id).await.unwrap().owner_id, None);
        assert_eq!(store.spaces_of(&ben).await.unwrap().len(), 2);
        assert!(matches!(
            store.delete_user(&anna).await,
            Err(StoreError::NotFound { .. })
        ));
        db.finish().await;
    }
}
