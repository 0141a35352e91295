//! The one workload all three servers answer: the gateway's real `todo.list`
//! with `{"status":"all"}` for one persona who has ten tasks.
//!
//! The gateway computes the answer on every call (JWT, space check, policy
//! gate, schema validation, reading and decrypting ten records); the peers
//! return the answer the gateway gave once, captured here and handed to them
//! in a file with the tool's name, description and input schema, so every
//! server lists the same tool and returns the same result.

use std::path::Path;

use actors::app_client::Session;
use anyhow::{Context as _, bail};
use catalog::{Catalog, LoadOptions};
use gateway::store::Store;
use rmcp::model::CallToolRequestParams;
use runner::app_login::ManaLogin;
use runner::config::Secrets;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::load::{Target, connect};

/// The tool every call goes to, as the gateway names it over MCP.
pub const TOOL: &str = "todo.list";
/// Tasks the persona has before measuring; all of them are in every answer.
const TASKS: usize = 10;

/// What the peers need to answer like the gateway: the file format between
/// the benchmark and its peer processes (`serve-peer rmcp`, `server.mjs`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Workload {
    pub tool_name: String,
    pub description: String,
    pub input_schema: Map<String, Value>,
    pub arguments: Map<String, Value>,
    /// The gateway's `CallToolResult` as JSON (content, structuredContent,
    /// isError).
    pub result: Value,
}

impl Workload {
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        std::fs::write(path, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("writing the workload to {}", path.display()))
    }

    pub fn read(path: &Path) -> anyhow::Result<Workload> {
        let text = std::fs::read(path)
            .with_context(|| format!("reading the workload from {}", path.display()))?;
        serde_json::from_slice(&text)
            .with_context(|| format!("parsing the workload in {}", path.display()))
    }
}

/// The arguments of every call.
pub fn arguments() -> Map<String, Value> {
    let mut arguments = Map::new();
    arguments.insert("status".into(), json!("all"));
    arguments
}

/// A persona account to log in as.
pub struct Persona {
    pub email: String,
    pub password: String,
}

/// Creates the SQLite file at `db` and one persona from the shipped catalog
/// in it (development secrets, as the gateway process will read them too).
pub async fn seed_persona(db: &Path) -> anyhow::Result<Persona> {
    let store = Store::open_sqlite_file(db)
        .await
        .context("opening the store")?;
    let secrets = Secrets::from_env()?;
    let catalog = Catalog::shipped(LoadOptions {
        known_modules: Some(registry::MODULES),
        ..LoadOptions::default()
    })?;
    let mut spec = catalog
        .personas
        .first()
        .context("the shipped catalog has no persona")?
        .clone();
    spec.shared_spaces.clear();
    let password = catalog::derive_password(&secrets.seed_secret, &spec.email);
    gateway::accounts::upsert_persona(&store, &secrets.keyring, &spec, &password).await?;
    store.close().await;
    Ok(Persona {
        email: spec.email,
        password,
    })
}

/// Logs the persona in to the running gateway at `api_url`: the target every
/// client uses (the peers ignore the token and the space header).
pub async fn log_in(api_url: &str, persona: &Persona) -> anyhow::Result<Target> {
    let session: Session = ManaLogin::new(api_url)?
        .log_in(&persona.email, &persona.password)
        .await?;
    Ok(Target {
        mcp_url: format!("{api_url}/mcp"),
        token: session.token,
        space_id: session.space_id,
    })
}

/// Gives the persona its ten tasks through the gateway's own `todo.create`,
/// then captures the tool's listing and one answer of the workload call.
pub async fn capture(target: &Target) -> anyhow::Result<Workload> {
    let client = connect(target).await?;
    for index in 0..TASKS {
        let mut arguments = Map::new();
        arguments.insert("title".into(), json!(format!("Benchmark task {index}")));
        arguments.insert(
            "description".into(),
            json!("A task the gateway benchmark lists"),
        );
        arguments.insert("dueDate".into(), json!(format!("2030-01-{:02}", index + 1)));
        let created = client
            .call_tool(CallToolRequestParams::new("todo.create").with_arguments(arguments))
            .await
            .context("todo.create")?;
        if created.is_error == Some(true) {
            bail!("todo.create failed: {:?}", created.content);
        }
    }
    let tools = client.list_all_tools().await.context("tools/list")?;
    let tool = tools
        .into_iter()
        .find(|tool| tool.name == TOOL)
        .with_context(|| format!("the gateway does not list {TOOL}"))?;
    let result = client
        .call_tool(CallToolRequestParams::new(TOOL).with_arguments(arguments()))
        .await
        .with_context(|| TOOL.to_owned())?;
    if result.is_error == Some(true) {
        bail!("{TOOL} failed: {:?}", result.content);
    }
    if let Err(error) = client.cancel().await {
        tracing::debug!(%error, "closing the capturing session failed");
    }
    Ok(Workload {
        tool_name: tool.name.to_string(),
        description: tool
            .description
            .map(|text| text.to_string())
            .unwrap_or_default(),
        input_schema: (*tool.input_schema).clone(),
        arguments: arguments(),
        result: serde_json::to_value(&result)?,
    })
}
