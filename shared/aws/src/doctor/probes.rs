//! One harmless call per IAM action: S3 authorises a request before it looks at the key, the
//! version, the preconditions or the body, so a request built to fail *after* authorisation shows
//! whether the permission is there without changing anything.
//!
//! | action | probe | answers that prove the grant |
//! |---|---|---|
//! | s3:ListBucket | `GET /?list-type=2&prefix=P&max-keys=1` | 200 |
//! | s3:GetObject | `HEAD` of an object under P (else of a key that does not exist) | 200, 404 |
//! | s3:GetObjectVersion | `HEAD ?versionId=` of that object | 200 |
//! | s3:Get(Version)Tagging | `GET ?tagging` (`&versionId=`) | 200, NoSuchKey |
//! | s3:GetObjectLegalHold | `GET ?legal-hold` | 200, NoSuchObjectLockConfiguration |
//! | s3:PutObject | `PUT` with `If-None-Match: *` and a wrong `Content-MD5` | PreconditionFailed, BadDigest |
//! | s3:Put(Version)Tagging | `PUT ?tagging` (`&versionId=`) on a key that does not exist | NoSuchKey, NoSuchVersion |
//! | s3:PutObjectLegalHold | `PUT ?legal-hold&versionId=` (`OFF`) on a key that does not exist | NoSuchKey |
//! | s3:AbortMultipartUpload | `DELETE ?uploadId=` of an upload that does not exist | NoSuchUpload |
//! | s3:DeleteObject | none: S3 deletes unconditionally | (not probed) |
//! | secretsmanager:GetSecretValue | `GetSecretValue` of a version id that does not exist | ResourceNotFoundException |

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ObjectLockLegalHold, ObjectLockLegalHoldStatus, ServerSideEncryption, Tagging,
};
use custody_core::store::{StoreError, StoreErrorKind};

use super::needs::Need;
use super::{Area, Check, DoctorError, Place, S3, answer, is_denied};
use crate::s3::S3Options;

/// The key the write probes address: under the prefix, never created.
pub const PROBE_NAME: &str = ".custody-doctor-probe";

/// An object found under the prefix, for the read probes.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub key: String,
    pub version: Option<String>,
    /// `aws:kms` objects: the key id S3 reports.
    pub kms_key: Option<String>,
    pub sse_kms: bool,
}

/// Lists the prefix once: tells a missing bucket and refused credentials (the doctor cannot run)
/// from a denied listing (reported by the `s3:ListBucket` probe), and finds a sample object.
pub async fn reach(client: &S3, place: &Place) -> Result<Option<Sample>, DoctorError> {
    let listed = answer(
        "ListObjectsV2",
        client
            .list_objects_v2()
            .bucket(&place.bucket)
            .prefix(place.folder())
            .max_keys(20)
            .send()
            .await,
    );
    let listed = match listed {
        Ok(listed) => listed,
        Err(e) => return cannot_run(place, e).map(|()| None),
    };
    let Some(key) = listed
        .contents()
        .iter()
        .filter_map(|o| o.key())
        .find(|k| !k.ends_with('/'))
    else {
        return Ok(None);
    };
    let mut sample = Sample {
        key: key.to_string(),
        ..Sample::default()
    };
    if let Ok(head) = client
        .head_object()
        .bucket(&place.bucket)
        .key(key)
        .send()
        .await
    {
        sample.version = head.version_id().map(str::to_string);
        sample.sse_kms = head.server_side_encryption() == Some(&ServerSideEncryption::AwsKms);
        sample.kms_key = head.ssekms_key_id().map(str::to_string);
    }
    Ok(Some(sample))
}

/// `Err` when `error` means the doctor cannot run; `Ok` for a denial (a finding).
fn cannot_run(place: &Place, error: StoreError) -> Result<(), DoctorError> {
    let code = error.code.clone().unwrap_or_default();
    if code == "NoSuchBucket" {
        return Err(DoctorError::NoSuchBucket {
            bucket: place.bucket.clone(),
            detail: error.message,
        });
    }
    if custody_core::ingest::RunError::concerns_the_run(&error) {
        return Err(DoctorError::Credentials {
            code,
            detail: error.message,
        });
    }
    if error.kind == StoreErrorKind::Transient && error.code.is_none() {
        return Err(DoctorError::Unreachable {
            bucket: place.bucket.clone(),
            detail: error.message,
        });
    }
    Ok(())
}

/// The key the write probes address under `place`: beside the export's objects, or where the
/// ledger bucket's policy lets a create-only write through (`submissions/`, with `If-None-Match`).
pub fn probe_key(place: &Place, ledger: bool) -> String {
    if ledger {
        format!("{}submissions/{PROBE_NAME}", place.folder())
    } else {
        format!("{}{PROBE_NAME}", place.folder())
    }
}

