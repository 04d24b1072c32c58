//! The engine's own logic (pinning, resume, retries, budget, batch isolation) against a small
//! in-memory store with injected faults. S3 behaviour itself is tested in `tests/tests/digest_*.rs`
//! against a real server.

//! The engine's own logic (pinning, resume, retries, budget, batch isolation) against the
//! in-memory store behind the fault-injecting wrapper. S3 behaviour itself is tested in
//! `tests/tests/digest_*.rs` against a real server.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::store::faulty::{BodyShape, Fault, FaultyStore, GetCall, Rule};
use crate::store::memory::MemoryStore;
use crate::store::*;

/// A versioned in-memory bucket behind a fault-injecting wrapper that serves bodies in chunks of
/// `chunk` bytes (and, with `pause`, at a network's pace).
struct Harness {
    memory: Arc<MemoryStore>,
    store: Arc<FaultyStore>,
}

impl Harness {
    fn new(chunk: usize) -> Self {
        Self::shaped(BodyShape { chunk, pause: None })
    }

    fn shaped(shape: BodyShape) -> Self {
        let memory = Arc::new(MemoryStore::new(
            "memory",
            BucketSpec {
                versioned: true,
                object_lock: false,
            },
        ));
        let store = Arc::new(FaultyStore::new(memory.clone()).with_body_shape(shape));
        Harness { memory, store }
    }

    async fn put_version(&self, key: &str, body: Vec<u8>) -> String {
        match self.memory.put(PutRequest::new(key, body)).await.unwrap() {
            PutOutcome::Created {
                version_id: Some(v),
                ..
            } => v,
            other => panic!("a versioned put answered {other:?}"),
        }
    }

    fn inject(&self, rule: Rule) {
        self.store.inject(rule);
    }

    fn gets(&self) -> Vec<GetCall> {
        self.store.gets()
    }

    async fn head(&self, key: &str) -> ObjectHead {
        self.memory.head(key, None).await.unwrap()
    }
}

/// `times` transient refusals (503 SlowDown) of every call on `key`, HEAD and GET alike.
fn slow_down(key: &str, times: u32) -> Rule {
    Rule {
        action: None,
        key_prefix: Some(key.to_string()),
        times,
        fault: Fault::Refuse(StoreErrorKind::Transient, "SlowDown"),
    }
}

/// Cuts the next GET of `key` covering `offset` there (a connection reset mid-body).
fn cut(key: &str, offset: u64) -> Rule {
    Rule::on("GetObject", 1, Fault::CutBodyAt(offset)).for_keys(key)
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 9) as u8)
        .collect()
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    }
}

fn options(part_size: u64) -> HashOptions {
    HashOptions {
        part_size,
        part_concurrency: 3,
        object_concurrency: 4,
        memory_budget: part_size * 4,
        verify_etag_md5: true,
        retry: fast_retries(),
    }
}

fn engine(harness: &Harness, options: HashOptions) -> DigestEngine {
    DigestEngine::new(harness.store.clone(), options)
}

#[tokio::test]
async fn multipart_read_hashes_the_whole_object_in_order() {
    let store = Harness::new(1000);
    let body = data(1_000_003, 1);
    let version = store.put_version("big", body.clone()).await;
    let digest = engine(&store, options(64 * 1024))
        .hash_version("big", None)
        .await
        .unwrap();
    assert_eq!(digest.sha256_hex, sha256_hex(&body));
    assert_eq!(digest.version_id.as_deref(), Some(version.as_str()));
    assert_eq!(digest.size, body.len() as u64);
    assert_eq!(
        digest.cross_check,
        CrossCheck::StoredChecksum {
            algorithm: "CRC64NVME".into()
        }
    );
    assert_eq!(digest.checksum_check, Check::Match);
    assert!(!digest.has_mismatch());
    let gets = store.gets();
    assert_eq!(gets.len(), 1_000_003usize.div_ceil(64 * 1024));
    assert!(
        gets.iter()
            .all(|g| g.version.as_deref() == Some(version.as_str()) && g.range.is_some())
    );
}

