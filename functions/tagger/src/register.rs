//! Keeping a warm function's matter register current. The register is read at cold start; a
//! warm function would otherwise apply yesterday's matters for hours. Before each invocation the
//! watch sends one HEAD for the register object (a few milliseconds, no body) and reads it again,
//! pinned to the version the HEAD saw, only when its ETag changed, so a new matter applies from
//! the next invocation on.
//!
//! A register that cannot be read or parsed fails the invocation's work as retryable (messages go
//! back to the queue, Batch Operations tasks are `TemporaryFailure`): holds decided on a stale
//! register are what this watch exists to prevent.

use std::sync::{Arc, Mutex};

use custody_core::hold::{
    ENV_HOLD_SELECT, MatterRegister, RegisterError, RegisterLocation, Selection, SelectionSpec,
};
use custody_core::ingest::IngestConfig;
use custody_core::store::{StoreError, StoreRead};

/// Why the register could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum RegisterWatchError {
    #[error("matter register s3://{bucket}/{key}: {source}")]
    Read {
        bucket: String,
        key: String,
        #[source]
        source: StoreError,
    },
    #[error(transparent)]
    Invalid(#[from] RegisterError),
}

/// The register object and what was read of it last.
pub struct RegisterWatch {
    bucket: String,
    key: String,
    store: Arc<dyn StoreRead>,
    last: Mutex<Option<(String, MatterRegister)>>,
}

impl RegisterWatch {
    /// A watch over the register `hold_select` (`matters:s3://bucket/key`) names, read through
    /// `store` (opened on that bucket); `None` when the selection is not an S3 register.
    pub fn for_selection(hold_select: &str, store: Arc<dyn StoreRead>) -> Option<RegisterWatch> {
        match SelectionSpec::parse(ENV_HOLD_SELECT, hold_select).ok()? {
            SelectionSpec::Matters(RegisterLocation::S3 { bucket, key }) => Some(RegisterWatch {
                bucket,
                key,
                store,
                last: Mutex::new(None),
            }),
            _ => None,
        }
    }

    /// `s3://bucket` of the register, for opening its store.
    pub fn bucket_location(hold_select: &str) -> Option<String> {
        match SelectionSpec::parse(ENV_HOLD_SELECT, hold_select).ok()? {
            SelectionSpec::Matters(RegisterLocation::S3 { bucket, .. }) => {
                Some(format!("s3://{bucket}"))
            }
            _ => None,
        }
    }

    /// Put the current register into `config`; `Ok(true)` when it was read again.
    pub async fn refresh(&self, config: &mut IngestConfig) -> Result<bool, RegisterWatchError> {
        let read_error = |source: StoreError| RegisterWatchError::Read {
            bucket: self.bucket.clone(),
            key: self.key.clone(),
            source,
        };
        let head = self.store.head(&self.key, None).await.map_err(read_error)?;
        let cached = self.last.lock().expect("register cache").clone();
        if let Some((etag, register)) = cached
            && etag == head.etag
        {
            config.policy.selection = Selection::Matters(register);
            return Ok(false);
        }
        let bytes = self
            .store
            .get_bytes(&self.key, head.version_id.as_deref())
            .await
            .map_err(read_error)?;
        let name = format!("s3://{}/{}", self.bucket, self.key);
        let register = MatterRegister::from_json(&name, &bytes)?;
        tracing::info!(
            register = %name,
            etag = %head.etag,
            version = head.version_id.as_deref(),
            matters = register.matter_count(),
            "matter register read"
        );
        *self.last.lock().expect("register cache") = Some((head.etag, register.clone()));
        config.policy.selection = Selection::Matters(register);
        Ok(true)
    }
}
