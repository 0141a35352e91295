//! The todo tools: create, list and complete.

use serde_json::json;

use super::{envs, id_of};

#[tokio::test]
async fn todo_create_list_complete() {
    for env in envs().await {
        let first = env.ok("todo.create", json!({ "title": "Einkaufen", "dueDate": "2026-12-02", "priority": "high", "subtasks": ["Milch", "Brot"] })).await;
        assert_eq!(first["done"], false);
        assert_eq!(
            first["subtasks"][1],
            json!({ "title": "Brot", "done": false })
        );
        let second = env
            .ok(
                "todo.create",
                json!({ "title": "Steuererklärung", "dueDate": "2026-11-30" }),
            )
            .await;
        env.ok("todo.create", json!({ "title": "Irgendwann" }))
            .await;

        let open = env.ok("todo.list", json!({})).await;
        let titles: Vec<&str> = open["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["title"].as_str().unwrap())
            .collect();
        assert_eq!(
            titles,
            vec!["Steuererklärung", "Einkaufen", "Irgendwann"],
            "{}: by due date, undated last",
            env.db.label
        );

        let done = env
            .ok("todo.complete", json!({ "id": id_of(&second) }))
            .await;
        assert_eq!(done["done"], true);
        assert!(done["completedAt"].is_string());
        let again = env
            .ok("todo.complete", json!({ "id": id_of(&second) }))
            .await;
        assert_eq!(
            again["completedAt"], done["completedAt"],
            "completing twice changes nothing"
        );

        assert_eq!(env.ok("todo.list", json!({})).await["total"], 2);
        let finished = env.ok("todo.list", json!({ "status": "done" })).await;
        assert_eq!(finished["tasks"][0]["title"], "Steuererklärung");
        assert_eq!(
            env.ok("todo.list", json!({ "status": "all", "limit": 1 }))
                .await["tasks"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(id_of(&first).len(), 36);
        env.db.finish().await;
    }
}
