//! Drives one persona for one tick against a running gateway, the way the
//! runner does, and prints every row the tick produced.
//!
//! ```sh
//! cargo run -p runner --bin persona -- gateway &      # the app, on 127.0.0.1:3069
//! cargo run -p runner --bin persona -- seed           # the ten catalog personas
//! cargo run -p runner --example drive_one_persona -- http://127.0.0.1:3069 anna.keller@mana.test
//! ```
//!
//! It logs in with the password derived from `PERSONA_SEED_SECRET` (the
//! development fallback when unset), connects to `/mcp` with the official
//! Rust MCP SDK, and lets the offline scripted simulator spend the day. The
//! rows are printed, not stored.

use actors::llm::scripted::{ScriptedLlm, ScriptedProfile};
use actors::mcp_client::McpConnection;
use actors::tick::{PersonaProfile, TickRecorder, TickSettings, run_tick};
use anyhow::Context as _;
use catalog::{Catalog, LoadOptions, SeedSecret, derive_password};
use runner::app_login::ManaLogin;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let api_url = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:3069".into());
    let email = args
        .next()
        .unwrap_or_else(|| "anna.keller@mana.test".into());

    let catalog = Catalog::shipped(LoadOptions::default())?;
    let spec = catalog
        .find_by_email(&email)
        .with_context(|| format!("{email} is not in the built-in catalog"))?;
    let secret = match std::env::var("PERSONA_SEED_SECRET") {
        Ok(secret) => SeedSecret::new(secret, false)?,
        Err(_) => SeedSecret::dev_fallback(),
    };
    let session = ManaLogin::new(&api_url)?
        .log_in(&email, &derive_password(&secret, &email))
        .await
        .context("logging in (did you run `persona seed`?)")?;
    let profile = PersonaProfile {
        id: session.user_id.clone(),
        email: spec.email.clone(),
        name: spec.name.clone(),
        archetype: spec.archetype.clone(),
        module_mix: spec.module_mix.clone(),
        system_prompt: spec.system_prompt.clone(),
        cadence: spec.cadence,
    };
    let mcp = McpConnection::open(&format!("{api_url}/mcp"), &session, &profile).await?;
    let tick_id = uuid::Uuid::now_v7().to_string();
    let llm = ScriptedLlm::new(
        ScriptedProfile {
            archetype: spec.archetype.clone(),
            module_mix: spec.module_mix.clone(),
        },
        &tick_id,
    );
    let recorder = TickRecorder::default();
    run_tick(
        &profile,
        &tick_id,
        &llm,
        &mcp,
        TickSettings::default(),
        &recorder,
        chrono::Utc::now().into(),
    )
    .await?;
    mcp.close().await;

    let record = recorder.take();
    println!(
        "tick {tick_id} of {} ({} LLM rounds)",
        spec.name, record.turns
    );
    for action in &record.actions {
        let outcome = action.error_message.as_deref().unwrap_or("ok");
        println!(
            "  {:<24} {:>5} ms  {outcome}",
            action.tool_name, action.latency_ms
        );
    }
    for rating in &record.feedback {
        let stars = rating
            .rating
            .map_or("-".to_owned(), |rating| rating.to_string());
        println!("  rated {:<10} {stars}  {}", rating.module, rating.notes);
    }
    Ok(())
}
