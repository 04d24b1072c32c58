//! Writing over S3: PutObject, create-only with `If-None-Match: *`.

use super::*;

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

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let error = sdk_error("DeleteObject", Some(key), e);
                if error.kind == StoreErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(error)
                }
            }
        }
    }
}
