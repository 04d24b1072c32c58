//! The checksum algorithms S3 stores with an object (S3 API reference, `Checksum`; S3 User Guide,
//! checking-object-integrity), as HEAD and GET with `x-amz-checksum-mode: ENABLED` report them:
//!
//! ```text
//! x-amz-checksum-crc64nvme: 7OD28wEc0pI=            (8 bytes, base64; S3's default since Dec 2024)
//! x-amz-checksum-crc32: 4uvt0Q==                    (4 bytes)
//! x-amz-checksum-crc32c: x9kvyA==                   (4 bytes)
//! x-amz-checksum-sha1: qZk+NkcGgWq6PiVxeFDCbJzQ2J0= (20 bytes)
//! x-amz-checksum-sha256: ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0= (32 bytes)
//! x-amz-checksum-type: FULL_OBJECT | COMPOSITE
//! ```
//!
//! A `FULL_OBJECT` value is the checksum of the whole content, whatever the upload; a `COMPOSITE`
//! one (multipart uploads, value suffixed `-N`) is the checksum of the concatenated part checksums.
//! CRC values are big-endian integers: CRC32 is the ISO-HDLC polynomial (zlib's), CRC32C the
//! Castagnoli (iSCSI) one, CRC64NVME the NVMe one.

use std::fmt;

/// One of the checksum algorithms S3 stores, or a name this code does not know (kept as given,
/// never compared).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ChecksumAlgorithm {
    Crc64Nvme,
    Crc32,
    Crc32c,
    Sha1,
    Sha256,
    Other(String),
}

impl ChecksumAlgorithm {
    /// The algorithms a HEAD can report, in S3's spelling.
    pub const KNOWN: [ChecksumAlgorithm; 5] = [
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32c,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ];

    /// S3's name: `CRC64NVME`, `CRC32`, `CRC32C`, `SHA1`, `SHA256`.
    pub fn name(&self) -> &str {
        match self {
            ChecksumAlgorithm::Crc64Nvme => "CRC64NVME",
            ChecksumAlgorithm::Crc32 => "CRC32",
            ChecksumAlgorithm::Crc32c => "CRC32C",
            ChecksumAlgorithm::Sha1 => "SHA1",
            ChecksumAlgorithm::Sha256 => "SHA256",
            ChecksumAlgorithm::Other(name) => name,
        }
    }

    /// Bytes of one value (before base64), `None` for an unknown algorithm.
    pub fn value_len(&self) -> Option<usize> {
        match self {
            ChecksumAlgorithm::Crc64Nvme => Some(8),
            ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c => Some(4),
            ChecksumAlgorithm::Sha1 => Some(20),
            ChecksumAlgorithm::Sha256 => Some(32),
            ChecksumAlgorithm::Other(_) => None,
        }
    }
}

impl From<&str> for ChecksumAlgorithm {
    /// Parses S3's names in any case, with or without a `-` (`sha-256`, `crc64nvme`).
    fn from(name: &str) -> Self {
        let normalized: String = name
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_uppercase();
        ChecksumAlgorithm::KNOWN
            .into_iter()
            .find(|known| known.name() == normalized)
            .unwrap_or_else(|| ChecksumAlgorithm::Other(name.to_string()))
    }
}

impl From<String> for ChecksumAlgorithm {
    fn from(name: String) -> Self {
        ChecksumAlgorithm::from(name.as_str())
    }
}

impl fmt::Display for ChecksumAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_in_any_spelling_and_unknown_ones_are_kept() {
        for known in ChecksumAlgorithm::KNOWN {
            assert_eq!(ChecksumAlgorithm::from(known.name()), known);
            assert_eq!(
                ChecksumAlgorithm::from(known.name().to_ascii_lowercase()),
                known
            );
        }
        assert_eq!(
            ChecksumAlgorithm::from("sha-256"),
            ChecksumAlgorithm::Sha256
        );
        assert_eq!(
            ChecksumAlgorithm::from("XXHASH64"),
            ChecksumAlgorithm::Other("XXHASH64".into())
        );
        assert_eq!(
            ChecksumAlgorithm::Other("XXHASH64".into()).value_len(),
            None
        );
    }
}
