//! Multipart ETags and composite checksums, recomputed in the hash pass once the size of every
//! part is known (S3 User Guide, "Checking object integrity": multipart ETags and composite
//! checksums).
//!
//! ```text
//! ETag: "<hex MD5(MD5(part 1) || ... || MD5(part N))>-N"
//! x-amz-checksum-crc32: <base64 CRC32(CRC32(part 1) || ... || CRC32(part N))>-N
//! x-amz-checksum-type: COMPOSITE                  (also CRC32C, SHA1, SHA256; never CRC64NVME)
//! ```
//!
//! Both depend on where the parts end, which the content does not say. The part sizes come from
//! the store (S3: `HEAD ?partNumber=n` answers part n's `Content-Length` and the object's
//! `x-amz-mp-parts-count`), one HEAD per part, only for objects with no full-object checksum;
//! equal parts with a shorter last part (what the SDKs and the CLI upload) and any other layout
//! alike. When the sizes cannot be told (a store without part HEADs, sizes that do not add up to
//! the object) the object stays `not comparable`, never a guessed mismatch.

use super::md5::Md5;
use sha2::{Digest, Sha256};

use super::check::{Check, CrossCheck};
use super::checksum::StoredAlgorithmHasher;
use super::engine::DigestEngine;
use super::fetch::Pinned;
use crate::store::{ChecksumAlgorithm, ObjectHead, StoredChecksum};

/// What is computed per part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PartAlgorithm {
    /// MD5 per part, for the multipart ETag.
    Md5,
    /// The composite checksum's algorithm (CRC32, CRC32C, SHA-1, SHA-256).
    Checksum(ChecksumAlgorithm),
}

/// A multipart value this object has, and how many parts it says it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Wanted {
    pub algorithm: PartAlgorithm,
    pub parts: u32,
}

impl Wanted {
    pub fn cross_check(&self) -> CrossCheck {
        match &self.algorithm {
            PartAlgorithm::Md5 => CrossCheck::MultipartEtag { parts: self.parts },
            PartAlgorithm::Checksum(algorithm) => CrossCheck::CompositeChecksum {
                algorithm: algorithm.name().to_string(),
                parts: self.parts,
            },
        }
    }
}

/// The multipart value worth recomputing for `head`: a composite checksum of an algorithm this
/// code computes (cheaper than MD5 for CRCs), else a multipart ETag (not SSE-KMS, MD5 check on).
pub(crate) fn wanted(head: &ObjectHead, verify_etag_md5: bool) -> Option<Wanted> {
    if let Some(StoredChecksum::Composite {
        algorithm, parts, ..
    }) = head.checksum.as_ref().or(head.checksum_sha256.as_ref())
        && matches!(
            algorithm,
            ChecksumAlgorithm::Crc32
                | ChecksumAlgorithm::Crc32c
                | ChecksumAlgorithm::Sha1
                | ChecksumAlgorithm::Sha256
        )
    {
        let parts = Some(*parts)
            .filter(|n| *n > 0)
            .or(head.parts_count)
            .filter(|n| *n > 0)?;
        return Some(Wanted {
            algorithm: PartAlgorithm::Checksum(algorithm.clone()),
            parts,
        });
    }
    let parts = etag_parts(&head.etag)?;
    let kms = head.encryption.as_ref().is_some_and(|e| e.is_kms());
    (verify_etag_md5 && !kms).then_some(Wanted {
        algorithm: PartAlgorithm::Md5,
        parts,
    })
}

/// `N` of a multipart ETag `<32 hex>-N`.
pub(crate) fn etag_parts(etag: &str) -> Option<u32> {
    let (md5, parts) = etag.trim_matches('"').split_once('-')?;
    let parts: u32 = parts.parse().ok()?;
    (md5.len() == 32 && md5.bytes().all(|b| b.is_ascii_hexdigit()) && parts > 0).then_some(parts)
}

#[derive(Clone)]
enum Running {
    Md5(Md5),
    Sha256(Sha256),
    Other(StoredAlgorithmHasher),
}

