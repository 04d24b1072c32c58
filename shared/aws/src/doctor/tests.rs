use super::*;

#[test]
fn a_place_is_a_bucket_and_a_folder() {
    let p = Place::parse("s3://exports/org-1").unwrap();
    assert_eq!(p.bucket, "exports");
    assert_eq!(p.folder(), "org-1/");
    assert_eq!(p.objects_arn(), "arn:aws:s3:::exports/org-1/*");
    assert_eq!(p.bucket_arn(), "arn:aws:s3:::exports");
    let bare = Place::parse("s3://exports").unwrap();
    assert_eq!(bare.folder(), "");
    assert_eq!(bare.objects_arn(), "arn:aws:s3:::exports/*");
    for bad in ["exports/org", "s3://", "/tmp/x"] {
        assert!(
            matches!(Place::parse(bad), Err(DoctorError::NotS3 { .. })),
            "{bad}"
        );
    }
}

#[test]
fn refused_credentials_are_not_a_denial() {
    use custody_core::store::{StoreError, StoreErrorKind};
    let denied = StoreError::new(StoreErrorKind::AccessDenied, "PutObject", "Access Denied")
        .with_code("AccessDenied");
    assert!(is_denied(&denied));
    let bad_key = StoreError::new(StoreErrorKind::AccessDenied, "ListObjectsV2", "x")
        .with_code("InvalidAccessKeyId");
    assert!(!is_denied(&bad_key));
}

#[test]
fn a_report_is_healthy_without_failures_whatever_it_could_not_check() {
    let mut report = Report::default();
    report.checks.push(Check::unknown(
        Area::Events,
        "s3://b",
        "events",
        "no events here",
    ));
    report
        .checks
        .push(Check::pass(Area::Bucket, "s3://b", "versioning", "Enabled"));
    assert!(report.healthy());
    report.checks.push(Check::fail(
        Area::Permission,
        "s3://b/p/",
        "s3:PutObjectLegalHold",
        "AccessDenied",
        "grant s3:PutObjectLegalHold on arn:aws:s3:::b/p/*",
    ));
    assert!(!report.healthy());
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["checks"][2]["status"], "fail");
    assert_eq!(json["checks"][0]["status"], "unknown");
}
