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
use aws_sdk_s3::config::retry::{RetryPartition, TokenBucket};
use aws_sdk_s3::config::{Credentials, Region, ResponseChecksumValidation};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, ChecksumAlgorithm, ChecksumMode, ChecksumType,
    CompletedMultipartUpload, CompletedPart, MetadataDirective, ObjectLockEnabled,
    ObjectLockLegalHold, ObjectLockLegalHoldStatus, ServerSideEncryption, StorageClass,
};
use futures::{StreamExt, TryStreamExt};

/// Retry tokens of the S3 clients' own partition: about 3,500 retried connection errors.
const RETRY_QUOTA: usize = 50_000;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use custody_core::store::{
    BucketConfig, ByteRange, CopyInPlace, CopyOutcome, Encryption, ObjectBody, ObjectHead,
    ObjectSummary, PutCondition, PutOutcome, PutRequest, StoreError, StoreErrorKind, StoreMark,
    StoreRead, StoreWrite, StoredChecksum, Tag, Versioning,
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
    // The default retry quota (500 tokens, 14 per retried connection error) empties after a few
    // dozen errors, and every later call then fails at once: a bad minute would fail a run. A
    // quota of its own, this large, lets a burst of errors slow a run (each retry still backs
    // off) instead; the in-run retries above the SDK bound the attempts.
    config = config.retry_partition(
        RetryPartition::custom("custody-s3")
            .token_bucket(TokenBucket::new(RETRY_QUOTA))
            .build(),
    );
    // The SDK validates a GET's body against a stored checksum only when the request asks for
    // the checksum (checksum mode set on the input), which custody's GETs never do: the hashing
    // engine sends checksum mode as a header where it wants the stored value, computes that
    // algorithm in its own pass and reports a disagreement as a mismatch naming both values
    // (with SDK validation the read would fail instead, and end as a store error). Nothing is
    // lost elsewhere: S3 sends no checksum headers on a GET without checksum mode, so no other
    // GET was validated by the SDK on AWS (bodies travel over TLS there), and ledger objects are
    // checked against their signed hashes wherever they are read.
    config = config.response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    if shared.region().is_none() {
        // A local endpoint needs some region to sign with; S3 itself always has one.
        config = config.region(Region::new("us-east-1"));
    }
    Client::from_conf(config.build())
}

mod copy;
mod errors;
mod mark;
mod read;
mod write;

#[cfg(test)]
use errors::classify;
pub(crate) use errors::{is_missing_object_lock, sdk_error};
use read::*;

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
}

#[cfg(test)]
mod tests;
