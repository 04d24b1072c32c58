//! The S3 adapter, over aws-sdk-s3.
//!
//! Connection: region, credentials and endpoint come from the standard AWS configuration chain
//! (environment, shared profile, container and instance metadata), with explicit overrides in
//! [`S3Options`]. HTTPS uses rustls with the `ring` provider; plain `http://` endpoints (a local
//! test server) work too.
//!
//! Retries: the SDK's *standard* retry mode with [`S3Options::max_attempts`] attempts (default 8,
//! against the SDK's 3) and exponential backoff from 100 ms capped at 20 s. Standard mode retries
//! throttling (`SlowDown`, 503), 500s, `RequestTimeout`, dropped connections and, for S3, an
//! `InternalError` answered inside a 200 response of CopyObject or CompleteMultipartUpload. The
//! larger attempt count rides out S3's per-prefix 503 SlowDown during large back-fills. Errors
//! that remain after the last attempt come back as [`StoreErrorKind::Transient`] so that callers
//! can retry the whole step later.

use std::time::Duration;

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, ChecksumAlgorithm, ChecksumMode, ChecksumType,
    CompletedMultipartUpload, CompletedPart, MetadataDirective, ObjectLockEnabled,
    ObjectLockLegalHold, ObjectLockLegalHoldStatus, ServerSideEncryption, StorageClass,
};
use futures::{StreamExt, TryStreamExt};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use custody_core::store::{
    BucketConfig, ByteRange, CopyInPlace, CopyOutcome, Encryption, ObjectBody, ObjectHead,
    ObjectSummary, ObjectVersion, PutCondition, PutOutcome, PutRequest, StoreError, StoreErrorKind,
    StoreMark, StoreRead, StoreWrite, StoredChecksum, Tag, Versioning,
};

/// Characters left as they are in an encoded `CopySource`: RFC 3986 unreserved plus `/`.
const COPY_SOURCE_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// An access key pair given explicitly instead of the standard credential chain.
#[derive(Clone)]
pub struct StaticCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// How to reach one bucket.
#[derive(Debug, Clone)]
pub struct S3Options {
    pub bucket: String,
    /// Region; `None` = from the standard chain (`AWS_REGION`, profile, IMDS).
    pub region: Option<String>,
    /// Endpoint override, e.g. `http://127.0.0.1:8333` for a local server.
    pub endpoint: Option<String>,
    /// Address buckets as `endpoint/bucket` instead of `bucket.endpoint`.
    pub force_path_style: bool,
    /// `None` = the standard credential chain.
    pub credentials: Option<StaticCredentials>,
    /// Attempts per request in the SDK's standard retry mode.
    pub max_attempts: u32,
    /// Part copies in flight at once during a multipart copy.
    pub copy_concurrency: usize,
}

impl S3Options {
    pub fn new(bucket: impl Into<String>) -> Self {
        S3Options {
            bucket: bucket.into(),
            region: None,
            endpoint: None,
            force_path_style: false,
            credentials: None,
            max_attempts: 8,
            copy_concurrency: 8,
        }
    }
}

/// One S3 bucket as a store: every custody port ([`StoreRead`], [`StoreMark`], [`StoreWrite`]).
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    copy_concurrency: usize,
    object_lock: std::sync::Arc<tokio::sync::OnceCell<bool>>,
}

/// Builds an S3 client from the standard chain plus the overrides in `options`.
pub async fn build_client(options: &S3Options) -> Client {
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let retry = RetryConfig::standard()
        .with_max_attempts(options.max_attempts.max(1))
        .with_initial_backoff(Duration::from_millis(100))
        .with_max_backoff(Duration::from_secs(20));
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client)
        .retry_config(retry);
    if let Some(region) = &options.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(endpoint) = &options.endpoint {
        loader = loader.endpoint_url(endpoint.clone());
    }
    if let Some(credentials) = &options.credentials {
        loader = loader.credentials_provider(Credentials::new(
            credentials.access_key_id.clone(),
            credentials.secret_access_key.clone(),
            credentials.session_token.clone(),
            None,
            "custody-static",
        ));
    }
    let shared = loader.load().await;
    let mut config = aws_sdk_s3::config::Builder::from(&shared);
    if options.force_path_style {
        config = config.force_path_style(true);
    }
    if shared.region().is_none() {
        // A local endpoint needs some region to sign with; S3 itself always has one.
        config = config.region(Region::new("us-east-1"));
    }
    Client::from_conf(config.build())
}

