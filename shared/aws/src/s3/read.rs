//! Reading a bucket over S3: ListObjectsV2, HeadObject (with checksum mode), GetObject pinned
//! to a version, bucket versioning and Object Lock configuration.

use super::*;
use custody_core::store::ChecksumAlgorithm as Algorithm;
use custody_core::store::{HeadAndBody, ListPage, ObjectVersion};

/// The [`ObjectHead`] that a HeadObject or GetObject answer describes (both carry the same
/// headers under the same accessor names). `legal_hold` is `None` when no header said it.
macro_rules! described {
    ($key:expr, $out:expr) => {{
        let out = &$out;
        let composite = out.checksum_type() == Some(&ChecksumType::Composite);
        let checksum_sha256 = out
            .checksum_sha256()
            .map(|value| parse_checksum(Algorithm::Sha256, value, composite));
        // S3 stores one algorithm per object; should a server report several, the cheapest to
        // check comes first (SHA-256 is computed anyway).
        let checksum = [
            (Algorithm::Sha256, out.checksum_sha256()),
            (Algorithm::Crc64Nvme, out.checksum_crc64_nvme()),
            (Algorithm::Crc32c, out.checksum_crc32_c()),
            (Algorithm::Crc32, out.checksum_crc32()),
            (Algorithm::Sha1, out.checksum_sha1()),
        ]
        .into_iter()
        .find_map(|(algorithm, value)| Some(parse_checksum(algorithm, value?, composite)));
        let encryption = out.server_side_encryption().map(|sse| Encryption {
            algorithm: sse.as_str().to_string(),
            kms_key_id: out.ssekms_key_id().map(str::to_string),
            bucket_key_enabled: out.bucket_key_enabled(),
        });
        ObjectHead {
            key: $key.to_string(),
            version_id: out.version_id().map(str::to_string),
            size: out.content_length().unwrap_or(0).max(0) as u64,
            etag: unquote(out.e_tag()),
            last_modified: out.last_modified().and_then(to_chrono),
            content_type: out.content_type().map(str::to_string),
            metadata: out
                .metadata()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                        .collect()
                })
                .unwrap_or_default(),
            checksum_sha256,
            checksum,
            parts_count: out.parts_count().and_then(|n| u32::try_from(n).ok()),
            legal_hold: out
                .object_lock_legal_hold_status()
                .map(|status| *status == ObjectLockLegalHoldStatus::On),
            storage_class: out.storage_class().map(|c| c.as_str().to_string()),
            encryption,
        }
    }};
}

impl S3Store {
    /// Whether the bucket has Object Lock, read once per store with GetObjectLockConfiguration
    /// only (the permission a legal-hold job has anyway). `None` when it cannot be told (access
    /// denied, network): callers then let S3 itself decide.
    pub(super) async fn has_object_lock(&self) -> Option<bool> {
        self.object_lock
            .get_or_try_init(|| self.object_lock_enabled())
            .await
            .ok()
            .copied()
    }

    pub(super) async fn object_lock_enabled(&self) -> Result<bool, StoreError> {
        let answer = self
            .client
            .get_object_lock_configuration()
            .bucket(&self.bucket)
            .send()
            .await;
        match answer {
            Ok(out) => Ok(out
                .object_lock_configuration()
                .and_then(|c| c.object_lock_enabled())
                .is_some_and(|e| *e == ObjectLockEnabled::Enabled)),
            Err(e) => {
                let error = sdk_error("GetObjectLockConfiguration", None, e);
                let not_configured = error.kind == StoreErrorKind::NotFound
                    || error.code.as_deref() == Some("ObjectLockConfigurationNotFoundError");
                if not_configured {
                    Ok(false)
                } else {
                    Err(error)
                }
            }
        }
    }

    pub(super) async fn legal_hold_of(&self, key: &str, version: Option<&str>) -> Option<bool> {
        let answer = self
            .client
            .get_object_legal_hold()
            .bucket(&self.bucket)
            .key(key)
            .set_version_id(version.map(str::to_string))
            .send()
            .await;
        match answer {
            Ok(out) => Some(
                out.legal_hold()
                    .and_then(|h| h.status())
                    .is_some_and(|s| *s == ObjectLockLegalHoldStatus::On),
            ),
            // A version whose hold was never set: S3 says NoSuchObjectLockConfiguration,
            // SeaweedFS NoSuchObjectLegalHold.
            Err(e)
                if matches!(
                    e.code(),
                    Some("NoSuchObjectLockConfiguration" | "NoSuchObjectLegalHold")
                ) =>
            {
                Some(false)
            }
            Err(_) => None,
        }
    }

