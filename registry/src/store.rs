//! What tools need from storage, as a trait the gateway's store implements:
//! records (documents keyed by space, collection and id, with per-field
//! last-writer-wins) and the caller's spaces. Also where master keys come from.
//!
//! `registry` cannot depend on `gateway` (the gateway depends on it), so the
//! boundary is these traits and the record types, which the store returns
//! directly.

use std::collections::BTreeMap;

use async_trait::async_trait;
use catalog::SpaceType;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::crypto::MasterKey;

#[derive(Debug, Clone, PartialEq)]
pub struct NewRecord {
    pub space_id: String,
    pub collection: String,
    pub id: String,
    pub data: Map<String, Value>,
    pub created_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub space_id: String,
    pub collection: String,
    pub id: String,
    pub data: Map<String, Value>,
    /// When each field was last written (unix milliseconds).
    pub field_updated_at: BTreeMap<String, i64>,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// The outcome of a last-writer-wins update.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordUpdate {
    pub record: Record,
    /// Fields this write set.
    pub applied: Vec<String>,
    /// Fields this write lost, because a later write had already set them.
    pub stale: Vec<String>,
}

/// A space the caller belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpaceInfo {
    pub id: String,
    pub name: String,
    pub space_type: SpaceType,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppStoreError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("storage is unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait AppStore: Send + Sync + 'static {
    async fn insert_record(
        &self,
        new: NewRecord,
        at: DateTime<Utc>,
    ) -> Result<Record, AppStoreError>;
    /// A live (not deleted) record.
    async fn record(
        &self,
        space_id: &str,
        collection: &str,
        id: &str,
    ) -> Result<Option<Record>, AppStoreError>;
    /// Live records of a collection, oldest first.
    async fn list_records(
        &self,
        space_id: &str,
        collection: &str,
    ) -> Result<Vec<Record>, AppStoreError>;
    /// Missing or deleted records are `NotFound`.
    async fn update_record(
        &self,
        space_id: &str,
        collection: &str,
        id: &str,
        patch: Map<String, Value>,
        at: DateTime<Utc>,
    ) -> Result<RecordUpdate, AppStoreError>;
    async fn delete_record(
        &self,
        space_id: &str,
        collection: &str,
        id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), AppStoreError>;
    /// The spaces the user is a member of, personal first.
    async fn spaces_of(&self, user_id: &str) -> Result<Vec<SpaceInfo>, AppStoreError>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error(
        "this account uses zero-knowledge encryption: only the user's own devices hold the key, \
         so the server cannot read or write encrypted fields"
    )]
    ZeroKnowledgeUser,
    #[error("user {0} has no master key")]
    NoKey(String),
    #[error("the key vault is unavailable: {0}")]
    Unavailable(String),
}

/// Where a user's master key comes from (the gateway's vault).
#[async_trait]
pub trait MasterKeys: Send + Sync + 'static {
    async fn master_key(&self, user_id: &str) -> Result<MasterKey, KeyError>;
}