impl Running {
    fn new(algorithm: &PartAlgorithm) -> Running {
        match algorithm {
            PartAlgorithm::Md5 => Running::Md5(Md5::new()),
            PartAlgorithm::Checksum(ChecksumAlgorithm::Sha256) => Running::Sha256(Sha256::new()),
            PartAlgorithm::Checksum(other) => Running::Other(
                StoredAlgorithmHasher::new(other).expect("wanted() admits computable algorithms"),
            ),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Running::Md5(md5) => md5.update(data),
            Running::Sha256(sha) => sha.update(data),
            Running::Other(other) => other.update(data),
        }
    }

    fn finish(self) -> Vec<u8> {
        match self {
            Running::Md5(md5) => md5.finalize().to_vec(),
            Running::Sha256(sha) => sha.finalize().to_vec(),
            Running::Other(other) => other.finish().1,
        }
    }
}

/// One value per part over a byte stream cut at the known part sizes, then the value over the
/// concatenated part values (16 to 32 bytes kept per part).
#[derive(Clone)]
pub(crate) struct PartedHasher {
    algorithm: PartAlgorithm,
    sizes: Vec<u64>,
    /// Index of the part being hashed.
    part: usize,
    left_in_part: u64,
    running: Running,
    values: Vec<u8>,
    /// More bytes arrived than the parts hold.
    overflow: bool,
}

impl PartedHasher {
    pub fn new(algorithm: PartAlgorithm, sizes: Vec<u64>) -> PartedHasher {
        PartedHasher {
            running: Running::new(&algorithm),
            left_in_part: sizes.first().copied().unwrap_or(0),
            algorithm,
            sizes,
            part: 0,
            values: Vec::new(),
            overflow: false,
        }
    }

    pub fn algorithm(&self) -> &PartAlgorithm {
        &self.algorithm
    }

    pub fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.left_in_part == 0 && !self.close_part() {
                self.overflow = true;
                return;
            }
            let take = self.left_in_part.min(data.len() as u64) as usize;
            self.running.update(&data[..take]);
            self.left_in_part -= take as u64;
            data = &data[take..];
        }
    }

    /// Ends the current part and starts the next; `false` when there is no next part.
    fn close_part(&mut self) -> bool {
        let running = std::mem::replace(&mut self.running, Running::new(&self.algorithm));
        self.values.extend(running.finish());
        self.part += 1;
        match self.sizes.get(self.part) {
            Some(size) => {
                self.left_in_part = *size;
                true
            }
            None => false,
        }
    }

    /// The value over the concatenated part values, or `None` when the bytes did not fill the
    /// parts exactly.
    pub fn finish(mut self) -> Option<Vec<u8>> {
        if self.overflow || self.sizes.is_empty() {
            return None;
        }
        while self.part + 1 < self.sizes.len() {
            if self.left_in_part != 0 {
                return None;
            }
            self.close_part();
        }
        if self.left_in_part != 0 {
            return None;
        }
        let last = std::mem::replace(&mut self.running, Running::new(&self.algorithm));
        self.values.extend(last.finish());
        let mut whole = Running::new(&self.algorithm);
        whole.update(&self.values);
        Some(whole.finish())
    }
}

/// The multipart ETag against the value computed from the parts.
pub(crate) fn multipart_etag_check(
    head: &ObjectHead,
    parts: u32,
    computed: Option<&[u8]>,
) -> Check {
    match computed {
        Some(value) => {
            let expected = head.etag.trim_matches('"').to_ascii_lowercase();
            let actual = format!("{}-{parts}", hex::encode(value));
            if expected == actual {
                Check::Match
            } else {
                Check::Mismatch { expected, actual }
            }
        }
        None => Check::NotApplicable("the bytes read did not fill the parts".to_string()),
    }
}

/// The composite checksum against the value computed from the parts (decoded bytes compared).
pub(crate) fn composite_check(head: &ObjectHead, computed: Option<&[u8]>) -> Check {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as BASE64;
    let Some(StoredChecksum::Composite { base64, parts, .. }) =
        head.checksum.as_ref().or(head.checksum_sha256.as_ref())
    else {
        return Check::NotApplicable("no composite checksum is stored".to_string());
    };
    let Some(value) = computed else {
        return Check::NotApplicable("the bytes read did not fill the parts".to_string());
    };
    match BASE64.decode(base64.trim()) {
        Ok(stored) if stored == value => Check::Match,
        _ => Check::Mismatch {
            expected: format!("{base64}-{parts}"),
            actual: format!("{}-{parts}", BASE64.encode(value)),
        },
    }
}

