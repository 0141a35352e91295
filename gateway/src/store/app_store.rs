//! The store as the registry's [`AppStore`]: what tool handlers may touch.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use registry::store::{AppStore, AppStoreError, NewRecord, Record, RecordUpdate, SpaceInfo};
use serde_json::{Map, Value};

use super::{Store, StoreError};

impl From<StoreError> for AppStoreError {
    fn from(error: StoreError) -> AppStoreError {
        match error {
            StoreError::NotFound { what, id } => AppStoreError::NotFound(format!("{what} {id}")),
            StoreError::Conflict(message) => AppStoreError::Conflict(message),
            other => {
                // The agent sees a generic message; the cause goes to the log.
                tracing::error!(error = ?other, "store error during a tool call");
                AppStoreError::Unavailable("the app's storage failed; try again later".into())
            }
        }
    }
}

#[async_trait]
impl AppStore for Store {
    async fn insert_record(
        &self,
        new: NewRecord,
        at: DateTime<Utc>,
    ) -> Result<Record, AppStoreError> {
        Ok(Store::insert_record(self, new, at).await?)
    }

    async fn record(
        &self,
        space_id: &str,
        collection: &str,
        id: &str,
    ) -> Result<Option<Record>, AppStoreError> {
        Ok(Store::record(self, space_id, collection, id).await?)
    }

    async fn list_records(
        &self,
        space_id: &str,
        collection: &str,
    ) -> Result<Vec<Record>, AppStoreError> {
        Ok(Store::list_records(self, space_id, collection).await?)
    }

    async fn update_record(
        &self,
        space_id: &str,
        collection: &str,
        id: &str,
        patch: Map<String, Value>,
        at: DateTime<Utc>,
    ) -> Result<RecordUpdate, AppStoreError> {
        Ok(Store::update_record(self, space_id, collection, id, patch, at).await?)
    }

    async fn delete_record(
        &self,
        space_id: &str,
        collection: &str,
        id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), AppStoreError> {
        Ok(Store::delete_record(self, space_id, collection, id, at).await?)
    }

    async fn spaces_of(&self, user_id: &str) -> Result<Vec<SpaceInfo>, AppStoreError> {
        let spaces = Store::spaces_of(self, user_id).await?;
        Ok(spaces
            .into_iter()
            .map(|space| SpaceInfo {
                id: space.id,
                name: space.name,
                space_type: space.space_type,
            })
            .collect())
    }
}
