//! The bucket settings custody depends on, read with `GetBucketVersioning`,
//! `GetObjectLockConfiguration` and `GetBucketEncryption`:
//!
//! - export bucket: versioning `Enabled` (a version id pins what was hashed); Object Lock when the
//!   marking includes `object-lock` (legal holds need it); default retention is reported, not
//!   required.
//! - ledger bucket: versioning, Object Lock and a default retention rule (every ledger object is
//!   locked when written: `template.yaml`'s `LedgerBucket`).
//! - both: the default encryption; with SSE-KMS, a one-byte ranged `GetObject` of an object shows
//!   whether the identity may use the key (`kms:Decrypt`).
//!
//! A setting the identity may not read is "could not check", naming the permission, unless the
//! role needs that permission (then the permission check fails too).

use aws_sdk_s3::types::{BucketVersioningStatus, ObjectLockEnabled, ServerSideEncryption};

use super::needs::Need;
use super::probes::Sample;
use super::{Area, Check, Place, S3, answer, is_denied};

/// What the bucket must have.
#[derive(Debug, Clone, Copy)]
pub struct Expect {
    pub ledger: bool,
    pub object_lock: bool,
    pub default_retention: bool,
    /// The role itself reads these settings (so a denial is the role's problem).
    pub role_reads_versioning: bool,
    pub role_reads_object_lock: bool,
}

impl Expect {
    pub fn export(marking: &custody_core::hold::Marking, needs: &[Need]) -> Expect {
        Expect {
            ledger: false,
            object_lock: marking.object_lock,
            default_retention: false,
            role_reads_versioning: needs.iter().any(|n| n.action == "s3:GetBucketVersioning"),
            role_reads_object_lock: needs
                .iter()
                .any(|n| n.action == "s3:GetBucketObjectLockConfiguration"),
        }
    }

    pub fn ledger(_needs: &[Need]) -> Expect {
        Expect {
            ledger: true,
            object_lock: true,
            default_retention: true,
            role_reads_versioning: false,
            role_reads_object_lock: false,
        }
    }
}

fn unreadable(
    subject: &str,
    name: &str,
    permission: &str,
    role_needs_it: bool,
    e: &custody_core::store::StoreError,
) -> Check {
    let why = if role_needs_it {
        format!("{} answered {e}; see the {permission} check", e.action)
    } else {
        format!(
            "{} answered {e}: this identity may not read it ({permission}), which the role does \
             not need; run `custody doctor` as an operator who may",
            e.action
        )
    };
    Check::unknown(Area::Bucket, subject, name, why)
}

/// Versioning and Object Lock of `place`'s bucket.
pub async fn check(client: &S3, place: &Place, expect: Expect, checks: &mut Vec<Check>) {
    let subject = format!("s3://{}", place.bucket);
    let bucket = place.bucket.as_str();
    let which = if expect.ledger { "ledger" } else { "export" };
    match answer(
        "GetBucketVersioning",
        client.get_bucket_versioning().bucket(bucket).send().await,
    ) {
        Ok(out) if out.status() == Some(&BucketVersioningStatus::Enabled) => {
            checks.push(Check::pass(Area::Bucket, &subject, "versioning", "Enabled"))
        }
        Ok(out) => checks.push(Check::fail(
            Area::Bucket,
            &subject,
            "versioning",
            format!(
                "{} - the {which} bucket must keep versions (a version id pins what was hashed \
                 and held)",
                out.status().map_or("never enabled", |s| s.as_str())
            ),
            format!(
                "aws s3api put-bucket-versioning --bucket {bucket} --versioning-configuration \
                 Status=Enabled"
            ),
        )),
        Err(e) if is_denied(&e) => checks.push(unreadable(
            &subject,
            "versioning",
            "s3:GetBucketVersioning",
            expect.role_reads_versioning,
            &e,
        )),
        Err(e) => checks.push(Check::unknown(
            Area::Bucket,
            &subject,
            "versioning",
            format!("GetBucketVersioning answered {e}"),
        )),
    }

    let lock = answer(
        "GetObjectLockConfiguration",
        client
            .get_object_lock_configuration()
            .bucket(bucket)
            .send()
            .await,
    );
    let (enabled, rule) = match lock {
        Ok(out) => {
            let config = out.object_lock_configuration();
            let enabled = config
                .and_then(|c| c.object_lock_enabled())
                .is_some_and(|e| *e == ObjectLockEnabled::Enabled);
            let rule = config
                .and_then(|c| c.rule())
                .and_then(|r| r.default_retention())
                .map(|d| {
                    let mode = d.mode().map_or("?", |m| m.as_str()).to_string();
                    let span = match (d.days(), d.years()) {
                        (Some(days), _) => format!("{days} days"),
                        (_, Some(years)) => format!("{years} years"),
                        _ => "no period".to_string(),
                    };
                    (mode, span)
                });
            (enabled, rule)
        }
        Err(e)
            if e.code.as_deref() == Some("ObjectLockConfigurationNotFoundError")
                || crate::s3::is_missing_object_lock(&e) =>
        {
            (false, None)
        }
        Err(e) => {
            let check = if is_denied(&e) {
                unreadable(
                    &subject,
                    "object lock",
                    "s3:GetBucketObjectLockConfiguration",
                    expect.role_reads_object_lock,
                    &e,
                )
            } else {
                Check::unknown(
                    Area::Bucket,
                    &subject,
                    "object lock",
                    format!("GetObjectLockConfiguration answered {e}"),
                )
            };
            checks.push(check);
            return;
        }
    };
    let lock_fix = format!(
        "aws s3api put-object-lock-configuration --bucket {bucket} --object-lock-configuration \
         '{{\"ObjectLockEnabled\":\"Enabled\"{}}}' (versioning must be on first)",
        if expect.default_retention {
            ",\"Rule\":{\"DefaultRetention\":{\"Mode\":\"COMPLIANCE\",\"Days\":2557}}"
        } else {
            ""
        }
    );
    match (enabled, expect.object_lock) {
        (true, _) => checks.push(Check::pass(
            Area::Bucket,
            &subject,
            "object lock",
            "Enabled",
        )),
        (false, true) => checks.push(Check::fail(
            Area::Bucket,
            &subject,
            "object lock",
            if expect.ledger {
                "not enabled - ledger objects must be locked when written".to_string()
            } else {
                "not enabled - the marking includes object-lock, and legal holds need it"
                    .to_string()
            },
            lock_fix.clone(),
        )),
        (false, false) => checks.push(Check::pass(
            Area::Bucket,
            &subject,
            "object lock",
            "not enabled (not needed: the marking has no object-lock)",
        )),
    }
    match (rule, expect.default_retention) {
        (Some((mode, span)), _) => {
            let note = if mode == "GOVERNANCE" {
                " (principals with s3:BypassGovernanceRetention can shorten it; COMPLIANCE for \
                 production)"
            } else {
                ""
            };
            checks.push(Check::pass(
                Area::Bucket,
                &subject,
                "default retention",
                format!("{mode}, {span}{note}"),
            ))
        }
        (None, true) => checks.push(Check::fail(
            Area::Bucket,
            &subject,
            "default retention",
            "none - ledger objects would be written without a retention period",
            lock_fix,
        )),
        (None, false) => checks.push(Check::pass(
            Area::Bucket,
            &subject,
            "default retention",
            "none (not needed on the export bucket: legal holds keep what is held)",
        )),
    }
}

