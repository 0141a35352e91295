//! What a handler gets besides its input: who is calling, in which space,
//! the store, the lazily fetched master key, and the call's tracing span.

use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tokio::sync::OnceCell;

use crate::crypto::MasterKey;
use crate::encryption::{encrypted_fields, open_fields, seal_fields};
use crate::error::ToolError;
use crate::store::{AppStore, MasterKeys, NewRecord, Record};

/// Who made the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invoker {
    /// An MCP client (an agent or a persona) in this session.
    Mcp { session_id: Option<String> },
    /// The app itself (tests, internal jobs).
    Internal,
}

#[derive(Clone)]
pub struct ToolContext {
    pub user_id: String,
    pub space_id: String,
    pub invoker: Invoker,
    /// The time the call is made at; record clocks use it.
    pub now: DateTime<Utc>,
    pub span: tracing::Span,
    store: Arc<dyn AppStore>,
    keys: Arc<dyn MasterKeys>,
    /// Fetched on first use, so calls that touch no encrypted field never
    /// unwrap a key.
    master_key: Arc<OnceCell<MasterKey>>,
}

impl ToolContext {
    pub fn new(
        user_id: impl Into<String>,
        space_id: impl Into<String>,
        invoker: Invoker,
        store: Arc<dyn AppStore>,
        keys: Arc<dyn MasterKeys>,
    ) -> ToolContext {
        ToolContext {
            user_id: user_id.into(),
            space_id: space_id.into(),
            invoker,
            // Microseconds: what PostgreSQL stores, so both backends return
            // the same instants.
            now: Utc::now().trunc_subsecs(6),
            span: tracing::Span::none(),
            store,
            keys,
            master_key: Arc::new(OnceCell::new()),
        }
    }

    pub fn store(&self) -> &dyn AppStore {
        self.store.as_ref()
    }

    pub async fn master_key(&self) -> Result<&MasterKey, ToolError> {
        Ok(self
            .master_key
            .get_or_try_init(|| async { self.keys.master_key(&self.user_id).await })
            .await?)
    }

    /// Typed access to one collection of the caller's space, encrypting and
    /// decrypting by the app's encryption table.
    pub fn records<'a>(&'a self, collection: &'static str) -> Records<'a> {
        Records {
            context: self,
            collection,
            encrypted: encrypted_fields(collection),
        }
    }
}

/// A collection of the current space; documents are `serde` types.
pub struct Records<'a> {
    context: &'a ToolContext,
    collection: &'static str,
    encrypted: Option<&'static [&'static str]>,
}

/// A stored document with its id and bookkeeping.
#[derive(Debug, Clone)]
pub struct Doc<T> {
    pub id: String,
    pub doc: T,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Records<'_> {
    pub async fn insert<T: Serialize + DeserializeOwned>(
        &self,
        doc: &T,
    ) -> Result<Doc<T>, ToolError> {
        let id = uuid::Uuid::now_v7().to_string();
        let mut data = to_object(doc)?;
        self.seal(&mut data).await?;
        let record = self
            .context
            .store
            .insert_record(
                NewRecord {
                    space_id: self.context.space_id.clone(),
                    collection: self.collection.to_owned(),
                    id,
                    data,
                    created_by: Some(self.context.user_id.clone()),
                },
                self.context.now,
            )
            .await?;
        self.open(record).await
    }

    pub async fn get<T: DeserializeOwned>(&self, id: &str) -> Result<Option<Doc<T>>, ToolError> {
        let record = self
            .context
            .store
            .record(&self.context.space_id, self.collection, id)
            .await?;
        match record {
            Some(record) => Ok(Some(self.open(record).await?)),
            None => Ok(None),
        }
    }

    /// Like [`Records::get`], but a missing record is [`ToolError::NotFound`]
    /// naming `what`.
    pub async fn require<T: DeserializeOwned>(
        &self,
        what: &'static str,
        id: &str,
    ) -> Result<Doc<T>, ToolError> {
        self.get(id).await?.ok_or_else(|| ToolError::NotFound {
            what,
            id: id.to_owned(),
        })
    }

    pub async fn list<T: DeserializeOwned>(&self) -> Result<Vec<Doc<T>>, ToolError> {
        let records = self
            .context
            .store
            .list_records(&self.context.space_id, self.collection)
            .await?;
        let mut docs = Vec::with_capacity(records.len());
        for record in records {
            docs.push(self.open(record).await?);
        }
        Ok(docs)
    }

    /// Writes the fields of `patch` (last writer wins per field).
    pub async fn update<T: DeserializeOwned>(
        &self,
        what: &'static str,
        id: &str,
        mut patch: Map<String, Value>,
    ) -> Result<Doc<T>, ToolError> {
        self.seal(&mut patch).await?;
        let update = self
            .context
            .store
            .update_record(
                &self.context.space_id,
                self.collection,
                id,
                patch,
                self.context.now,
            )
            .await
            .map_err(|error| match error {
                crate::store::AppStoreError::NotFound(_) => ToolError::NotFound {
                    what,
                    id: id.to_owned(),
                },
                other => other.into(),
            })?;
        self.open(update.record).await
    }

    async fn seal(&self, data: &mut Map<String, Value>) -> Result<(), ToolError> {
        if let Some(fields) = self.encrypted
            && fields
                .iter()
                .any(|field| data.get(*field).is_some_and(|v| !v.is_null()))
        {
            seal_fields(self.context.master_key().await?, fields, data)?;
        }
        Ok(())
    }

    async fn open<T: DeserializeOwned>(&self, record: Record) -> Result<Doc<T>, ToolError> {
        let mut data = record.data;
        if let Some(fields) = self.encrypted
            && fields
                .iter()
                .any(|field| data.get(*field).is_some_and(crate::crypto::is_encrypted))
        {
            open_fields(self.context.master_key().await?, fields, &mut data)?;
        }
        let doc = serde_json::from_value(Value::Object(data)).map_err(|error| {
            ToolError::Internal(format!(
                "stored {} {} is malformed: {error}",
                self.collection, record.id
            ))
        })?;
        Ok(Doc {
            id: record.id,
            doc,
            created_at: record.created_at,
            updated_at: record.updated_at,
        })
    }
}

pub(crate) fn to_object<T: Serialize>(value: &T) -> Result<Map<String, Value>, ToolError> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(ToolError::Internal(format!(
            "a document must be an object, got {other}"
        ))),
        Err(error) => Err(ToolError::Internal(error.to_string())),
    }
}
