//! `custody doctor`: checks a deployment before it runs, with calls that cannot change anything.
//!
//! What is checked, each as one [`Check`] with a status, what was seen, and what to change:
//!
//! - **Bucket configuration** ([`buckets`]): versioning, Object Lock and its default retention, on
//!   the export and the ledger bucket (S3 API `GetBucketVersioning`,
//!   `GetObjectLockConfiguration`); default encryption (`GetBucketEncryption`) and, where a bucket
//!   or an object is SSE-KMS, whether the identity can decrypt with its key (a one-byte ranged GET).
//! - **Event delivery** ([`events`]): `GetBucketNotificationConfiguration` shows EventBridge
//!   delivery switched on or a queue notification for `s3:ObjectCreated:*`.
//! - **Permissions** ([`probes`]): every S3 and Secrets Manager action the chosen role needs
//!   ([`needs`], the template's role policies), each tried with a harmless call: a read, or a
//!   write that S3 must refuse after authorising it (`PutObject` with `If-None-Match: *` and a
//!   wrong `Content-MD5`, tagging or a legal hold `OFF` on a key that does not exist, aborting an
//!   upload id that does not exist, `GetSecretValue` of a version id that does not exist). An
//!   `AccessDenied` answer is the missing permission; any other answer (`NoSuchKey`,
//!   `PreconditionFailed`, `BadDigest`, ...) shows the request got past authorisation.
//!
//! A check the server cannot answer (SeaweedFS has no event delivery; a configuration the
//! identity may not read and its role does not need) is [`Status::Unknown`], with the reason:
//! neither a pass nor a failure. Wire format of `--json` (one object per check):
//!
//! ```json
//! {"area":"permission","subject":"s3://exports/org/","name":"s3:PutObjectLegalHold",
//!  "status":"fail","detail":"PutObjectLegalHold answered AccessDenied (HTTP 403: Access Denied)",
//!  "fix":"grant s3:PutObjectLegalHold on arn:aws:s3:::exports/org/*"}
//! ```

pub mod buckets;
pub mod events;
pub mod needs;
pub mod probes;

use aws_sdk_s3::Client;
use serde::Serialize;

use crate::s3::{S3Options, build_client};
use custody_core::store::StoreError;

pub use needs::{Role, RoleParseError};

/// A check's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    /// Could not be checked here; [`Check::detail`] says why.
    Unknown,
}

/// What a check is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Area {
    Bucket,
    Events,
    Encryption,
    Permission,
}

impl Area {
    pub fn label(self) -> &'static str {
        match self {
            Area::Bucket => "bucket",
            Area::Events => "events",
            Area::Encryption => "encryption",
            Area::Permission => "permission",
        }
    }
}

/// One line of the doctor's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub area: Area,
    /// `s3://bucket/prefix`, or the secret's ARN.
    pub subject: String,
    /// The setting (`versioning`, `object lock`, ...) or the IAM action (`s3:GetObject`).
    pub name: String,
    pub status: Status,
    pub detail: String,
    /// The permission or setting to change, when the check failed.
    pub fix: Option<String>,
}

impl Check {
    pub fn pass(area: Area, subject: &str, name: &str, detail: impl Into<String>) -> Check {
        Check {
            area,
            subject: subject.to_string(),
            name: name.to_string(),
            status: Status::Pass,
            detail: detail.into(),
            fix: None,
        }
    }

    pub fn fail(
        area: Area,
        subject: &str,
        name: &str,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            status: Status::Fail,
            fix: Some(fix.into()),
            ..Check::pass(area, subject, name, detail)
        }
    }

    pub fn unknown(area: Area, subject: &str, name: &str, reason: impl Into<String>) -> Check {
        Check {
            status: Status::Unknown,
            ..Check::pass(area, subject, name, reason)
        }
    }
}

/// Everything the doctor found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub role: String,
    pub checks: Vec<Check>,
}

impl Report {
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.status == Status::Fail)
    }

    pub fn healthy(&self) -> bool {
        self.failures().next().is_none()
    }
}

/// Why the doctor could not run at all (exit 2), as opposed to problems it found (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    #[error("{location}: not an s3://bucket/prefix location")]
    NotS3 { location: String },
    #[error("s3://{bucket}: no such bucket ({detail})")]
    NoSuchBucket { bucket: String, detail: String },
    #[error(
        "the credentials were refused ({code}: {detail}); check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN or the profile"
    )]
    Credentials { code: String, detail: String },
    #[error("s3://{bucket} could not be reached: {detail}")]
    Unreachable { bucket: String, detail: String },
    #[error("nothing to check: give --export (the tagger needs it) and/or --ledger")]
    NothingToCheck,
}

/// A bucket and the key prefix inside it, from `s3://bucket/prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub bucket: String,
    /// Without a trailing `/` added or removed: as given.
    pub prefix: String,
}

