//! IAM knowledge: the S3 adapter's answer to [`custody_core::store::StoreRead::explain_denial`].
//!
//! A bare 403 is what sends users to forums: name the permission the failing call most likely
//! lacks, from the S3 action, whether a specific version was addressed, and SSE-KMS.

use custody_core::store::{StoreError, StoreErrorKind};

/// The IAM permission a denied call most likely needs, or `None` when the error is not a denial.
pub(crate) fn likely_missing_permission(
    error: &StoreError,
    versioned: bool,
    kms: bool,
) -> Option<String> {
    let kms_code = error
        .code
        .as_deref()
        .is_some_and(|c| c.to_ascii_uppercase().contains("KMS"));
    if error.kind != StoreErrorKind::AccessDenied && !kms_code {
        return None;
    }
    // The caller was not authenticated at all: no permission would help.
    if custody_core::ingest::RunError::concerns_the_run(error) {
        return None;
    }
    let read = if versioned {
        "s3:GetObjectVersion"
    } else {
        "s3:GetObject"
    };
    let base = match error.action {
        "HeadObject" | "GetObject" | "GetObjectAttributes" => read.to_string(),
        "GetObjectTagging" => if versioned {
            "s3:GetObjectVersionTagging"
        } else {
            "s3:GetObjectTagging"
        }
        .to_string(),
        "PutObjectTagging" => if versioned {
            "s3:PutObjectTagging and s3:PutObjectVersionTagging (tagging a specific version)"
        } else {
            "s3:PutObjectTagging"
        }
        .to_string(),
        "CopyObject" | "UploadPartCopy" | "CreateMultipartUpload" | "CompleteMultipartUpload" => {
            format!("s3:PutObject on the key (the copy writes it) and {read} on the copy source")
        }
        "PutObjectLegalHold" => "s3:PutObjectLegalHold".to_string(),
        "GetObjectLegalHold" => "s3:GetObjectLegalHold".to_string(),
        "ListObjectsV2" | "ListObjects" | "ListObjectVersions" => "s3:ListBucket".to_string(),
        "GetBucketVersioning" => "s3:GetBucketVersioning".to_string(),
        "GetObjectLockConfiguration" => "s3:GetBucketObjectLockConfiguration".to_string(),
        "PutObject" => "s3:PutObject".to_string(),
        other => format!("the IAM permission for s3:{other}"),
    };
    let writes = matches!(
        error.action,
        "CopyObject"
            | "UploadPartCopy"
            | "CreateMultipartUpload"
            | "CompleteMultipartUpload"
            | "PutObject"
    );
    let reads = matches!(error.action, "GetObject" | "CopyObject" | "UploadPartCopy");
    if kms || kms_code {
        let key_perms = match (reads, writes) {
            (true, true) => "kms:Decrypt and kms:GenerateDataKey",
            (false, true) => "kms:GenerateDataKey",
            _ => "kms:Decrypt",
        };
        if kms_code {
            return Some(format!("{key_perms} on the object's KMS key"));
        }
        if reads || writes {
            return Some(format!(
                "{base}; the object is SSE-KMS encrypted, so also {key_perms} on its KMS key"
            ));
        }
    }
    Some(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denied(action: &'static str) -> StoreError {
        StoreError::new(StoreErrorKind::AccessDenied, action, "Access Denied")
            .with_code("AccessDenied")
    }

    #[test]
    fn each_action_names_its_permission() {
        let p = |a, v, k| likely_missing_permission(&denied(a), v, k).unwrap();
        assert_eq!(p("GetObject", true, false), "s3:GetObjectVersion");
        assert_eq!(p("HeadObject", false, false), "s3:GetObject");
        assert!(p("PutObjectTagging", true, false).starts_with("s3:PutObjectTagging"));
        assert!(p("CopyObject", true, false).starts_with("s3:PutObject"));
        assert_eq!(
            p("PutObjectLegalHold", true, false),
            "s3:PutObjectLegalHold"
        );
        let kms = p("CopyObject", true, true);
        assert!(
            kms.contains("kms:Decrypt") && kms.contains("kms:GenerateDataKey"),
            "{kms}"
        );
        assert!(p("GetObject", true, true).contains("kms:Decrypt"));
    }

    #[test]
    fn authentication_failures_name_no_permission() {
        for code in [
            "SignatureDoesNotMatch",
            "InvalidAccessKeyId",
            "ExpiredToken",
        ] {
            let e = StoreError::new(StoreErrorKind::AccessDenied, "ListObjectsV2", "denied")
                .with_code(code);
            assert_eq!(likely_missing_permission(&e, false, false), None, "{code}");
        }
        assert!(likely_missing_permission(&denied("ListObjectsV2"), false, false).is_some());
    }

    #[test]
    fn kms_codes_name_the_key_and_other_errors_name_nothing() {
        let e = StoreError::new(StoreErrorKind::Other, "GetObject", "x")
            .with_code("KMS.AccessDeniedException");
        assert_eq!(
            likely_missing_permission(&e, true, false).unwrap(),
            "kms:Decrypt on the object's KMS key"
        );
        let e = StoreError::new(StoreErrorKind::NotFound, "GetObject", "x");
        assert_eq!(likely_missing_permission(&e, true, false), None);
    }
}