/// Runs the probe of every need on `place`'s bucket; the writes address `probe_key`.
pub async fn check_all(
    client: &S3,
    place: &Place,
    sample: Option<&Sample>,
    needs: &[Need],
    probe_key: &str,
    checks: &mut Vec<Check>,
) {
    for need in needs {
        checks.push(probe(client, place, sample, need, probe_key).await);
    }
}

/// What an answer shows about a grant.
enum Evidence {
    Allowed(String),
    Denied(StoreError),
    Unclear(String),
}

/// Judges an answer: `proving` are the error codes that come only after authorisation.
fn judge<T>(result: Result<T, StoreError>, proving: &[&str]) -> Evidence {
    match result {
        Ok(_) => Evidence::Allowed("answered 200".into()),
        Err(e) if is_denied(&e) => Evidence::Denied(e),
        Err(e) => {
            let code = e.code.clone().unwrap_or_default();
            let after_auth = proving.contains(&code.as_str())
                || matches!(
                    e.kind,
                    StoreErrorKind::NotFound | StoreErrorKind::PreconditionFailed
                );
            if after_auth {
                Evidence::Allowed(format!(
                    "answered {code} after authorising the request; nothing changed"
                ))
            } else {
                Evidence::Unclear(format!("{} answered {e}", e.action))
            }
        }
    }
}

async fn probe(
    client: &S3,
    place: &Place,
    sample: Option<&Sample>,
    need: &Need,
    probe_key: &str,
) -> Check {
    let subject = place.url();
    let bucket = place.bucket.as_str();
    let probe_key = probe_key.to_string();
    let sample_key = sample.map(|s| s.key.clone());
    let sample_version = sample.and_then(|s| s.version.clone());
    let read_key = sample_key.clone().unwrap_or_else(|| probe_key.clone());
    let evidence = match need.action {
        "s3:ListBucket" => judge(
            answer(
                "ListObjectsV2",
                client
                    .list_objects_v2()
                    .bucket(bucket)
                    .prefix(place.folder())
                    .max_keys(1)
                    .send()
                    .await,
            ),
            &[],
        ),
        "s3:GetObject" => judge(
            answer(
                "HeadObject",
                client
                    .head_object()
                    .bucket(bucket)
                    .key(&read_key)
                    .send()
                    .await,
            ),
            &[],
        ),
        "s3:GetObjectVersion" => match (&sample_key, &sample_version) {
            (Some(key), Some(version)) => judge(
                answer(
                    "HeadObject",
                    client
                        .head_object()
                        .bucket(bucket)
                        .key(key)
                        .version_id(version)
                        .send()
                        .await,
                ),
                &[],
            ),
            _ => Evidence::Unclear(format!(
                "no versioned object under {subject} to read a version of"
            )),
        },
        "s3:GetObjectTagging" => judge(
            answer(
                "GetObjectTagging",
                client
                    .get_object_tagging()
                    .bucket(bucket)
                    .key(&read_key)
                    .send()
                    .await,
            ),
            &[],
        ),
        "s3:GetObjectVersionTagging" => match (&sample_key, &sample_version) {
            (Some(key), Some(version)) => judge(
                answer(
                    "GetObjectTagging",
                    client
                        .get_object_tagging()
                        .bucket(bucket)
                        .key(key)
                        .version_id(version)
                        .send()
                        .await,
                ),
                &[],
            ),
            _ => Evidence::Unclear(format!(
                "no versioned object under {subject} to read the tags of"
            )),
        },
        "s3:GetObjectLegalHold" => judge(
            answer(
                "GetObjectLegalHold",
                client
                    .get_object_legal_hold()
                    .bucket(bucket)
                    .key(&read_key)
                    .set_version_id(sample_version.clone())
                    .send()
                    .await,
            ),
            &[
                "NoSuchObjectLockConfiguration",
                "NoSuchObjectLegalHold",
                "InvalidRequest",
                "ObjectLockConfigurationNotFoundError",
            ],
        ),
        "s3:GetBucketVersioning" => judge(
            answer(
                "GetBucketVersioning",
                client.get_bucket_versioning().bucket(bucket).send().await,
            ),
            &[],
        ),
        "s3:GetBucketObjectLockConfiguration" => judge(
            answer(
                "GetObjectLockConfiguration",
                client
                    .get_object_lock_configuration()
                    .bucket(bucket)
                    .send()
                    .await,
            ),
            &["ObjectLockConfigurationNotFoundError"],
        ),
        "s3:PutObject" => {
            // An existing key when there is one (the precondition refuses it), else the probe key
            // (the digest refuses it): the body is never stored either way.
            let key = sample_key.clone().unwrap_or_else(|| probe_key.clone());
            judge(
                answer(
                    "PutObject",
                    client
                        .put_object()
                        .bucket(bucket)
                        .key(&key)
                        .if_none_match("*")
                        // MD5 of the empty string; the body is not empty.
                        .content_md5("1B2M2Y8AsgTpgAmY7PhCfg==")
                        .body(ByteStream::from_static(b"custody doctor probe"))
                        .send()
                        .await,
                ),
                &["PreconditionFailed", "BadDigest", "InvalidDigest"],
            )
        }
        "s3:PutObjectTagging" | "s3:PutObjectVersionTagging" => {
            let versioned = need.action == "s3:PutObjectVersionTagging";
            let version = versioned.then(|| sample_version.clone().unwrap_or("null".into()));
            match Tagging::builder().set_tag_set(Some(Vec::new())).build() {
                Ok(tagging) => judge(
                    answer(
                        "PutObjectTagging",
                        client
                            .put_object_tagging()
                            .bucket(bucket)
                            .key(&probe_key)
                            .set_version_id(version)
                            .tagging(tagging)
                            .send()
                            .await,
                    ),
                    &["NoSuchKey", "NoSuchVersion", "InvalidArgument"],
                ),
                Err(e) => Evidence::Unclear(format!("building the probe: {e}")),
            }
        }
        "s3:PutObjectLegalHold" => judge(
            answer(
                "PutObjectLegalHold",
                // With a version id: a key that does not exist then answers NoSuchKey (SeaweedFS
                // answers 500 without one).
                client
                    .put_object_legal_hold()
                    .bucket(bucket)
                    .key(&probe_key)
                    .version_id(sample_version.clone().unwrap_or("null".into()))
                    .legal_hold(
                        ObjectLockLegalHold::builder()
                            .status(ObjectLockLegalHoldStatus::Off)
                            .build(),
                    )
                    .send()
                    .await,
            ),
            &["NoSuchKey", "NoSuchVersion", "InvalidRequest"],
        ),
        "s3:AbortMultipartUpload" => judge(
            answer(
                "AbortMultipartUpload",
                client
                    .abort_multipart_upload()
                    .bucket(bucket)
                    .key(&probe_key)
                    .upload_id("custody-doctor-probe")
                    .send()
                    .await,
            ),
            &["NoSuchUpload"],
        ),
        "s3:DeleteObject" => Evidence::Unclear(
            "not probed: S3 has no delete that is refused after authorisation (a delete always \
             acts, as a delete marker in a versioned bucket)"
                .into(),
        ),
        other => Evidence::Unclear(format!("no probe for {other}")),
    };
    let resource = if need.bucket_level {
        place.bucket_arn()
    } else {
        place.objects_arn()
    };
    let name = need.action;
    match evidence {
        Evidence::Allowed(how) => Check::pass(
            Area::Permission,
            &subject,
            name,
            format!("{how} ({})", need.why),
        ),
        Evidence::Denied(e) => Check::fail(
            Area::Permission,
            &subject,
            name,
            format!(
                "{} answered {} ({}); needed because the role {}",
                e.action,
                e.code.as_deref().unwrap_or("AccessDenied"),
                e.message,
                need.why
            ),
            format!("grant {name} on {resource}"),
        ),
        Evidence::Unclear(why) => Check::unknown(Area::Permission, &subject, name, why),
    }
}