impl S3Store {
    pub async fn connect(options: &S3Options) -> Self {
        S3Store {
            client: build_client(options).await,
            bucket: options.bucket.clone(),
            copy_concurrency: options.copy_concurrency.max(1),
            object_lock: Default::default(),
        }
    }

    /// The SDK client underneath, for setup work the port does not cover (tests, bucket creation).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Whether the bucket has Object Lock, read once per store with GetObjectLockConfiguration
    /// only (the permission a legal-hold job has anyway). `None` when it cannot be told (access
    /// denied, network): callers then let S3 itself decide.
    async fn has_object_lock(&self) -> Option<bool> {
        self.object_lock
            .get_or_try_init(|| self.object_lock_enabled())
            .await
            .ok()
            .copied()
    }

    async fn object_lock_enabled(&self) -> Result<bool, StoreError> {
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

    fn copy_source(&self, key: &str, version: Option<&str>) -> String {
        copy_source(&self.bucket, key, version)
    }

    async fn legal_hold_of(&self, key: &str, version: Option<&str>) -> Option<bool> {
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
    async fn head_output(
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

    /// What a copy must carry over from its source version, read with one HEAD.
    async fn source_settings(
        &self,
        key: &str,
        version: Option<&str>,
    ) -> Result<SourceSettings, StoreError> {
        let out = self.head_output(key, version).await?;
        Ok(SourceSettings {
            size: out.content_length().unwrap_or(0).max(0) as u64,
            content_type: out.content_type().map(str::to_string),
            content_encoding: out.content_encoding().map(str::to_string),
            content_disposition: out.content_disposition().map(str::to_string),
            content_language: out.content_language().map(str::to_string),
            cache_control: out.cache_control().map(str::to_string),
            website_redirect_location: out.website_redirect_location().map(str::to_string),
            storage_class: out.storage_class().cloned(),
            server_side_encryption: out.server_side_encryption().cloned(),
            ssekms_key_id: out.ssekms_key_id().map(str::to_string),
            bucket_key_enabled: out.bucket_key_enabled(),
            sha256: out.checksum_sha256().is_some(),
        })
    }

    async fn copy_single(
        &self,
        request: &CopyInPlace,
        source: &SourceSettings,
    ) -> Result<CopyOutcome, StoreError> {
        let copy = self
            .client
            .copy_object()
            .bucket(&self.bucket)
            .key(&request.key)
            .copy_source(self.copy_source(&request.key, request.version_id.as_deref()))
            .metadata_directive(MetadataDirective::Replace)
            .set_metadata(Some(request.metadata.clone().into_iter().collect()));
        let out = with_source_settings!(copy, source)
            .send()
            .await
            .map_err(|e| sdk_error("CopyObject", Some(&request.key), e))?;
        Ok(CopyOutcome {
            version_id: out.version_id().map(str::to_string),
            etag: unquote(out.copy_object_result().and_then(|r| r.e_tag())),
            multipart: false,
        })
    }

    async fn copy_multipart(
        &self,
        request: &CopyInPlace,
        source: &SourceSettings,
    ) -> Result<CopyOutcome, StoreError> {
        let key = request.key.as_str();
        let create = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .set_metadata(Some(request.metadata.clone().into_iter().collect()));
        let upload = with_source_settings!(create, source)
            .send()
            .await
            .map_err(|e| sdk_error("CreateMultipartUpload", Some(key), e))?;
        let Some(upload_id) = upload.upload_id().map(str::to_string) else {
            return Err(StoreError::new(
                StoreErrorKind::Other,
                "CreateMultipartUpload",
                "the answer carried no upload id",
            )
            .with_key(key));
        };
        let result = self
            .copy_parts_and_complete(request, source, &upload_id)
            .await;
        if result.is_err() {
            let abort = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&upload_id)
                .send()
                .await;
            if let Err(e) = abort {
                tracing::warn!(key, upload_id, error = %DisplayErrorContext(&e), "could not abort multipart copy");
            }
        }
        result
    }

    async fn copy_parts_and_complete(
        &self,
        request: &CopyInPlace,
        source_settings: &SourceSettings,
        upload_id: &str,
    ) -> Result<CopyOutcome, StoreError> {
        let key = request.key.as_str();
        let size = source_settings.size;
        let with_sha256 = source_settings.sha256;
        let part_size = request.effective_part_size(size);
        let ranges: Vec<(i32, ByteRange)> = (0..size.div_ceil(part_size))
            .map(|i| {
                let first = i * part_size;
                let last = (first + part_size).min(size) - 1;
                (i as i32 + 1, ByteRange { first, last })
            })
            .collect();
        let source = self.copy_source(key, request.version_id.as_deref());
        let mut parts: Vec<CompletedPart> = futures::stream::iter(ranges)
            .map(|(number, range)| {
                let copy = self
                    .client
                    .upload_part_copy()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .part_number(number)
                    .copy_source(&source)
                    .copy_source_range(range.header());
                async move {
                    let out = copy
                        .send()
                        .await
                        .map_err(|e| sdk_error("UploadPartCopy", Some(key), e))?;
                    let result = out.copy_part_result();
                    Ok::<_, StoreError>(
                        CompletedPart::builder()
                            .part_number(number)
                            .set_e_tag(result.and_then(|r| r.e_tag()).map(str::to_string))
                            .set_checksum_sha256(if with_sha256 {
                                result.and_then(|r| r.checksum_sha256()).map(str::to_string)
                            } else {
                                None
                            })
                            .build(),
                    )
                }
            })
            .buffer_unordered(self.copy_concurrency)
            .try_collect()
            .await?;
        parts.sort_by_key(|p| p.part_number());
        let out = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| sdk_error("CompleteMultipartUpload", Some(key), e))?;
        Ok(CopyOutcome {
            version_id: out.version_id().map(str::to_string),
            etag: unquote(out.e_tag()),
            multipart: true,
        })
    }
}

/// The system metadata, encryption, storage class and checksum choice of a copy's source. With
/// `MetadataDirective=REPLACE` S3 drops every header the copy request does not repeat.
#[derive(Debug)]
struct SourceSettings {
    size: u64,
    content_type: Option<String>,
    content_encoding: Option<String>,
    content_disposition: Option<String>,
    content_language: Option<String>,
    cache_control: Option<String>,
    website_redirect_location: Option<String>,
    storage_class: Option<StorageClass>,
    server_side_encryption: Option<ServerSideEncryption>,
    ssekms_key_id: Option<String>,
    bucket_key_enabled: Option<bool>,
    /// The source stores a SHA-256 checksum: ask for one on the copy too.
    sha256: bool,
}

/// Applies [`SourceSettings`] to a CopyObject or CreateMultipartUpload request (same setters).
macro_rules! with_source_settings {
    ($builder:expr, $source:expr) => {{
        let source: &SourceSettings = $source;
        let builder = $builder
            .set_content_type(source.content_type.clone())
            .set_content_encoding(source.content_encoding.clone())
            .set_content_disposition(source.content_disposition.clone())
            .set_content_language(source.content_language.clone())
            .set_cache_control(source.cache_control.clone())
            .set_website_redirect_location(source.website_redirect_location.clone())
            .set_storage_class(source.storage_class.clone())
            .set_server_side_encryption(source.server_side_encryption.clone())
            .set_bucket_key_enabled(source.bucket_key_enabled);
        // A KMS key id is only valid with SSE-KMS; S3 reports it only then.
        let builder = if source.ssekms_key_id.is_some() {
            builder.set_ssekms_key_id(source.ssekms_key_id.clone())
        } else {
            builder
        };
        if source.sha256 {
            builder.checksum_algorithm(ChecksumAlgorithm::Sha256)
        } else {
            builder
        }
    }};
}
use with_source_settings;

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

