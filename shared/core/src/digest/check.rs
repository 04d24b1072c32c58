//! Cross-checks of a computed digest against what the store itself says about the object.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use crate::store::{ChecksumAlgorithm, ObjectHead, StoredChecksum};

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

/// Which cross-check a digest was held to: the cheapest value the store already held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrossCheck {
    /// The full-object checksum stored with the object (`x-amz-checksum-<algorithm>`), computed in
    /// the same pass as the SHA-256. The algorithm is S3's name (`CRC64NVME`, `SHA256`...).
    StoredChecksum { algorithm: String },
    /// The ETag as the MD5 of the content (single-part, not SSE-KMS, no full-object checksum).
    EtagMd5,
    /// A composite checksum (`<alg>(<alg>(part 1) || ... )-N`) recomputed from the parts, whose
    /// sizes the store told (one HEAD per part). No full-object checksum is stored.
    CompositeChecksum { algorithm: String, parts: u32 },
    /// A multipart ETag (`MD5(MD5(part 1) || ... )-N`) recomputed from the parts, whose sizes
    /// the store told. No full-object or composite checksum of a computable algorithm is stored.
    MultipartEtag { parts: u32 },
    /// Nothing comparable is stored; the reason says why (a composite checksum and a multipart
    /// ETag, an SSE-KMS ETag with no checksum, the check turned off).
    NotComparable(String),
}

impl std::fmt::Display for CrossCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CrossCheck::StoredChecksum { algorithm } => {
                write!(f, "stored full-object {algorithm} checksum")
            }
            CrossCheck::EtagMd5 => f.write_str("ETag as MD5 of the content"),
            CrossCheck::CompositeChecksum { algorithm, parts } => {
                write!(
                    f,
                    "stored composite {algorithm} checksum over {parts} parts"
                )
            }
            CrossCheck::MultipartEtag { parts } => {
                write!(
                    f,
                    "multipart ETag over {parts} parts (MD5 of the part MD5s)"
                )
            }
            CrossCheck::NotComparable(why) => write!(f, "not comparable: {why}"),
        }
    }
}

/// The stored checksum to compare with, when it can be: a full-object checksum of an algorithm
/// this code computes.
pub(crate) fn comparable_checksum(head: &ObjectHead) -> Option<&ChecksumAlgorithm> {
    match head.checksum.as_ref().or(head.checksum_sha256.as_ref()) {
        Some(StoredChecksum::FullObject { algorithm, .. })
            if !matches!(algorithm, ChecksumAlgorithm::Other(_)) =>
        {
            Some(algorithm)
        }
        _ => None,
    }
}

/// The cheapest cross-check the store's own values allow: a stored full-object checksum (computed
/// in the same pass), else the ETag as MD5 when it is one and the check is on, else none.
pub(crate) fn cross_check_plan(head: &ObjectHead, verify_etag_md5: bool) -> CrossCheck {
    if let Some(algorithm) = comparable_checksum(head) {
        return CrossCheck::StoredChecksum {
            algorithm: algorithm.name().to_string(),
        };
    }
    if head.etag_is_md5() {
        return if verify_etag_md5 {
            CrossCheck::EtagMd5
        } else {
            CrossCheck::NotComparable(
                "no full-object checksum is stored and the ETag (MD5) check is turned off".into(),
            )
        };
    }
    let checksum = match head.checksum.as_ref().or(head.checksum_sha256.as_ref()) {
        Some(StoredChecksum::Composite {
            algorithm, parts, ..
        }) => format!("the stored {algorithm} checksum is composite over {parts} parts"),
        Some(StoredChecksum::FullObject { algorithm, .. }) => {
            format!("the stored checksum is {algorithm}, which this tool does not compute")
        }
        None => "no checksum is stored".to_string(),
    };
    let etag = if head.etag.contains('-') {
        format!("the ETag {} is of a multipart upload", head.etag)
    } else if head.encryption.as_ref().is_some_and(|e| e.is_kms()) {
        "the ETag of an SSE-KMS object is not an MD5".to_string()
    } else {
        format!("the ETag {:?} is not an MD5", head.etag)
    };
    CrossCheck::NotComparable(format!("{checksum}, and {etag}"))
}

/// The stored checksum (`x-amz-checksum-*`) against the value computed in the pass: SHA-256 from
/// the pass's own digest, other algorithms from `computed` when the pass computed them.
pub(crate) fn checksum_check(
    stored: Option<&StoredChecksum>,
    sha256: &[u8; 32],
    computed: Option<&(ChecksumAlgorithm, Vec<u8>)>,
) -> Check {
    match stored {
        None => Check::NotApplicable("no checksum is stored with the object".to_string()),
        Some(StoredChecksum::Composite {
            algorithm, parts, ..
        }) => Check::NotApplicable(format!(
            "the stored {algorithm} checksum is composite over {parts} parts \
             (a checksum of part checksums), not comparable with the whole content's"
        )),
        Some(StoredChecksum::FullObject { algorithm, base64 }) => {
            let actual: &[u8] = match (algorithm, computed) {
                (ChecksumAlgorithm::Sha256, _) => sha256,
                (ChecksumAlgorithm::Other(name), _) => {
                    return Check::NotApplicable(format!(
                        "the stored checksum is {name}, an algorithm this tool does not compute"
                    ));
                }
                (algorithm, Some((done, value))) if done == algorithm => value,
                (algorithm, _) => {
                    return Check::NotApplicable(format!(
                        "the stored {algorithm} checksum was not computed in this pass"
                    ));
                }
            };
            // Compare decoded bytes so that padding or spelling differences cannot hide a match
            // or fake one; an undecodable stored value is reported as it was stored.
            match BASE64.decode(base64.trim()) {
                Ok(stored) if stored.as_slice() == actual => Check::Match,
                _ => Check::Mismatch {
                    expected: base64.clone(),
                    actual: BASE64.encode(actual),
                },
            }
        }
    }
}