/// Default encryption, and with SSE-KMS whether an object can be decrypted.
pub async fn check_kms(
    client: &S3,
    place: &Place,
    sample: Option<&Sample>,
    checks: &mut Vec<Check>,
) {
    let subject = format!("s3://{}", place.bucket);
    let bucket = place.bucket.as_str();
    let mut kms_key = None;
    match answer(
        "GetBucketEncryption",
        client.get_bucket_encryption().bucket(bucket).send().await,
    ) {
        Ok(out) => {
            let default = out
                .server_side_encryption_configuration()
                .and_then(|c| c.rules().first())
                .and_then(|r| r.apply_server_side_encryption_by_default());
            let detail = match default {
                Some(d)
                    if *d.sse_algorithm() == ServerSideEncryption::AwsKms
                        || *d.sse_algorithm() == ServerSideEncryption::AwsKmsDsse =>
                {
                    kms_key = Some(d.kms_master_key_id().unwrap_or("aws/s3").to_string());
                    format!(
                        "{} with key {}",
                        d.sse_algorithm().as_str(),
                        kms_key.as_deref().unwrap_or("aws/s3")
                    )
                }
                Some(d) => d.sse_algorithm().as_str().to_string(),
                None => "no rule (S3 encrypts new objects with SSE-S3)".to_string(),
            };
            checks.push(Check::pass(
                Area::Encryption,
                &subject,
                "default encryption",
                detail,
            ));
        }
        Err(e) if e.code.as_deref() == Some("ServerSideEncryptionConfigurationNotFoundError") => {
            checks.push(Check::pass(
                Area::Encryption,
                &subject,
                "default encryption",
                "none configured (S3 encrypts new objects with SSE-S3)",
            ))
        }
        Err(e) if is_denied(&e) => checks.push(Check::unknown(
            Area::Encryption,
            &subject,
            "default encryption",
            format!(
                "GetBucketEncryption answered {e}: this identity may not read it \
                 (s3:GetEncryptionConfiguration), which the role does not need"
            ),
        )),
        Err(e) => checks.push(Check::unknown(
            Area::Encryption,
            &subject,
            "default encryption",
            format!("GetBucketEncryption answered {e}"),
        )),
    }
    let object_kms = sample.is_some_and(|s| s.sse_kms);
    if kms_key.is_none() && !object_kms {
        return;
    }
    let key_name = sample
        .and_then(|s| s.kms_key.clone())
        .or(kms_key)
        .unwrap_or_else(|| "the bucket's KMS key".to_string());
    let Some(sample) = sample else {
        checks.push(Check::unknown(
            Area::Encryption,
            &subject,
            "kms:Decrypt",
            format!("no object under {} to read with {key_name}", place.url()),
        ));
        return;
    };
    let read = answer(
        "GetObject",
        client
            .get_object()
            .bucket(bucket)
            .key(&sample.key)
            .range("bytes=0-0")
            .send()
            .await,
    );
    let check = match read {
        Ok(_) => Check::pass(
            Area::Encryption,
            &subject,
            "kms:Decrypt",
            format!("read one byte of {} through {key_name}", sample.key),
        ),
        Err(e)
            if e.code
                .as_deref()
                .is_some_and(|c| c.to_ascii_uppercase().contains("KMS"))
                || (is_denied(&e) && e.message.to_ascii_lowercase().contains("kms")) =>
        {
            Check::fail(
                Area::Encryption,
                &subject,
                "kms:Decrypt",
                format!("GetObject of {} answered {e}", sample.key),
                format!(
                    "grant kms:Decrypt (and kms:GenerateDataKey where the role writes) on \
                     {key_name}, in the key policy or the role with kms:ViaService s3"
                ),
            )
        }
        Err(e) => Check::unknown(
            Area::Encryption,
            &subject,
            "kms:Decrypt",
            format!("GetObject of {} answered {e}", sample.key),
        ),
    };
    checks.push(check);
}
