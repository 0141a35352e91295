//! Every tool through `Registry::invoke` on the real store, per backend.

mod app;
mod modules;
mod todo;

use std::sync::Arc;

use gateway::accounts::register;
use gateway::store::{Role, User};
use gateway::vault::Vault;
use registry::crypto::KeyCache;
use registry::policy::{PolicyGate, PolicyMode};
use registry::{Access, Invoker, Registry, ToolContext, ToolError};
use serde_json::Value;

use crate::helpers::{TestDb, backends, keyring};

/// A registered user, the app's registry and a vault over one backend.
pub struct ToolEnv {
    pub db: TestDb,
    pub registry: Registry,
    pub vault: Arc<Vault>,
    pub user: User,
    pub space_id: String,
}

impl ToolEnv {
    pub async fn new(db: TestDb, gate: PolicyGate) -> ToolEnv {
        let user = register(&db.store, &keyring(), "mia@example.org", "pw", Role::User)
            .await
            .unwrap();
        let space_id = db.store.personal_space(&user.id).await.unwrap().id;
        let vault = Arc::new(Vault::new(
            db.store.clone(),
            Arc::new(keyring()),
            KeyCache::default(),
        ));
        let registry = Registry::with_app_tools(gate).unwrap();
        ToolEnv {
            db,
            registry,
            vault,
            user,
            space_id,
        }
    }

    pub fn context(&self) -> ToolContext {
        ToolContext::new(
            self.user.id.clone(),
            self.space_id.clone(),
            Invoker::Internal,
            Arc::new(self.db.store.clone()),
            self.vault.clone(),
        )
    }

    pub async fn call(&self, tool: &str, arguments: Value) -> Result<Value, ToolError> {
        self.registry
            .invoke(tool, Some(arguments), self.context(), Access::default())
            .await
            .map(|output| output.value)
    }

    /// Calls a tool that must succeed.
    pub async fn ok(&self, tool: &str, arguments: Value) -> Value {
        self.call(tool, arguments.clone())
            .await
            .unwrap_or_else(|error| panic!("{}: {tool} {arguments} failed: {error}", self.db.label))
    }

    /// Calls a tool that must fail with invalid input; returns the message.
    pub async fn invalid(&self, tool: &str, arguments: Value) -> String {
        match self.call(tool, arguments.clone()).await {
            Err(error @ ToolError::InvalidInput(_)) => error.to_string(),
            other => panic!(
                "{}: {tool} {arguments}: expected invalid input, got {other:?}",
                self.db.label
            ),
        }
    }

    /// The stored (raw) data of a record, as the database holds it.
    pub async fn raw(&self, collection: &str, id: &str) -> serde_json::Map<String, Value> {
        self.db
            .store
            .record(&self.space_id, collection, id)
            .await
            .unwrap()
            .unwrap()
            .data
    }
}

/// One environment per backend, with the gate in `enforce` and a high limit.
pub async fn envs() -> Vec<ToolEnv> {
    let mut envs = Vec::new();
    for db in backends().await {
        envs.push(
            ToolEnv::new(
                db,
                PolicyGate::new(PolicyMode::Enforce, 1000, PolicyGate::DEFAULT_WINDOW),
            )
            .await,
        );
    }
    envs
}

pub fn id_of(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}
