//! The `persona` binary's offline commands, run as a real process.

use serde_json::Value;

use crate::helpers::persona_command;

fn shipped_catalog() -> Value {
    serde_json::from_str(catalog::SHIPPED_CATALOG_JSON).unwrap()
}

#[test]
fn the_shipped_catalog_passes() {
    let dir = tempfile::tempdir().unwrap();
    let output = persona_command(dir.path())
        .args(["catalog", "check"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("OK — 10 personas, 0 warning(s)"),
        "{stdout}"
    );

    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../catalog/personas.json");
    let output = persona_command(dir.path())
        .args(["catalog", "check", path])
        .output()
        .unwrap();
    assert!(output.status.success());
}

#[test]
fn three_planted_errors_are_all_named() {
    let mut catalog = shipped_catalog();
    // An unpaired persona, so no partner reference dangles as a fourth error.
    assert!(
        catalog["personas"][6]
            .get("sharedSpaces")
            .is_none_or(|spaces| spaces == &serde_json::json!([]))
    );
    catalog["personas"][6]["email"] = "jonas@gmail.com".into();
    catalog["personas"][4]["moduleMix"]["todo"] = 0.9.into();
    catalog["personas"][7]["cadence"] = "monthly".into();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.json");
    std::fs::write(&path, serde_json::to_string_pretty(&catalog).unwrap()).unwrap();

    let output = persona_command(dir.path())
        .args(["catalog", "check"])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("3 error(s)"), "{stdout}");
    for path in [
        "$.personas[6].email",
        "$.personas[4].moduleMix",
        "$.personas[7].cadence",
    ] {
        assert!(
            stdout.contains(&format!("error: {path}:")),
            "{path} missing in:\n{stdout}"
        );
    }
}

#[test]
fn unknown_modules_are_warnings_and_bad_json_and_missing_files_are_clear() {
    let mut catalog = shipped_catalog();
    let mix = catalog["personas"][0]["moduleMix"].as_object_mut().unwrap();
    let weight = mix.remove("todo").unwrap();
    mix.insert("recipes".into(), weight);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warn.json");
    std::fs::write(&path, catalog.to_string()).unwrap();
    let output = persona_command(dir.path())
        .args(["catalog", "check"])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("warning: $.personas[0].moduleMix.recipes: the app has no tools"),
        "{stdout}"
    );

    std::fs::write(&path, "{ \"personas\": [ }").unwrap();
    let output = persona_command(dir.path())
        .args(["catalog", "check"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("not valid JSON at line 1"));

    let output = persona_command(dir.path())
        .args(["catalog", "check", "/no/such/catalog.json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot read the catalog file /no/such/catalog.json"),
        "{stderr}"
    );
}

#[test]
fn the_encrypted_tools_audit_passes_on_the_shipped_registry() {
    let dir = tempfile::tempdir().unwrap();
    let output = persona_command(dir.path())
        .args(["audit", "encrypted-tools"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("no drift"), "{stdout}");
}

/// A dollar budget needs every answer's cost: with a hosted model that has
/// no price the runner refuses to start (exit 2) and says what to do,
/// before it touches the database; a bad amount is refused by name.
#[test]
fn a_dollar_budget_with_an_unpriced_model_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let output = persona_command(dir.path())
        .args(["up", "--once", "--gateway-addr", "127.0.0.1:0"])
        .env("ANTHROPIC_API_KEY", "sk-ant-test-key")
        .env("PERSONA_MODEL", "claude-unpriced-9")
        .env("PERSONA_BUDGET_USD", "0.50")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("claude-unpriced-9 has no price")
            && stderr.contains("[prices.\"claude-unpriced-9\"]"),
        "{stderr}"
    );
    assert!(!dir.path().join("persona.db").exists());

    let output = persona_command(dir.path())
        .args(["up", "--once", "--fleet-budget-usd=-1"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("\"-1\" is not a positive amount of US dollars"),
        "{stderr}"
    );
}

/// The gateway's connection limits come from flags or the environment; a
/// bad value of either is refused by name (exit 2) before the database is
/// touched.
#[test]
fn a_bad_connection_limit_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let output = persona_command(dir.path())
        .args(["gateway", "--addr", "127.0.0.1:0", "--max-connections", "0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--max-connections"), "{stderr}");

    let output = persona_command(dir.path())
        .args(["gateway", "--addr", "127.0.0.1:0"])
        .env("GATEWAY_HEADER_TIMEOUT_SECS", "soon")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--header-timeout-secs") && stderr.contains("soon"),
        "{stderr}"
    );
    assert!(!dir.path().join("persona.db").exists());
}