    /// ListObjectVersions, page by page (key and version-id markers). Needs
    /// `s3:ListBucketVersions`; an unversioned bucket answers one `null` version per key.
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

    async fn head(&self, key: &str, version: Option<&str>) -> Result<ObjectHead, StoreError> {
        let out = self.head_output(key, version).await?;
        let checksum_sha256 = out.checksum_sha256().map(|value| {
            let composite = out.checksum_type() == Some(&ChecksumType::Composite);
            parse_checksum("SHA256", value, composite)
        });
        let legal_hold = match out.object_lock_legal_hold_status() {
            Some(status) => Some(*status == ObjectLockLegalHoldStatus::On),
            None if self.has_object_lock().await == Some(true) => {
                let pinned = version.or(out.version_id());
                self.legal_hold_of(key, pinned).await
            }
            None => None,
        };
        let encryption = out.server_side_encryption().map(|sse| Encryption {
            algorithm: sse.as_str().to_string(),
            kms_key_id: out.ssekms_key_id().map(str::to_string),
            bucket_key_enabled: out.bucket_key_enabled(),
        });
        Ok(ObjectHead {
            key: key.to_string(),
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
            parts_count: out.parts_count().and_then(|n| u32::try_from(n).ok()),
            legal_hold,
            storage_class: out.storage_class().map(|c| c.as_str().to_string()),
            encryption,
        })
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
        let owned_key = key.to_string();
        let chunks = futures::stream::unfold(Some(out.body), move |body| {
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
        });
        Ok(ObjectBody {
            version_id,
            content_length,
            etag,
            chunks: Box::pin(chunks),
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

#[async_trait]
impl StoreMark for S3Store {
    async fn get_tags(&self, key: &str, version: Option<&str>) -> Result<Vec<Tag>, StoreError> {
        let out = self
            .client
            .get_object_tagging()
            .bucket(&self.bucket)
            .key(key)
            .set_version_id(version.map(str::to_string))
            .send()
            .await
            .map_err(|e| sdk_error("GetObjectTagging", Some(key), e))?;
        let mut tags: Vec<Tag> = out
            .tag_set()
            .iter()
            .map(|t| Tag::new(t.key(), t.value()))
            .collect();
        tags.sort();
        Ok(tags)
    }

    async fn put_tags(
        &self,
        key: &str,
        version: Option<&str>,
        tags: &[Tag],
    ) -> Result<(), StoreError> {
        let invalid = |e: aws_smithy_types::error::operation::BuildError| {
            StoreError::new(
                StoreErrorKind::InvalidRequest,
                "PutObjectTagging",
                e.to_string(),
            )
            .with_key(key)
        };
        let tag_set = tags
            .iter()
            .map(|t| {
                aws_sdk_s3::types::Tag::builder()
                    .key(&t.key)
                    .value(&t.value)
                    .build()
                    .map_err(invalid)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let tagging = aws_sdk_s3::types::Tagging::builder()
            .set_tag_set(Some(tag_set))
            .build()
            .map_err(invalid)?;
        self.client
            .put_object_tagging()
            .bucket(&self.bucket)
            .key(key)
            .set_version_id(version.map(str::to_string))
            .tagging(tagging)
            .send()
            .await
            .map_err(|e| sdk_error("PutObjectTagging", Some(key), e))?;
        Ok(())
    }

    async fn copy_in_place(&self, request: &CopyInPlace) -> Result<CopyOutcome, StoreError> {
        let source = self
            .source_settings(&request.key, request.version_id.as_deref())
            .await?;
        if source.size > request.multipart_threshold {
            self.copy_multipart(request, &source).await
        } else {
            self.copy_single(request, &source).await
        }
    }

    async fn put_legal_hold(
        &self,
        key: &str,
        version: Option<&str>,
        on: bool,
    ) -> Result<(), StoreError> {
        // S3 refuses a legal hold on a bucket without Object Lock; SeaweedFS accepts it, so the
        // bucket's configuration (read once per store) is checked first.
        if self.has_object_lock().await == Some(false) {
            return Err(StoreError::new(
                StoreErrorKind::NoObjectLock,
                "PutObjectLegalHold",
                format!("bucket {} has no Object Lock configuration", self.bucket),
            )
            .with_key(key)
            .with_code("InvalidRequest"));
        }
        let status = if on {
            ObjectLockLegalHoldStatus::On
        } else {
            ObjectLockLegalHoldStatus::Off
        };
        let result = self
            .client
            .put_object_legal_hold()
            .bucket(&self.bucket)
            .key(key)
            .set_version_id(version.map(str::to_string))
            .legal_hold(ObjectLockLegalHold::builder().status(status).build())
            // S3 refuses Object Lock requests without an integrity checksum.
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => {
                let mut error = sdk_error("PutObjectLegalHold", Some(key), e);
                if is_missing_object_lock(&error) {
                    error.kind = StoreErrorKind::NoObjectLock;
                }
                Err(error)
            }
        }
    }
}

#[async_trait]
impl StoreWrite for S3Store {
    async fn put(&self, request: PutRequest) -> Result<PutOutcome, StoreError> {
        let mut put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&request.key)
            .body(ByteStream::from(request.body.clone()))
            .set_content_type(request.content_type.clone())
            .set_metadata(Some(request.metadata.clone().into_iter().collect()));
        if request.condition == PutCondition::IfNoneMatch {
            put = put.if_none_match("*");
        }
        if request.checksum_sha256 {
            put = put.checksum_algorithm(ChecksumAlgorithm::Sha256);
        }
        match put.send().await {
            Ok(out) => Ok(PutOutcome::Created {
                version_id: out.version_id().map(str::to_string),
                etag: unquote(out.e_tag()),
            }),
            Err(e) => {
                let error = sdk_error("PutObject", Some(&request.key), e);
                let lost_race = request.condition == PutCondition::IfNoneMatch
                    && error.kind == StoreErrorKind::PreconditionFailed
                    && error.code.as_deref() != Some("ConditionalRequestConflict");
                if lost_race {
                    Ok(PutOutcome::AlreadyExists)
                } else {
                    Err(error)
                }
            }
        }
    }
}

/// Turns an SDK error into a [`StoreError`] naming the action, the key and the service's code.
fn sdk_error<E>(
    action: &'static str,
    key: Option<&str>,
    error: SdkError<E, HttpResponse>,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = error.raw_response().map(|r| r.status().as_u16());
    let code = error.code().map(str::to_string);
    let kind = match &error {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            StoreErrorKind::Transient
        }
        SdkError::ConstructionFailure(_) => StoreErrorKind::InvalidRequest,
        _ => classify(status, code.as_deref()),
    };
    let detail = match (error.message(), status) {
        (Some(message), Some(status)) => format!("HTTP {status}: {message}"),
        (Some(message), None) => message.to_string(),
        // HEAD answers carry no body, hence no message.
        (None, Some(status)) => format!("HTTP {status} without an error message"),
        (None, None) => DisplayErrorContext(&error).to_string(),
    };
    let mut store_error = StoreError::new(kind, action, detail);
    if let Some(code) = code {
        store_error = store_error.with_code(code);
    } else if status == Some(404) {
        store_error = store_error.with_code("NotFound");
    }
    if let Some(key) = key {
        store_error = store_error.with_key(key);
    }
    store_error
}

fn classify(status: Option<u16>, code: Option<&str>) -> StoreErrorKind {
    match code {
        Some(
            "AccessDenied" | "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "AllAccessDisabled",
        ) => {
            return StoreErrorKind::AccessDenied;
        }
        Some("NoSuchKey" | "NoSuchVersion" | "NoSuchBucket" | "NotFound") => {
            return StoreErrorKind::NotFound;
        }
        Some("PreconditionFailed") => return StoreErrorKind::PreconditionFailed,
        Some(
            "ConditionalRequestConflict"
            | "SlowDown"
            | "InternalError"
            | "ServiceUnavailable"
            | "RequestTimeout"
            | "Throttling"
            | "ThrottlingException"
            | "RequestTimeTooSkewed",
        ) => return StoreErrorKind::Transient,
        Some(
            "InvalidRequest" | "InvalidArgument" | "InvalidRange" | "InvalidTag" | "BadRequest",
        ) => {
            return StoreErrorKind::InvalidRequest;
        }
        _ => {}
    }
    match status {
        Some(403) => StoreErrorKind::AccessDenied,
        Some(404) => StoreErrorKind::NotFound,
        Some(412) => StoreErrorKind::PreconditionFailed,
        Some(409 | 429 | 500 | 502 | 503 | 504) => StoreErrorKind::Transient,
        Some(400 | 416) => StoreErrorKind::InvalidRequest,
        _ => StoreErrorKind::Other,
    }
}

fn is_missing_object_lock(error: &StoreError) -> bool {
    let message = error.message.to_ascii_lowercase();
    matches!(
        error.code.as_deref(),
        Some("InvalidRequest" | "ObjectLockConfigurationNotFoundError" | "InvalidBucketState")
    ) && (message.contains("object lock") || message.contains("objectlock"))
}

fn parse_checksum(algorithm: &str, value: &str, composite: bool) -> StoredChecksum {
    let suffixed = value
        .rsplit_once('-')
        .and_then(|(base, n)| n.parse::<u32>().ok().map(|n| (base, n)));
    match suffixed {
        Some((base64, parts)) => StoredChecksum::Composite {
            algorithm: algorithm.into(),
            base64: base64.into(),
            parts,
        },
        None if composite => StoredChecksum::Composite {
            algorithm: algorithm.into(),
            base64: value.into(),
            parts: 0,
        },
        None => StoredChecksum::FullObject {
            algorithm: algorithm.into(),
            base64: value.into(),
        },
    }
}

/// The `CopySource` of one version: bucket and key URL-encoded (keeping `/`), pinned by
/// `?versionId=`.
fn copy_source(bucket: &str, key: &str, version: Option<&str>) -> String {
    let mut source = format!(
        "{}/{}",
        utf8_percent_encode(bucket, COPY_SOURCE_KEEP),
        utf8_percent_encode(key, COPY_SOURCE_KEEP)
    );
    if let Some(version) = version {
        source.push_str("?versionId=");
        source.push_str(&utf8_percent_encode(version, COPY_SOURCE_KEEP).to_string());
    }
    source
}

fn unquote(etag: Option<&str>) -> String {
    etag.unwrap_or_default().trim_matches('"').to_string()
}

fn to_chrono(time: &aws_smithy_types::DateTime) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(time.secs(), time.subsec_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_source_encodes_key_and_version() {
        assert_eq!(
            copy_source("b", "org/year=2024/a b+c%.opus", Some("v+1")),
            "b/org/year%3D2024/a%20b%2Bc%25.opus?versionId=v%2B1"
        );
    }

    #[test]
    fn errors_are_classified_by_code_then_status() {
        assert_eq!(classify(Some(403), None), StoreErrorKind::AccessDenied);
        assert_eq!(
            classify(Some(200), Some("InternalError")),
            StoreErrorKind::Transient
        );
        assert_eq!(
            classify(Some(503), Some("SlowDown")),
            StoreErrorKind::Transient
        );
        assert_eq!(classify(Some(409), None), StoreErrorKind::Transient);
        assert_eq!(
            classify(Some(412), None),
            StoreErrorKind::PreconditionFailed
        );
        assert_eq!(classify(Some(404), None), StoreErrorKind::NotFound);
        assert_eq!(classify(Some(418), None), StoreErrorKind::Other);
    }

    #[test]
    fn composite_checksums_keep_their_part_count() {
        assert_eq!(
            parse_checksum("SHA256", "abc=-3", false),
            StoredChecksum::Composite {
                algorithm: "SHA256".into(),
                base64: "abc=".into(),
                parts: 3
            }
        );
        assert!(matches!(
            parse_checksum("SHA256", "abc=", false),
            StoredChecksum::FullObject { .. }
        ));
    }
}
