//! Marking over S3: GetObjectTagging / PutObjectTagging, the copy in place, PutObjectLegalHold.

use super::*;

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