    /// HEAD of one version, with the stored checksum asked for.
    pub(super) async fn head_output(
        &self,
        key: &str,
        version: Option<&str>,
    ) -> Result<aws_sdk_s3::operation::head_object::HeadObjectOutput, StoreError> {
        self.client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .set_version_id(version.map(str::to_string))
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .map_err(|e| sdk_error("HeadObject", Some(key), e))
    }
}

#[async_trait]
impl StoreRead for S3Store {
    fn explain_denial(&self, error: &StoreError, versioned: bool, kms: bool) -> Option<String> {
        crate::permissions::likely_missing_permission(error, versioned, kms)
    }

    fn location(&self) -> String {
        format!("s3://{}", self.bucket)
    }

    fn bucket(&self) -> &str {
        &self.bucket
    }

    async fn list_versions(&self, prefix: &str) -> Result<Option<Vec<ObjectVersion>>, StoreError> {
        let mut out = Vec::new();
        let (mut key_marker, mut version_marker) = (None::<String>, None::<String>);
        loop {
            let page = self
                .client
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(|e| sdk_error("ListObjectVersions", None, e))?;
            for v in page.versions() {
                out.push(ObjectVersion {
                    key: v.key().unwrap_or_default().to_string(),
                    version_id: v.version_id().unwrap_or("null").to_string(),
                    is_latest: v.is_latest().unwrap_or(false),
                    delete_marker: false,
                });
            }
            for m in page.delete_markers() {
                out.push(ObjectVersion {
                    key: m.key().unwrap_or_default().to_string(),
                    version_id: m.version_id().unwrap_or("null").to_string(),
                    is_latest: m.is_latest().unwrap_or(false),
                    delete_marker: true,
                });
            }
            if page.is_truncated() != Some(true) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_string);
            version_marker = page.next_version_id_marker().map(str::to_string);
            if key_marker.is_none() {
                break;
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Some(out))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectSummary>, StoreError> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut summaries = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error("ListObjectsV2", None, e))?;
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                summaries.push(ObjectSummary {
                    key: key.to_string(),
                    size: object.size().unwrap_or(0).max(0) as u64,
                    etag: unquote(object.e_tag()),
                });
            }
        }
        summaries.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(summaries)
    }

    async fn list_page(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        max: usize,
    ) -> Result<ListPage, StoreError> {
        let max = max.clamp(1, 1000);
        let page = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .set_start_after(start_after.map(str::to_string))
            .max_keys(max as i32)
            .send()
            .await
            .map_err(|e| sdk_error("ListObjectsV2", None, e))?;
        // The server's order, unchanged: the next page starts after the last key it returned.
        let objects: Vec<ObjectSummary> = page
            .contents()
            .iter()
            .filter_map(|object| {
                Some(ObjectSummary {
                    key: object.key()?.to_string(),
                    size: object.size().unwrap_or(0).max(0) as u64,
                    etag: unquote(object.e_tag()),
                })
            })
            .collect();
        let truncated = page.is_truncated().unwrap_or(false);
        let next = if truncated {
            objects.last().map(|s| s.key.clone())
        } else {
            None
        };
        Ok(ListPage { objects, next })
    }

    async fn head(&self, key: &str, version: Option<&str>) -> Result<ObjectHead, StoreError> {
        let out = self.head_output(key, version).await?;
        let mut head = described!(key, out);
        if head.legal_hold.is_none() && self.has_object_lock().await == Some(true) {
            let pinned = version.or(out.version_id());
            head.legal_hold = self.legal_hold_of(key, pinned).await;
        }
        Ok(head)
    }

    /// One HEAD `?partNumber=n` per part (8 at once), pinned to the version: each answers the
    /// part's `Content-Length`. `None` when an answer has another ETag (the object changed) or
    /// says another parts count, or when the server ignores `partNumber` (the sizes then add up
    /// to more than the object, which the caller checks).
    async fn part_sizes(
        &self,
        key: &str,
        version: Option<&str>,
        etag: &str,
        parts: u32,
    ) -> Result<Option<Vec<u64>>, StoreError> {
        let answers: Vec<_> = futures::stream::iter(1..=parts)
            .map(|part| async move {
                self.client
                    .head_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .set_version_id(version.map(str::to_string))
                    .part_number(part as i32)
                    .send()
                    .await
                    .map_err(|e| sdk_error("HeadObject", Some(key), e))
            })
            .buffered(8)
            .try_collect()
            .await?;
        let mut sizes = Vec::with_capacity(answers.len());
        for out in answers {
            let same_object = unquote(out.e_tag()) == etag.trim_matches('"');
            let same_count = out
                .parts_count()
                .is_none_or(|count| i64::from(count) == i64::from(parts));
            if !same_object || !same_count {
                return Ok(None);
            }
            sizes.push(out.content_length().unwrap_or(0).max(0) as u64);
        }
        Ok(Some(sizes))
    }

    /// One GetObject pinned with `versionId` and `If-Match`, checksum mode on: its headers say
    /// what HEAD would, so a listed object costs one request. The body is not validated by the
    /// SDK: the engine computes the stored checksum's algorithm in its pass and compares. A
    /// `412` (the ETag is no longer `if_match`) is [`StoreErrorKind::PreconditionFailed`]. The
    /// legal-hold state is what the GET's `x-amz-object-lock-legal-hold` header says (no extra
    /// request).
    async fn get_with_head(
        &self,
        key: &str,
        version: Option<&str>,
        if_match: Option<&str>,
    ) -> Result<HeadAndBody, StoreError> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .set_version_id(version.map(str::to_string))
            .set_if_match(if_match.map(|etag| format!("\"{}\"", etag.trim_matches('"'))))
            // Checksum mode as a header, not `.checksum_mode(Enabled)`, which would make the SDK
            // compare the body with the stored full-object checksum itself and fail the read
            // when they differ: a stored checksum that disagrees with the bytes must reach the
            // engine's own comparison (a mismatch finding naming both values), not end as a store
            // error (`build_client` sets response validation to `WhenRequired`).
            .customize()
            .mutate_request(|request| {
                request
                    .headers_mut()
                    .insert("x-amz-checksum-mode", "ENABLED");
            })
            .send()
            .await
            .map_err(|e| sdk_error("GetObject", Some(key), e))?;
        let head = described!(key, out);
        let body = ObjectBody {
            version_id: head.version_id.clone(),
            content_length: head.size,
            etag: head.etag.clone(),
            chunks: body_chunks(key, out.body),
        };
        Ok(HeadAndBody { head, body })
    }

    async fn get(
        &self,
        key: &str,
        version: Option<&str>,
        range: Option<ByteRange>,
    ) -> Result<ObjectBody, StoreError> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .set_version_id(version.map(str::to_string))
            .set_range(range.map(|r| r.header()))
            .send()
            .await
            .map_err(|e| sdk_error("GetObject", Some(key), e))?;
        let version_id = out.version_id().map(str::to_string);
        let etag = unquote(out.e_tag());
        let content_length = out.content_length().unwrap_or(0).max(0) as u64;
        Ok(ObjectBody {
            version_id,
            content_length,
            etag,
            chunks: body_chunks(key, out.body),
        })
    }

    async fn bucket_config(&self) -> Result<BucketConfig, StoreError> {
        let versioning = self
            .client
            .get_bucket_versioning()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| sdk_error("GetBucketVersioning", None, e))?;
        let versioning = match versioning.status() {
            Some(BucketVersioningStatus::Enabled) => Versioning::Enabled,
            Some(BucketVersioningStatus::Suspended) => Versioning::Suspended,
            _ => Versioning::Unversioned,
        };
        let object_lock = self.object_lock_enabled().await?;
        Ok(BucketConfig {
            versioning,
            object_lock,
        })
    }
}

