//! `persona up --once` as a real process in an empty directory: it seeds,
//! every due persona ticks once with the scripted LLM, and the rows are in
//! the database; a second run right after finds nobody due.

use std::process::Command;

fn persona(dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_persona"));
    command.current_dir(dir);
    for name in [
        "PERSONA_ENV",
        "PERSONA_SEED_SECRET",
        "MANA_SERVICE_KEY",
        "MANA_KEK",
        "MANA_ADMIN_PASSWORD",
        "DATABASE_URL",
        "ANTHROPIC_API_KEY",
        "PERSONA_LLM",
        "RUNNER_PAUSED",
    ] {
        command.env_remove(name);
    }
    command
}

#[tokio::test]
async fn up_once_ticks_every_due_persona_and_a_second_run_finds_nobody_due() {
    let dir = tempfile::tempdir().unwrap();
    let output = persona(dir.path())
        .args(["up", "--once", "--gateway-addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("first start: seeding 10 personas"),
        "{stdout}"
    );
    assert!(
        stdout.contains("persona")
            && stdout.contains("tools")
            && stdout.contains(" ok)")
            && !stdout.contains("failed")
            && !stdout.contains("incomplete"),
        "{stdout}"
    );

    let store = gateway::Store::connect(&format!(
        "sqlite://{}",
        dir.path().join("persona.db").display()
    ))
    .await
    .unwrap();
    let now = chrono::Utc::now();
    let mut ticked = 0;
    for summary in store.list_personas(now).await.unwrap() {
        let weekday_rest = summary.persona.cadence == catalog::Cadence::Weekdays
            && !catalog::due::runs_on(catalog::Cadence::Weekdays, now);
        if weekday_rest {
            assert_eq!(
                summary.actions_last_7_days, 0,
                "{} rests on weekends",
                summary.persona.email
            );
            continue;
        }
        ticked += 1;
        assert!(
            summary.actions_last_7_days >= 3,
            "{}: {} actions",
            summary.persona.email,
            summary.actions_last_7_days
        );
        let detail = store
            .persona_detail(&summary.persona.user_id)
            .await
            .unwrap();
        assert!(
            !detail.module_ratings.is_empty(),
            "{} rated its modules",
            summary.persona.email
        );
        assert!(stdout.contains(&summary.persona.email), "{stdout}");
    }
    assert!(ticked >= 7);
    store.close().await;

    let again = persona(dir.path())
        .args(["up", "--once", "--gateway-addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success());
    assert!(stdout.contains("nobody is due"), "{stdout}");
    assert!(!stdout.contains("seeding"), "seeding happens once");
}