/// The value computed for the stored checksum's algorithm, base64 as S3 shows it.
pub(crate) fn computed_checksum(
    plan: &CrossCheck,
    digests: &super::Digests,
) -> Option<(String, String)> {
    let CrossCheck::StoredChecksum { algorithm } = plan else {
        return None;
    };
    let value = match &digests.checksum {
        Some((_, value)) => value.as_slice(),
        None if algorithm == "SHA256" => digests.sha256.as_slice(),
        None => return None,
    };
    Some((
        algorithm.clone(),
        base64::engine::general_purpose::STANDARD.encode(value),
    ))
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
            checksum: None,
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
        assert_eq!(checksum_check(Some(&stored), &sha, None), Check::Match);

        let other: [u8; 32] = Sha256::digest(b"abd").into();
        assert!(checksum_check(Some(&stored), &other, None).is_mismatch());

        let garbage = StoredChecksum::FullObject {
            algorithm: "sha-256".into(),
            base64: "not base64!".into(),
        };
        assert!(checksum_check(Some(&garbage), &sha, None).is_mismatch());
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
            matches!(checksum_check(Some(&composite), &sha, None), Check::NotApplicable(r) if r.contains("composite"))
        );
        let crc = StoredChecksum::FullObject {
            algorithm: "CRC64NVME".into(),
            base64: "AAAAAAAAAAA=".into(),
        };
        assert!(matches!(
            checksum_check(Some(&crc), &sha, None),
            Check::NotApplicable(_)
        ));
        assert!(matches!(
            checksum_check(None, &sha, None),
            Check::NotApplicable(_)
        ));
    }

    #[test]
    fn a_stored_crc_is_compared_with_the_value_computed_in_the_pass() {
        let sha: [u8; 32] = Sha256::digest(b"abc").into();
        let crc = crate::digest::stored_checksum_of(&ChecksumAlgorithm::Crc64Nvme, b"abc").unwrap();
        let stored = StoredChecksum::FullObject {
            algorithm: ChecksumAlgorithm::Crc64Nvme,
            base64: BASE64.encode(&crc),
        };
        let computed = (ChecksumAlgorithm::Crc64Nvme, crc.clone());
        assert_eq!(
            checksum_check(Some(&stored), &sha, Some(&computed)),
            Check::Match
        );
        let other =
            crate::digest::stored_checksum_of(&ChecksumAlgorithm::Crc64Nvme, b"abd").unwrap();
        assert!(
            checksum_check(
                Some(&stored),
                &sha,
                Some(&(ChecksumAlgorithm::Crc64Nvme, other))
            )
            .is_mismatch()
        );
        // A value of another algorithm is never compared with it.
        let crc32 = (ChecksumAlgorithm::Crc32, crc[..4].to_vec());
        assert!(matches!(
            checksum_check(Some(&stored), &sha, Some(&crc32)),
            Check::NotApplicable(_)
        ));
        let unknown = StoredChecksum::FullObject {
            algorithm: "XXHASH3".into(),
            base64: "AAAA".into(),
        };
        assert!(matches!(
            checksum_check(Some(&unknown), &sha, Some(&computed)),
            Check::NotApplicable(r) if r.contains("XXHASH3")
        ));
    }

    #[test]
    fn the_plan_prefers_a_stored_checksum_then_the_etag_and_says_why_when_neither() {
        let mut h = head("900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(cross_check_plan(&h, true), CrossCheck::EtagMd5);
        assert!(
            matches!(cross_check_plan(&h, false), CrossCheck::NotComparable(r) if r.contains("turned off"))
        );
        h.checksum = Some(StoredChecksum::FullObject {
            algorithm: ChecksumAlgorithm::Crc32c,
            base64: "AAAAAA==".into(),
        });
        assert_eq!(
            cross_check_plan(&h, true),
            CrossCheck::StoredChecksum {
                algorithm: "CRC32C".into()
            }
        );
        h.etag = "9b2cf535f27731c974343645a3985328-3".into();
        h.checksum = Some(StoredChecksum::Composite {
            algorithm: ChecksumAlgorithm::Sha256,
            base64: "AAAA".into(),
            parts: 3,
        });
        assert!(matches!(
            cross_check_plan(&h, true),
            CrossCheck::NotComparable(r) if r.contains("composite over 3 parts") && r.contains("multipart")
        ));
        h.checksum = Some(StoredChecksum::FullObject {
            algorithm: "XXHASH3".into(),
            base64: "AAAA".into(),
        });
        assert!(
            matches!(cross_check_plan(&h, true), CrossCheck::NotComparable(r) if r.contains("XXHASH3"))
        );
    }
}
