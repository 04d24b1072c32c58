//! One pass over the bytes of an object: SHA-256 always; the checksum algorithm S3 stored with
//! the object (CRC64NVME, CRC32, CRC32C, SHA-1) when one is stored; MD5 when the ETag is the only
//! value to check against.

use super::md5::Md5;
use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::checksum::StoredAlgorithmHasher;
use super::multipart::PartedHasher;
use crate::store::ChecksumAlgorithm;

/// Below this many bytes MD5 runs on the same thread as SHA-256: handing it to another thread
/// would cost more than it saves.
const PARALLEL_MD5_MIN_BYTES: usize = 1 << 20;

/// SHA-256 (and optionally MD5) of a byte stream fed in order.
#[derive(Clone)]
pub struct StreamingDigest {
    sha256: Sha256,
    md5: Option<Md5>,
    stored: Option<StoredAlgorithmHasher>,
    /// Per-part values for a multipart ETag or a composite checksum.
    parted: Option<PartedHasher>,
    size: u64,
}

/// The finished digests of one byte stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    pub size: u64,
    pub sha256: [u8; 32],
    pub md5: Option<[u8; 16]>,
    /// The stored-checksum algorithm computed in the same pass, and its value (raw bytes, as S3
    /// encodes them before base64).
    pub checksum: Option<(ChecksumAlgorithm, Vec<u8>)>,
    /// The multipart ETag's MD5 or the composite checksum (raw bytes, without `-N`), when the
    /// part sizes were known; `None` also when the bytes did not fill the parts.
    pub parted: Option<Vec<u8>>,
}

impl Digests {
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }

    pub fn md5_hex(&self) -> Option<String> {
        self.md5.map(hex::encode)
    }
}

impl StreamingDigest {
    pub fn new(with_md5: bool) -> Self {
        StreamingDigest {
            sha256: Sha256::new(),
            md5: with_md5.then(Md5::new),
            stored: None,
            parted: None,
            size: 0,
        }
    }

    /// Also computes a multipart ETag or a composite checksum over parts of known sizes.
    pub(crate) fn with_parts(mut self, parted: PartedHasher) -> Self {
        self.parted = Some(parted);
        self
    }

    /// Also computes `algorithm` (one of the checksums S3 stores) in the same pass. SHA-256 is
    /// the pass's own digest and unknown algorithms cannot be computed: both leave it unchanged.
    pub fn with_stored_checksum(mut self, algorithm: &ChecksumAlgorithm) -> Self {
        self.stored = StoredAlgorithmHasher::new(algorithm);
        self
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn update(&mut self, data: &[u8]) {
        self.sha256.update(data);
        if let Some(md5) = &mut self.md5 {
            md5.update(data);
        }
        if let Some(stored) = &mut self.stored {
            stored.update(data);
        }
        if let Some(parted) = &mut self.parted {
            parted.update(data);
        }
        self.size += data.len() as u64;
    }

    /// Feeds consecutive chunks. With MD5 on and enough bytes, MD5 (and the stored checksum)
    /// run on a second rayon thread while SHA-256 runs on this one (MD5 is about half as fast as
    /// SHA-NI SHA-256, so one thread doing both would halve the throughput).
    /// A multipart ETag's per-part MD5 (or a composite SHA-1/SHA-256) takes the second thread
    /// the same way.
    pub fn update_chunks(&mut self, chunks: &[Bytes]) {
        let total: usize = chunks.iter().map(Bytes::len).sum();
        let costly_second = self.md5.is_some()
            || self.parted.as_ref().is_some_and(|p| {
                !matches!(
                    p.algorithm(),
                    super::multipart::PartAlgorithm::Checksum(
                        ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c
                    )
                )
            });
        if !costly_second || total < PARALLEL_MD5_MIN_BYTES {
            chunks.iter().for_each(|chunk| self.update(chunk));
            return;
        }
        let sha256 = &mut self.sha256;
        let (md5, stored, parted) = (&mut self.md5, &mut self.stored, &mut self.parted);
        rayon::join(
            || chunks.iter().for_each(|chunk| sha256.update(chunk)),
            || {
                for chunk in chunks {
                    if let Some(md5) = md5.as_mut() {
                        md5.update(chunk);
                    }
                    if let Some(stored) = stored.as_mut() {
                        stored.update(chunk);
                    }
                    if let Some(parted) = parted.as_mut() {
                        parted.update(chunk);
                    }
                }
            },
        );
        self.size += total as u64;
    }

    pub fn finish(self) -> Digests {
        Digests {
            size: self.size,
            sha256: self.sha256.finalize().into(),
            md5: self.md5.map(|md5| md5.finalize()),
            checksum: self.stored.map(StoredAlgorithmHasher::finish),
            parted: self.parted.and_then(PartedHasher::finish),
        }
    }
}

/// SHA-256 of a byte slice, as lower-case hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABC_SHA256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    const ABC_MD5: &str = "900150983cd24fb0d6963f7d28e17f72";

    #[test]
    fn known_answers() {
        let mut digest = StreamingDigest::new(true);
        digest.update(b"abc");
        let done = digest.finish();
        assert_eq!(done.sha256_hex(), ABC_SHA256);
        assert_eq!(done.md5_hex().as_deref(), Some(ABC_MD5));
        assert_eq!(done.size, 3);
        assert_eq!(sha256_hex(b"abc"), ABC_SHA256);
    }

    #[test]
    fn without_md5_there_is_no_md5() {
        let mut digest = StreamingDigest::new(false);
        digest.update(b"abc");
        assert_eq!(digest.finish().md5, None);
    }

    #[test]
    fn chunking_does_not_change_the_digest_on_either_path() {
        let data: Vec<u8> = (0..3_000_001u32).map(|i| (i * 7 + i / 13) as u8).collect();
        let mut whole = StreamingDigest::new(true);
        whole.update(&data);
        let whole = whole.finish();

        for split in [1usize, 4096, 1 << 20, 1_234_567] {
            let chunks: Vec<Bytes> = data.chunks(split).map(Bytes::copy_from_slice).collect();
            let mut parts = StreamingDigest::new(true);
            // Large groups take the parallel MD5 path, small ones the serial one.
            for group in chunks.chunks(3) {
                parts.update_chunks(group);
            }
            assert_eq!(parts.finish(), whole, "split {split}");
        }
    }
}
