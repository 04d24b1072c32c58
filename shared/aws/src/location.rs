//! Store locations as users write them: `s3://bucket[/prefix]`, a folder path, or a `file://` URL.

use std::sync::Arc;

use custody_core::store::{ObjectStore, StoreError, StoreErrorKind, open_folder};

use crate::s3::{S3Options, S3Store};

/// A store opened from a location string, and the key prefix the location named inside it.
#[derive(Clone)]
pub struct OpenedStore {
    pub store: Arc<dyn ObjectStore>,
    /// For `s3://bucket/some/prefix`, `some/prefix`; empty for a bare bucket or a folder.
    pub prefix: String,
}

/// Opens `s3://bucket[/prefix]` with the connection settings of `s3` (its `bucket` is replaced by
/// the location's), or a local folder given as a path or `file://` URL.
pub async fn open(location: &str, s3: &S3Options) -> Result<OpenedStore, StoreError> {
    if let Some(rest) = location.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(StoreError::new(
                StoreErrorKind::InvalidRequest,
                "OpenStore",
                format!("{location:?} names no bucket"),
            ));
        }
        let options = S3Options {
            bucket: bucket.to_string(),
            ..s3.clone()
        };
        return Ok(OpenedStore {
            store: Arc::new(S3Store::connect(&options).await),
            prefix: prefix.to_string(),
        });
    }
    Ok(OpenedStore {
        store: open_folder(location)?,
        prefix: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn open_reads_bucket_and_prefix_from_an_s3_location() {
        let settings = S3Options {
            region: Some("eu-west-1".into()),
            ..S3Options::new("ignored")
        };
        let opened = open("s3://exports-bucket/org-1/year=2024", &settings)
            .await
            .unwrap();
        assert_eq!(opened.store.bucket(), "exports-bucket");
        assert_eq!(opened.store.location(), "s3://exports-bucket");
        assert_eq!(opened.prefix, "org-1/year=2024");
        assert!(open("s3://", &settings).await.is_err());
    }

    #[tokio::test]
    async fn open_takes_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        let opened = open(&dir.path().display().to_string(), &S3Options::new(""))
            .await
            .unwrap();
        assert!(opened.store.location().starts_with("file://"));
        assert_eq!(opened.prefix, "");
    }
}
