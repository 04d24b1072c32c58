//! Pure functions of the S3 adapter: copy sources, error classes, stored checksums.

use super::copy::copy_source;
use super::*;
use custody_core::store::ChecksumAlgorithm as Algorithm;

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
        parse_checksum(Algorithm::Sha256, "abc=-3", false),
        StoredChecksum::Composite {
            algorithm: "SHA256".into(),
            base64: "abc=".into(),
            parts: 3
        }
    );
    assert!(matches!(
        parse_checksum(Algorithm::Sha256, "abc=", false),
        StoredChecksum::FullObject { .. }
    ));
}
