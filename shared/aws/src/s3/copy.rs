//! CopyObject onto the same key with replaced metadata: one CopyObject up to the multipart
//! threshold, above it CreateMultipartUpload, UploadPartCopy of ranges and CompleteMultipartUpload,
//! carrying over the system metadata, encryption, storage class and checksum choice of the source.

use super::*;

impl S3Store {
    pub(super) fn copy_source(&self, key: &str, version: Option<&str>) -> String {
        copy_source(&self.bucket, key, version)
    }

    /// What a copy must carry over from its source version, read with one HEAD.
    pub(super) async fn source_settings(
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

    pub(super) async fn copy_single(
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

    pub(super) async fn copy_multipart(
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

    pub(super) async fn copy_parts_and_complete(
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
pub(super) struct SourceSettings {
    pub(super) size: u64,
    pub(super) content_type: Option<String>,
    pub(super) content_encoding: Option<String>,
    pub(super) content_disposition: Option<String>,
    pub(super) content_language: Option<String>,
    pub(super) cache_control: Option<String>,
    pub(super) website_redirect_location: Option<String>,
    pub(super) storage_class: Option<StorageClass>,
    pub(super) server_side_encryption: Option<ServerSideEncryption>,
    pub(super) ssekms_key_id: Option<String>,
    pub(super) bucket_key_enabled: Option<bool>,
    /// The source stores a SHA-256 checksum: ask for one on the copy too.
    pub(super) sha256: bool,
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

/// The `CopySource` of one version: bucket and key URL-encoded (keeping `/`), pinned by
/// `?versionId=`.
pub(super) fn copy_source(bucket: &str, key: &str, version: Option<&str>) -> String {
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