impl DigestEngine {
    /// The multipart cross-check for `pinned` once the store told every part's size, else
    /// `not comparable` with `why` and the reason the sizes are unknown.
    pub(super) async fn multipart_plan(
        &self,
        pinned: &Pinned,
        wanted: Wanted,
        why: &str,
    ) -> (CrossCheck, Option<PartedHasher>) {
        let not = |reason: String| (CrossCheck::NotComparable(format!("{why}; {reason}")), None);
        let answer = self
            .inner
            .store
            .part_sizes(
                &pinned.key,
                pinned.version_id.as_deref(),
                &pinned.etag,
                wanted.parts,
            )
            .await;
        match answer {
            Ok(Some(sizes)) => {
                let sum: u64 = sizes.iter().sum();
                if sizes.len() == wanted.parts as usize && sum == pinned.size {
                    let check = wanted.cross_check();
                    (check, Some(PartedHasher::new(wanted.algorithm, sizes)))
                } else {
                    not(format!(
                        "the store told {} part sizes adding up to {sum} bytes, for {} parts \
                         of {} bytes",
                        sizes.len(),
                        wanted.parts,
                        pinned.size
                    ))
                }
            }
            Ok(None) => not("the store cannot tell the part sizes".to_string()),
            Err(error) => not(format!("the part sizes could not be read: {error}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md5(data: &[u8]) -> Vec<u8> {
        Md5::digest(data).to_vec()
    }

    #[test]
    fn a_multipart_etag_is_the_md5_of_the_part_md5s_whatever_the_chunking() {
        let data: Vec<u8> = (0..25_000u32).map(|i| (i * 7 % 253) as u8).collect();
        let sizes = vec![10_000, 10_000, 5_000];
        let mut expected_input = Vec::new();
        for range in [0..10_000, 10_000..20_000, 20_000..25_000] {
            expected_input.extend(md5(&data[range]));
        }
        let expected = md5(&expected_input);
        for chunk in [1, 999, 10_000, 25_000] {
            let mut hasher = PartedHasher::new(PartAlgorithm::Md5, sizes.clone());
            for piece in data.chunks(chunk) {
                hasher.update(piece);
            }
            assert_eq!(hasher.finish(), Some(expected.clone()), "chunk {chunk}");
        }
        // Too few or too many bytes: no value rather than a wrong one.
        let mut short = PartedHasher::new(PartAlgorithm::Md5, sizes.clone());
        short.update(&data[..24_999]);
        assert_eq!(short.finish(), None);
        let mut long = PartedHasher::new(PartAlgorithm::Md5, sizes);
        long.update(&data);
        long.update(b"x");
        assert_eq!(long.finish(), None);
    }

    #[test]
    fn a_composite_crc32_is_the_crc32_of_the_big_endian_part_crcs() {
        let data = b"hello world, in three unequal parts";
        let sizes = vec![5, 20, data.len() as u64 - 25];
        let part = |r: std::ops::Range<usize>| {
            crate::digest::stored_checksum_of(&ChecksumAlgorithm::Crc32, &data[r]).unwrap()
        };
        let mut input = part(0..5);
        input.extend(part(5..25));
        input.extend(part(25..data.len()));
        let expected =
            crate::digest::stored_checksum_of(&ChecksumAlgorithm::Crc32, &input).unwrap();
        let mut hasher =
            PartedHasher::new(PartAlgorithm::Checksum(ChecksumAlgorithm::Crc32), sizes);
        hasher.update(data);
        assert_eq!(hasher.finish(), Some(expected));
    }

    #[test]
    fn etag_parts_reads_only_multipart_etags() {
        assert_eq!(
            etag_parts("\"0123456789abcdef0123456789abcdef-12\""),
            Some(12)
        );
        assert_eq!(etag_parts("0123456789abcdef0123456789abcdef"), None);
        assert_eq!(etag_parts("xyz-3"), None);
        assert_eq!(etag_parts("0123456789abcdef0123456789abcdef-0"), None);
    }
}