#[tokio::test]
async fn empty_and_small_objects_are_one_plain_get() {
    let store = Harness::new(7);
    store.put_version("empty", Vec::new()).await;
    store.put_version("small", data(100, 2)).await;
    let engine = engine(&store, options(1024));
    let empty = engine.hash_version("empty", None).await.unwrap();
    assert_eq!(
        empty.sha256_hex,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    let small = engine.hash_version("small", None).await.unwrap();
    assert_eq!(small.sha256_hex, sha256_hex(&data(100, 2)));
    assert!(store.gets().iter().all(|g| g.range.is_none()));
}

#[tokio::test]
async fn a_broken_body_resumes_from_its_offset_at_the_same_version() {
    let store = Harness::new(4096);
    let v1 = data(300_000, 3);
    let version = store.put_version("k", v1.clone()).await;
    // The first part breaks twice (at 5000, then at 5100 in the resumed GET), the third once.
    for offset in [5000, 5100, 250_000] {
        store.inject(cut("k", offset));
    }
    let digest = engine(&store, options(100_000))
        .hash_version("k", None)
        .await
        .unwrap();
    assert_eq!(digest.sha256_hex, sha256_hex(&v1));
    assert_eq!(digest.retries, 3);
    let gets = store.gets();
    assert!(
        gets.iter()
            .all(|g| g.version.as_deref() == Some(version.as_str()))
    );
    // The resumed GETs start where the broken ones stopped.
    let firsts_ending_at = |last: u64| {
        gets.iter()
            .filter_map(|g| g.range.filter(|r| r.last == last).map(|r| r.first))
            .collect::<Vec<_>>()
    };
    let first_part = firsts_ending_at(99_999);
    assert_eq!(first_part, [0, 5000, 5100]);
    let third_part = firsts_ending_at(299_999);
    assert_eq!(third_part, [200_000, 250_000]);

    // A single whole-object GET resumes with a range.
    let store = Harness::new(1000);
    store.put_version("w", v1.clone()).await;
    store.inject(cut("w", 12_345));
    let digest = engine(&store, options(1 << 20))
        .hash_version("w", None)
        .await
        .unwrap();
    assert_eq!(digest.sha256_hex, sha256_hex(&v1));
    let ranges: Vec<Option<ByteRange>> = store.gets().into_iter().map(|g| g.range).collect();
    assert_eq!(
        ranges,
        [
            None,
            Some(ByteRange {
                first: 12_345,
                last: 299_999
            })
        ]
    );
}

#[tokio::test]
async fn a_body_that_fails_after_its_last_byte_is_complete_and_asks_for_nothing_more() {
    let (store, body) = (Harness::new(1000), data(9_000, 4));
    store.put_version("tail", body.clone()).await;
    store.inject(cut("tail", 9_000));
    let digest = engine(&store, options(1 << 20))
        .hash_version("tail", None)
        .await;
    assert_eq!(digest.unwrap().sha256_hex, sha256_hex(&body));
    // One GET: no zero-length range (a server answers 416 to `bytes=9000-8999`).
    let ranges: Vec<Option<ByteRange>> = store.gets().into_iter().map(|g| g.range).collect();
    assert_eq!(ranges, [None]);
}

#[tokio::test]
async fn a_newer_version_written_meanwhile_is_never_read() {
    let store = Harness::new(1000);
    let v1 = data(50_000, 4);
    let v1_id = store.put_version("k", v1.clone()).await;
    let engine = engine(&store, options(8192));
    let head = store.head("k").await;
    store.put_version("k", data(50_000, 5)).await;
    let digest = engine
        .hash_version("k", head.version_id.as_deref())
        .await
        .unwrap();
    assert_eq!(digest.sha256_hex, sha256_hex(&v1));
    assert!(
        store
            .gets()
            .iter()
            .all(|g| g.version.as_deref() == Some(v1_id.as_str()))
    );
}

#[tokio::test]
async fn a_body_of_another_version_or_etag_is_refused() {
    let store = Harness::new(1000);
    store.put_version("k", data(10_000, 6)).await;
    store.inject(Rule::on(
        "GetObject",
        u32::MAX,
        Fault::ServeVersion(Some("v9".into())),
    ));
    let error = engine(&store, options(4096))
        .hash_version("k", None)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, DigestError::VersionChanged { served: Some(v), .. } if v == "v9"),
        "{error}"
    );
    assert!(error.to_string().contains("\"k\""));

    let store = Harness::new(1000);
    store.put_version("k", data(10_000, 6)).await;
    store.inject(Rule::on(
        "GetObject",
        u32::MAX,
        Fault::ServeEtag("0123".into()),
    ));
    let error = engine(&store, options(4096))
        .hash_version("k", None)
        .await
        .unwrap_err();
    assert!(
        matches!(error, DigestError::ContentChanged { .. }),
        "{error}"
    );

    let error = engine(&store, options(4096))
        .hash_version("k", Some("v7"))
        .await
        .unwrap_err();
    assert!(
        matches!(error.store_error(), Some(e) if e.kind == StoreErrorKind::NotFound),
        "{error}"
    );
}