impl Place {
    pub fn parse(location: &str) -> Result<Place, DoctorError> {
        let rest = location
            .strip_prefix("s3://")
            .ok_or_else(|| DoctorError::NotS3 {
                location: location.to_string(),
            })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(DoctorError::NotS3 {
                location: location.to_string(),
            });
        }
        Ok(Place {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }

    /// `s3://bucket/prefix`
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    /// The prefix as a folder: empty or ending in `/`.
    pub fn folder(&self) -> String {
        if self.prefix.is_empty() || self.prefix.ends_with('/') {
            self.prefix.clone()
        } else {
            format!("{}/", self.prefix)
        }
    }

    /// The IAM resource ARN of the objects under the prefix.
    pub fn objects_arn(&self) -> String {
        format!("arn:aws:s3:::{}/{}*", self.bucket, self.folder())
    }

    pub fn bucket_arn(&self) -> String {
        format!("arn:aws:s3:::{}", self.bucket)
    }
}

/// What to check.
#[derive(Debug, Clone)]
pub struct Target {
    pub role: Role,
    pub export: Option<Place>,
    pub ledger: Option<Place>,
    /// The hold marking the tagger is configured with (`tags,object-lock`, ...).
    pub marking: custody_core::hold::Marking,
    /// The signing key secret the tagger and the sequencer read, when it is in Secrets Manager.
    pub signing_key_secret: Option<String>,
    /// Connection settings (the bucket field is ignored).
    pub s3: S3Options,
}

/// One bucket to check: where, its expected settings and event delivery, the role's needs on it,
/// and the key its write probes address.
struct BucketToCheck<'a> {
    place: &'a Place,
    expect: buckets::Expect,
    events: events::Expect,
    needs: Vec<needs::Need>,
    probe_key: String,
}

/// Settings, event delivery, encryption and the permission probes of one bucket.
async fn check_bucket(
    client: &Client,
    bucket: BucketToCheck<'_>,
    custom_endpoint: Option<&str>,
    checks: &mut Vec<Check>,
) -> Result<(), DoctorError> {
    let place = bucket.place;
    let sample = probes::reach(client, place).await?;
    buckets::check(client, place, bucket.expect, checks).await;
    events::check(client, place, bucket.events, custom_endpoint, checks).await;
    buckets::check_kms(client, place, sample.as_ref(), checks).await;
    let (needs, key) = (&bucket.needs, &bucket.probe_key);
    probes::check_all(client, place, sample.as_ref(), needs, key, checks).await;
    Ok(())
}

/// Run every check. `Err` only when the doctor could not run (no such bucket, credentials refused,
/// endpoint unreachable).
pub async fn run(target: &Target) -> Result<Report, DoctorError> {
    if target.export.is_none() && target.ledger.is_none() {
        return Err(DoctorError::NothingToCheck);
    }
    let client = build_client(&S3Options {
        // One attempt per probe: the doctor reports, it does not ride out an outage.
        max_attempts: 2,
        ..target.s3.clone()
    })
    .await;
    let custom_endpoint = target.s3.endpoint.as_deref();
    let mut report = Report {
        role: target.role.name().to_string(),
        checks: Vec::new(),
    };
    let needs = needs::role_needs(target.role, &target.marking);
    if let Some(export) = &target.export {
        let bucket_needs = needs::on(&needs, needs::Which::Export);
        let bucket = BucketToCheck {
            place: export,
            expect: buckets::Expect::export(&target.marking, &bucket_needs),
            events: events::Expect::ExportObjectCreated,
            needs: bucket_needs,
            probe_key: probes::probe_key(export, false),
        };
        check_bucket(&client, bucket, custom_endpoint, &mut report.checks).await?;
    }
    if let Some(ledger) = &target.ledger {
        let bucket_needs = needs::on(&needs, needs::Which::Ledger);
        let bucket = BucketToCheck {
            place: ledger,
            expect: buckets::Expect::ledger(&bucket_needs),
            events: events::Expect::LedgerEventBridge,
            needs: bucket_needs,
            probe_key: probes::probe_key(ledger, true),
        };
        check_bucket(&client, bucket, custom_endpoint, &mut report.checks).await?;
    }
    if needs
        .iter()
        .any(|n| n.action == "secretsmanager:GetSecretValue")
    {
        report
            .checks
            .push(probes::secret(target.signing_key_secret.as_deref(), &target.s3).await);
    }
    Ok(report)
}

/// An SDK answer as a store error (action, code, kind), for the probes.
pub(crate) fn answer<T, E>(
    action: &'static str,
    result: Result<T, aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>>,
) -> Result<T, StoreError>
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    result.map_err(|e| crate::s3::sdk_error(action, None, e))
}

/// Whether `error` says the caller may not do what it asked (not: the credentials are bad).
pub(crate) fn is_denied(error: &StoreError) -> bool {
    error.kind == custody_core::store::StoreErrorKind::AccessDenied
        && !custody_core::ingest::RunError::concerns_the_run(error)
}

/// The client type the checks share.
pub(crate) type S3 = Client;

#[cfg(test)]
mod tests;
