//! Computing, in the same pass as SHA-256, the checksum algorithm S3 stored with an object, so
//! that the content can be compared with a value written when the object was uploaded (see
//! [`crate::store::ChecksumAlgorithm`] for the algorithms and their wire form).
//!
//! CRCs use `crc-fast` (carry-less multiplication, many GB/s: a few percent of a SHA-256 pass);
//! SHA-1 uses RustCrypto's `sha1`. SHA-256 itself is the pass's own digest and is not computed
//! twice.

use crc_fast::{CrcAlgorithm, Digest as CrcDigest};
use sha1::Digest as _;

use crate::store::ChecksumAlgorithm;

/// A running checksum of one of S3's algorithms other than SHA-256.
#[derive(Clone)]
pub(crate) enum StoredAlgorithmHasher {
    Crc(ChecksumAlgorithm, Box<CrcDigest>),
    Sha1(sha1::Sha1),
}

impl StoredAlgorithmHasher {
    /// A hasher for `algorithm`, or `None` when the pass already computes it (SHA-256) or the
    /// algorithm is unknown.
    pub fn new(algorithm: &ChecksumAlgorithm) -> Option<Self> {
        let crc = |kind| {
            Some(StoredAlgorithmHasher::Crc(
                algorithm.clone(),
                Box::new(CrcDigest::new(kind)),
            ))
        };
        match algorithm {
            ChecksumAlgorithm::Crc64Nvme => crc(CrcAlgorithm::Crc64Nvme),
            ChecksumAlgorithm::Crc32 => crc(CrcAlgorithm::Crc32IsoHdlc),
            ChecksumAlgorithm::Crc32c => crc(CrcAlgorithm::Crc32Iscsi),
            ChecksumAlgorithm::Sha1 => Some(StoredAlgorithmHasher::Sha1(sha1::Sha1::new())),
            ChecksumAlgorithm::Sha256 | ChecksumAlgorithm::Other(_) => None,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            StoredAlgorithmHasher::Crc(_, digest) => digest.update(data),
            StoredAlgorithmHasher::Sha1(sha1) => sha1.update(data),
        }
    }

    /// The algorithm and its value as S3 encodes it before base64 (CRCs big-endian, at their
    /// width).
    pub fn finish(self) -> (ChecksumAlgorithm, Vec<u8>) {
        match self {
            StoredAlgorithmHasher::Crc(algorithm, digest) => {
                let value = digest.finalize();
                let bytes = if algorithm == ChecksumAlgorithm::Crc64Nvme {
                    value.to_be_bytes().to_vec()
                } else {
                    (value as u32).to_be_bytes().to_vec()
                };
                (algorithm, bytes)
            }
            StoredAlgorithmHasher::Sha1(sha1) => {
                (ChecksumAlgorithm::Sha1, sha1.finalize().to_vec())
            }
        }
    }
}

/// The value of `algorithm` over `data` in one call (for stores that compute it at write time).
pub fn stored_checksum_of(algorithm: &ChecksumAlgorithm, data: &[u8]) -> Option<Vec<u8>> {
    if *algorithm == ChecksumAlgorithm::Sha256 {
        use sha2::Digest as _;
        return Some(sha2::Sha256::digest(data).to_vec());
    }
    let mut hasher = StoredAlgorithmHasher::new(algorithm)?;
    hasher.update(data);
    Some(hasher.finish().1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as BASE64;

    /// S3's documented values for the body `Hello World` are not published per algorithm, so
    /// the check values of the CRC catalogue (input `123456789`) pin each polynomial, and the
    /// SHA-1 test vector of FIPS 180 pins SHA-1.
    #[test]
    fn known_answers_for_every_algorithm() {
        let check = |algorithm: ChecksumAlgorithm, input: &[u8]| {
            hex::encode(stored_checksum_of(&algorithm, input).unwrap())
        };
        assert_eq!(check(ChecksumAlgorithm::Crc32, b"123456789"), "cbf43926");
        assert_eq!(check(ChecksumAlgorithm::Crc32c, b"123456789"), "e3069283");
        assert_eq!(
            check(ChecksumAlgorithm::Crc64Nvme, b"123456789"),
            "ae8b14860a799888"
        );
        assert_eq!(
            check(ChecksumAlgorithm::Sha1, b"abc"),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            check(ChecksumAlgorithm::Sha256, b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(stored_checksum_of(&ChecksumAlgorithm::Other("X".into()), b"").is_none());
        // The empty body's CRC64NVME as S3 reports it for a zero-byte object.
        assert_eq!(
            BASE64.encode(stored_checksum_of(&ChecksumAlgorithm::Crc64Nvme, b"").unwrap()),
            "AAAAAAAAAAA="
        );
    }

    #[test]
    fn feeding_in_pieces_changes_nothing() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 13 % 251) as u8).collect();
        for algorithm in ChecksumAlgorithm::KNOWN {
            let Some(mut hasher) = StoredAlgorithmHasher::new(&algorithm) else {
                continue;
            };
            for piece in data.chunks(777) {
                hasher.update(piece);
            }
            assert_eq!(
                Some(hasher.finish().1),
                stored_checksum_of(&algorithm, &data),
                "{algorithm}"
            );
        }
    }
}