/// Whether the identity may read the signing key secret, without reading it.
pub async fn secret(arn: Option<&str>, s3: &S3Options) -> Check {
    let name = "secretsmanager:GetSecretValue";
    let Some(arn) = arn else {
        return Check::unknown(
            Area::Permission,
            "signing key secret",
            name,
            "no secret given (--signing-key-secret or CUSTODY_SIGNING_KEY_SECRET_ARN)",
        );
    };
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http);
    if let Some(region) = &s3.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    let client = aws_sdk_secretsmanager::Client::new(&loader.load().await);
    let answer = client
        .get_secret_value()
        .secret_id(arn)
        .version_id("00000000-0000-0000-0000-000000000000")
        .send()
        .await;
    use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
    match answer {
        Ok(_) => Check::pass(Area::Permission, arn, name, "answered 200"),
        Err(e) => match e.code() {
            Some("ResourceNotFoundException") => Check::pass(
                Area::Permission,
                arn,
                name,
                "answered ResourceNotFoundException for a version id that does not exist: \
                 authorised, nothing read (kms:Decrypt on a customer key is not probed)",
            ),
            Some("AccessDeniedException") => Check::fail(
                Area::Permission,
                arn,
                name,
                format!(
                    "GetSecretValue answered AccessDeniedException ({})",
                    e.message().unwrap_or("")
                ),
                format!("grant secretsmanager:GetSecretValue on {arn}"),
            ),
            _ => Check::unknown(
                Area::Permission,
                arn,
                name,
                format!(
                    "GetSecretValue answered {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
                ),
            ),
        },
    }
}