#[tokio::test]
async fn transient_errors_are_retried_then_given_up() {
    let store = Harness::new(1000);
    let body = data(20_000, 7);
    store.put_version("k", body.clone()).await;
    store.inject(slow_down("k", 3));
    let digest = engine(&store, options(1 << 20))
        .hash_version("k", None)
        .await
        .unwrap();
    assert_eq!(digest.sha256_hex, sha256_hex(&body));
    assert_eq!(digest.retries, 3);

    store.inject(slow_down("k", 100));
    let error = engine(&store, options(1 << 20))
        .hash_version("k", None)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, DigestError::Store { attempts: 4, source } if source.is_retryable()),
        "{error}"
    );
}

#[tokio::test]
async fn one_bad_item_never_stops_the_others_and_results_keep_item_order() {
    let store = Harness::new(512);
    let bodies: Vec<Vec<u8>> = (0..20).map(|i| data(1000 + i * 3000, i as u8)).collect();
    for (i, body) in bodies.iter().enumerate() {
        store.put_version(&format!("obj/{i}"), body.clone()).await;
    }
    store.inject(
        Rule::on(
            "GetObject",
            u32::MAX,
            Fault::Refuse(StoreErrorKind::AccessDenied, "AccessDenied"),
        )
        .for_keys("obj/5"),
    );
    let mut items: Vec<HashItem> = (0..20)
        .map(|i| HashItem::from(format!("obj/{i}")))
        .collect();
    items.insert(10, HashItem::from("missing"));
    let results = engine(&store, options(16 * 1024)).hash_many(items).await;
    assert_eq!(results.len(), 21);
    for (i, result) in results.iter().enumerate() {
        match i {
            5 => assert!(matches!(result, Err(e) if e.key() == "obj/5"
                    && e.store_error().unwrap().kind == StoreErrorKind::AccessDenied)),
            10 => assert!(matches!(result, Err(e) if e.key() == "missing")),
            _ => {
                let n = if i < 10 { i } else { i - 1 };
                let digest = result.as_ref().unwrap();
                assert_eq!(digest.key, format!("obj/{n}"));
                assert_eq!(digest.sha256_hex, sha256_hex(&bodies[n]));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn buffered_bytes_stay_within_the_budget() {
    let store = Harness::shaped(BodyShape {
        chunk: 1024,
        pause: Some(Duration::from_micros(200)),
    });
    for i in 0..6 {
        store
            .put_version(&format!("o{i}"), data(12 * 16 * 1024, i))
            .await;
    }
    let part = 16 * 1024;
    let budget_parts = 3;
    let options = HashOptions {
        part_size: part,
        part_concurrency: 8,
        object_concurrency: 6,
        memory_budget: part * budget_parts,
        verify_etag_md5: false,
        retry: fast_retries(),
    };
    let results = engine(&store, options)
        .hash_many((0..6).map(|i| HashItem::from(format!("o{i}"))))
        .await;
    assert!(results.iter().all(Result::is_ok));
    // Every open body holds a part's budget, so no more than the budget's parts are ever open.
    let max = store.store.max_open_bodies();
    assert!(max <= budget_parts as usize, "{max} bodies open at once");
    assert!(max >= 2, "parts were never fetched concurrently");
}

#[tokio::test]
async fn a_head_the_caller_made_pins_the_version_without_another_head() {
    let store = Harness::new(1000);
    let v1 = data(40_000, 9);
    let v1_id = store.put_version("k", v1.clone()).await;
    let head = store.head("k").await;
    store.put_version("k", data(40_000, 10)).await;
    let digest = engine(&store, options(1 << 20))
        .hash_head(head)
        .await
        .unwrap();
    assert_eq!(digest.version_id.as_deref(), Some(v1_id.as_str()));
    assert_eq!(digest.sha256_hex, sha256_hex(&v1));
    assert_eq!(digest.checksum_check, Check::Match);
    assert_eq!(store.gets().len(), 1);
}

fn stored(algorithm: ChecksumAlgorithm, body: &[u8]) -> StoredChecksum {
    use base64::Engine as _;
    StoredChecksum::FullObject {
        base64: base64::engine::general_purpose::STANDARD
            .encode(stored_checksum_of(&algorithm, body).unwrap()),
        algorithm,
    }
}

#[tokio::test]
async fn a_stored_full_object_checksum_is_the_cross_check_and_md5_is_not_computed() {
    for algorithm in ChecksumAlgorithm::KNOWN {
        for size in [100usize, 300_000] {
            let store = Harness::new(4096);
            let body = data(size, 11);
            store.put_version("k", body.clone()).await;
            store.inject(Rule::on(
                "HeadObject",
                u32::MAX,
                Fault::ServeChecksum(Some(stored(algorithm.clone(), &body))),
            ));
            let digest = engine(&store, options(64 * 1024))
                .hash_version("k", None)
                .await
                .unwrap();
            let context = format!("{algorithm} over {size} bytes");
            assert_eq!(
                digest.cross_check,
                CrossCheck::StoredChecksum {
                    algorithm: algorithm.name().into()
                },
                "{context}"
            );
            assert_eq!(digest.checksum_check, Check::Match, "{context}");
            assert_eq!(digest.md5_hex, None, "{context}: MD5 computed for nothing");
            assert!(
                matches!(&digest.etag_check, Check::NotApplicable(r) if r.contains("instead")),
                "{context}"
            );
            let (named, _) = digest.computed_checksum.clone().unwrap();
            assert_eq!(named, algorithm.name(), "{context}");
        }
    }
}

#[tokio::test]
async fn content_that_disagrees_with_its_stored_checksum_is_a_finding() {
    for algorithm in ChecksumAlgorithm::KNOWN {
        let store = Harness::new(4096);
        let body = data(200_000, 12);
        store.put_version("k", body.clone()).await;
        // What was stored at upload is the checksum of other bytes.
        let mut other = body.clone();
        other[123_456] ^= 1;
        store.inject(Rule::on(
            "HeadObject",
            u32::MAX,
            Fault::ServeChecksum(Some(stored(algorithm.clone(), &other))),
        ));
        let digest = engine(&store, options(64 * 1024))
            .hash_version("k", None)
            .await
            .unwrap();
        assert!(digest.checksum_check.is_mismatch(), "{algorithm}");
        assert!(digest.has_mismatch());
        let findings = digest.findings();
        assert_eq!(findings.len(), 1, "{algorithm}");
        assert!(findings[0].contains(algorithm.name()), "{}", findings[0]);
    }
}

#[tokio::test]
async fn without_a_full_object_checksum_the_etag_is_checked_as_md5() {
    let store = Harness::new(4096);
    let body = data(200_000, 13);
    store.put_version("k", body.clone()).await;
    store.inject(Rule::on("HeadObject", u32::MAX, Fault::ServeChecksum(None)));
    let digest = engine(&store, options(64 * 1024))
        .hash_version("k", None)
        .await
        .unwrap();
    assert_eq!(digest.cross_check, CrossCheck::EtagMd5);
    assert_eq!(digest.etag_check, Check::Match);
    assert!(digest.md5_hex.is_some());
}

#[test]
fn one_object_holds_at_most_half_the_budget_when_several_hash_at_once() {
    let mib = 1024 * 1024;
    let options = HashOptions::default();
    let per_object = super::engine::parts_in_flight(&options) as u64 * options.part_size;
    assert!(per_object * 2 <= options.memory_budget, "{per_object}");
    assert!(super::engine::parts_in_flight(&options) >= 2);
    let alone = HashOptions {
        object_concurrency: 1,
        part_size: 8 * mib,
        part_concurrency: 4,
        memory_budget: 32 * mib,
        ..HashOptions::default()
    };
    assert_eq!(super::engine::parts_in_flight(&alone), 4);
    let tight = HashOptions {
        part_size: 8 * mib,
        memory_budget: 8 * mib,
        ..HashOptions::default()
    };
    assert_eq!(super::engine::parts_in_flight(&tight), 1);
}