pub(super) fn parse_checksum(algorithm: Algorithm, value: &str, composite: bool) -> StoredChecksum {
    let suffixed = value
        .rsplit_once('-')
        .and_then(|(base, n)| n.parse::<u32>().ok().map(|n| (base, n)));
    match suffixed {
        Some((base64, parts)) => StoredChecksum::Composite {
            algorithm,
            base64: base64.into(),
            parts,
        },
        None if composite => StoredChecksum::Composite {
            algorithm,
            base64: value.into(),
            parts: 0,
        },
        None => StoredChecksum::FullObject {
            algorithm,
            base64: value.into(),
        },
    }
}

pub(super) fn unquote(etag: Option<&str>) -> String {
    etag.unwrap_or_default().trim_matches('"').to_string()
}

pub(super) fn to_chrono(
    time: &aws_smithy_types::DateTime,
) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(time.secs(), time.subsec_nanos())
}

/// A GetObject body as the store's chunk stream; a break is a transient error naming the key.
fn body_chunks(key: &str, body: ByteStream) -> custody_core::store::ChunkStream {
    let owned_key = key.to_string();
    Box::pin(futures::stream::unfold(Some(body), move |body| {
        let key = owned_key.clone();
        async move {
            let mut body: ByteStream = body?;
            match body.try_next().await {
                Ok(Some(chunk)) => Some((Ok(chunk), Some(body))),
                Ok(None) => None,
                Err(e) => Some((
                    Err(StoreError::new(
                        StoreErrorKind::Transient,
                        "GetObject",
                        format!("reading the body failed: {}", DisplayErrorContext(&e)),
                    )
                    .with_key(key)),
                    None,
                )),
            }
        }
    }))
}
