//! Cross-checks of a computed digest against what the store itself says about the object.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use crate::store::{ObjectHead, StoredChecksum};

/// The outcome of comparing a computed digest with a value the store holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    Match,
    /// A finding: the content does not hash to what the store recorded.
    Mismatch {
        expected: String,
        actual: String,
    },
    /// Nothing comparable exists; the reason says why.
    NotApplicable(String),
}

impl Check {
    pub fn is_mismatch(&self) -> bool {
        matches!(self, Check::Mismatch { .. })
    }

    fn compare(expected: String, actual: String) -> Check {
        if expected == actual {
            Check::Match
        } else {
            Check::Mismatch { expected, actual }
        }
    }
}

/// The ETag against the MD5 of the content, when the ETag is an MD5 (single part, not SSE-KMS).
pub(crate) fn etag_check(head: &ObjectHead, md5: Option<&[u8; 16]>) -> Check {
    if !head.etag_is_md5() {
        let why = if head.etag.contains('-') {
            format!(
                "ETag {} is of a multipart upload, not an MD5 of the content",
                head.etag
            )
        } else if head.encryption.as_ref().is_some_and(|e| e.is_kms()) {
            "the ETag of an SSE-KMS object is not an MD5 of the content".to_string()
        } else {
            format!("ETag {:?} is not an MD5 of the content", head.etag)
        };
        return Check::NotApplicable(why);
    }
    match md5 {
        Some(md5) => Check::compare(head.etag.to_ascii_lowercase(), hex::encode(md5)),
        None => Check::NotApplicable("the ETag check was turned off".to_string()),
    }
}

/// The stored `x-amz-checksum-sha256` against the computed SHA-256, when it is a full-object one.
pub(crate) fn checksum_check(stored: Option<&StoredChecksum>, sha256: &[u8; 32]) -> Check {
    match stored {
        None => Check::NotApplicable("no SHA-256 checksum is stored with the object".to_string()),
        Some(StoredChecksum::Composite {
            algorithm, parts, ..
        }) => Check::NotApplicable(format!(
            "the stored {algorithm} checksum is composite over {parts} parts \
             (a checksum of part checksums), not comparable with the object's SHA-256"
        )),
        Some(StoredChecksum::FullObject { algorithm, base64 }) => {
            let normalized: String = algorithm
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .collect();
            if !normalized.eq_ignore_ascii_case("sha256") {
                return Check::NotApplicable(format!(
                    "the stored checksum is {algorithm}, not SHA-256"
                ));
            }
            let actual = BASE64.encode(sha256);
            // Compare decoded bytes so that padding or spelling differences cannot hide a match
            // or fake one; an undecodable stored value is reported as it was stored.
            match BASE64.decode(base64.trim()) {
                Ok(stored) if stored.as_slice() == sha256 => Check::Match,
                _ => Check::Mismatch {
                    expected: base64.clone(),
                    actual,
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Encryption;
    use sha2::{Digest, Sha256};

    fn head(etag: &str) -> ObjectHead {
        ObjectHead {
            key: "k".into(),
            version_id: None,
            size: 3,
            etag: etag.into(),
            last_modified: None,
            content_type: None,
            metadata: Default::default(),
            checksum_sha256: None,
            parts_count: None,
            legal_hold: None,
            storage_class: None,
            encryption: None,
        }
    }

    const ABC_MD5: [u8; 16] = [
        0x90, 0x01, 0x50, 0x98, 0x3c, 0xd2, 0x4f, 0xb0, 0xd6, 0x96, 0x3f, 0x7d, 0x28, 0xe1, 0x7f,
        0x72,
    ];

    #[test]
    fn etag_matches_md5_in_any_case() {
        let h = head("900150983CD24FB0D6963F7D28E17F72");
        assert_eq!(etag_check(&h, Some(&ABC_MD5)), Check::Match);
    }

    #[test]
    fn etag_mismatch_is_a_finding() {
        let h = head("00000000000000000000000000000000");
        let check = etag_check(&h, Some(&ABC_MD5));
        assert_eq!(
            check,
            Check::Mismatch {
                expected: "00000000000000000000000000000000".into(),
                actual: "900150983cd24fb0d6963f7d28e17f72".into()
            }
        );
        assert!(check.is_mismatch());
    }

    #[test]
    fn multipart_and_kms_etags_are_not_comparable() {
        let multipart = head("9b2cf535f27731c974343645a3985328-3");
        assert!(
            matches!(etag_check(&multipart, Some(&ABC_MD5)), Check::NotApplicable(r) if r.contains("multipart"))
        );
        let mut kms = head("900150983cd24fb0d6963f7d28e17f72");
        kms.encryption = Some(Encryption {
            algorithm: "aws:kms".into(),
            kms_key_id: None,
            bucket_key_enabled: None,
        });
        assert!(
            matches!(etag_check(&kms, Some(&ABC_MD5)), Check::NotApplicable(r) if r.contains("KMS"))
        );
    }

    #[test]
    fn full_object_checksum_compares_bytes() {
        let sha: [u8; 32] = Sha256::digest(b"abc").into();
        let stored = StoredChecksum::FullObject {
            algorithm: "SHA256".into(),
            base64: BASE64.encode(sha),
        };
        assert_eq!(checksum_check(Some(&stored), &sha), Check::Match);

        let other: [u8; 32] = Sha256::digest(b"abd").into();
        assert!(checksum_check(Some(&stored), &other).is_mismatch());

        let garbage = StoredChecksum::FullObject {
            algorithm: "sha-256".into(),
            base64: "not base64!".into(),
        };
        assert!(checksum_check(Some(&garbage), &sha).is_mismatch());
    }

    #[test]
    fn composite_other_algorithms_and_absent_are_not_mismatches() {
        let sha: [u8; 32] = Sha256::digest(b"abc").into();
        let composite = StoredChecksum::Composite {
            algorithm: "SHA256".into(),
            base64: BASE64.encode([0u8; 32]),
            parts: 3,
        };
        assert!(
            matches!(checksum_check(Some(&composite), &sha), Check::NotApplicable(r) if r.contains("composite"))
        );
        let crc = StoredChecksum::FullObject {
            algorithm: "CRC64NVME".into(),
            base64: "AAAAAAAAAAA=".into(),
        };
        assert!(matches!(
            checksum_check(Some(&crc), &sha),
            Check::NotApplicable(_)
        ));
        assert!(matches!(
            checksum_check(None, &sha),
            Check::NotApplicable(_)
        ));
    }
}
