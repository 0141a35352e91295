//! A target file through the runtime: the built-in app described by a file
//! that lets the personas use only some tools and names a module of its
//! own, and `persona runner` refusing a bad file with every problem named.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use catalog::target::Target;
use runner::wiring::{Provider, StoreSink};

use crate::helpers::{gateway_with_personas, persona_command};
use crate::runtime::start_actors_with;

#[tokio::test]
async fn a_target_file_limits_the_tools_and_names_their_modules() {
    let gateway = gateway_with_personas().await;
    let target = Target::from_toml(&format!(
        r#"
[mcp]
url = "{url}/mcp"

[auth]
kind = "login"
url = "{url}"

[headers]
x-mana-space = "{{space_id}}"

[tools]
include = ["notes.*", "todo.*"]
exclude = ["todo.delete", "todo.complete"]

[modules]
"notes.create" = "writing"
"#,
        url = gateway.url
    ))
    .unwrap();
    let system = start_actors_with(
        &gateway,
        Arc::new(Provider::Scripted),
        Arc::new(StoreSink(gateway.store.clone())),
        |settings| settings.target = target,
    )
    .await;
    let snapshot = system.snapshot().await.unwrap();
    let mut waiting = HashMap::new();
    for entry in &snapshot.personas {
        let tick_id = system.start_tick(&entry.persona_id).await.unwrap();
        waiting.insert(entry.persona_id.clone(), tick_id);
    }
    let mut finished = Vec::new();
    let total = waiting.len();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while finished.len() < total {
        assert!(
            std::time::Instant::now() < deadline,
            "ticks still running: {waiting:?}"
        );
        finished.extend(system.take_finished(&mut waiting).await.unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut tools = Vec::new();
    let mut modules = Vec::new();
    for (_, summary) in &finished {
        let detail = system.handles.tick(&summary.tick_id).await.unwrap();
        tools.extend(detail.actions.into_iter().map(|action| action.tool_name));
        modules.extend(detail.feedback.into_iter().map(|row| row.module));
    }
    assert!(
        !tools.is_empty(),
        "the personas used the tools they were given"
    );
    for tool in &tools {
        assert!(
            (tool.starts_with("notes.") || tool.starts_with("todo."))
                && tool != "todo.delete"
                && tool != "todo.complete",
            "{tool} was never offered"
        );
    }
    for module in &modules {
        assert!(
            ["notes", "todo", "writing", catalog::PARSE_FAILURE_MODULE].contains(&module.as_str()),
            "rated {module}"
        );
    }
    if tools.iter().any(|tool| tool == "notes.create") {
        assert!(
            modules.iter().any(|module| module == "writing"),
            "notes.create is rated as the target's module: {modules:?}"
        );
    }
    system.shutdown(Duration::from_secs(5)).await;
}

#[test]
fn the_runner_refuses_a_bad_target_file_naming_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("target.toml");
    std::fs::write(
        &file,
        "[mcp]\nurl = \"ftp://app\"\n[auth]\nkind = \"oauth2\"\n[tools]\nexclude = [\"a*b\"]\n",
    )
    .unwrap();
    let output = persona_command(dir.path())
        .args(["runner", "--db", "sqlite://unused.db", "--target"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for expected in [
        "the target file",
        "mcp.url: \"ftp://app\" is not an http:// or https:// URL",
        "auth.kind: \"oauth2\" is not supported by this build yet",
        "tools.exclude[0]",
    ] {
        assert!(stderr.contains(expected), "{expected:?} in:\n{stderr}");
    }
    assert!(
        !dir.path().join("unused.db").exists(),
        "nothing was touched before the file was checked"
    );
}
